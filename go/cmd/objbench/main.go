// objbench times nats.go's object store on one object: PutFile/GetFile from
// and to a local file, or Put/Get from and to memory. It prints one JSON line,
// {"op", "bytes", "seconds", "mibps", "cpuMillisPerMiB"}, timing only the transfer (not the
// connection or the bucket lookup). It uses nats.go's jetstream package, as
// users of nats.go write it.
//
//	objbench -server URL -bucket B -op put-file -file PATH
//	objbench -server URL -bucket B -op get-file -file PATH -out PATH
//	objbench -server URL -bucket B -op put -name N -mib 256
//	objbench -server URL -bucket B -op get -name N
//
// PutFile names the object after the file's path, so get-file reads the
// object named -file and writes it to -out. The bucket is created (file
// storage) when it does not exist.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const mib = 1024 * 1024

// pieces reads as `remaining` bytes made of one random MiB over and over,
// the same source the Node benchmarks put from memory.
type pieces struct {
	piece     []byte
	remaining int64
}

func (p *pieces) Read(b []byte) (int, error) {
	if p.remaining == 0 {
		return 0, io.EOF
	}
	// The tail of the piece that ends where the data ends, never longer than what remains.
	offset := int(p.remaining % int64(len(p.piece)))
	if offset == 0 {
		offset = len(p.piece)
	}
	tail := p.piece[len(p.piece)-offset:]
	n := copy(b, tail)
	p.remaining -= int64(n)
	return n, nil
}

type result struct {
	Op      string  `json:"op"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	MiBps   float64 `json:"mibps"`
	// The process's CPU time (user + system, all threads) over the transfer, per MiB.
	CPUMillisPerMiB float64 `json:"cpuMillisPerMiB"`
}

func cpuMillis() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		fail("%v", err)
	}
	return float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e6
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "objbench: "+format+"\n", args...)
	os.Exit(1)
}

func openBucket(ctx context.Context, js jetstream.JetStream, bucket string) jetstream.ObjectStore {
	store, err := js.ObjectStore(ctx, bucket)
	if err == nil {
		return store
	}
	store, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket, Storage: jetstream.FileStorage})
	if err != nil {
		fail("cannot open or create bucket %s: %v", bucket, err)
	}
	return store
}

func fileSize(path string) int64 {
	stat, err := os.Stat(path)
	if err != nil {
		fail("%v", err)
	}
	return stat.Size()
}

func main() {
	server := flag.String("server", nats.DefaultURL, "NATS server URL")
	bucket := flag.String("bucket", "gobench", "object store bucket")
	op := flag.String("op", "", "put-file, get-file, put or get")
	file := flag.String("file", "", "put-file: the file to put; get-file: the object to get (named after the file PutFile read)")
	out := flag.String("out", "", "get-file: the file to write")
	name := flag.String("name", "gobench", "put, get: the object's name")
	sizeMiB := flag.Int64("mib", 256, "put: MiB to put")
	flag.Parse()

	// nats.go's Get limits a context without a deadline to 5 seconds for the
	// whole download, so large objects need one of their own.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nc, err := nats.Connect(*server)
	if err != nil {
		fail("cannot connect to %s: %v", *server, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fail("%v", err)
	}
	store := openBucket(ctx, js, *bucket)

	var bytes int64
	start, cpuStart := time.Now(), cpuMillis()
	switch *op {
	case "put-file":
		info, err := store.PutFile(ctx, *file)
		if err != nil {
			fail("PutFile %s: %v", *file, err)
		}
		bytes = int64(info.Size)
	case "get-file":
		if err := store.GetFile(ctx, *file, *out); err != nil {
			fail("GetFile %s: %v", *file, err)
		}
		bytes = fileSize(*out)
	case "put":
		piece := make([]byte, mib)
		if _, err := rand.Read(piece); err != nil {
			fail("%v", err)
		}
		start, cpuStart = time.Now(), cpuMillis()
		info, err := store.Put(ctx, jetstream.ObjectMeta{Name: *name}, &pieces{piece: piece, remaining: *sizeMiB * mib})
		if err != nil {
			fail("Put %s: %v", *name, err)
		}
		bytes = int64(info.Size)
	case "get":
		object, err := store.Get(ctx, *name)
		if err != nil {
			fail("Get %s: %v", *name, err)
		}
		bytes, err = io.Copy(io.Discard, object)
		object.Close()
		if err != nil {
			fail("Get %s: %v", *name, err)
		}
	default:
		fail("unknown -op %q", *op)
	}
	seconds, cpu := time.Since(start).Seconds(), cpuMillis()-cpuStart
	moved := float64(bytes) / mib
	line, _ := json.Marshal(result{Op: *op, Bytes: bytes, Seconds: seconds, MiBps: moved / seconds, CPUMillisPerMiB: cpu / moved})
	fmt.Println(string(line))
}
