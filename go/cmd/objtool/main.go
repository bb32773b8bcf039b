// objtool drives nats.go's object store (the jetstream package, as users of
// nats.go write it) from the command line, for the interop tests: one
// operation per run, its result as one JSON document on stdout.
//
//	objtool version
//	objtool create      -server URL -bucket B [-description D] [-ttl 1h] [-storage file|memory] [-compression] [-metadata K=V]...
//	objtool status      -server URL -bucket B
//	objtool seal        -server URL -bucket B
//	objtool buckets     -server URL
//	objtool put         -server URL -bucket B -name N -file PATH [-chunk-size N] [-read-size N] [-description D] [-header K=V]... [-metadata K=V]...
//	objtool get         -server URL -bucket B -name N -out PATH [-show-deleted]
//	objtool info        -server URL -bucket B -name N [-show-deleted]
//	objtool list        -server URL -bucket B [-show-deleted]
//	objtool delete      -server URL -bucket B -name N
//	objtool link        -server URL -bucket B -name N -target T [-target-bucket TB]
//	objtool link-bucket -server URL -bucket B -name N -target-bucket TB
//	objtool update-meta -server URL -bucket B -name N [-new-name M] [-description D] [-header K=V]... [-metadata K=V]...
//
// Objects are printed as nats.go serialises its ObjectInfo (the meta's
// JSON, `mtime` being what nats.go reports), with `revision` added by info
// (the sequence of the object's meta message, read beside GetInfo: nats.go's
// ObjectInfo has none) and `bytes` by get (what the reader delivered). An
// error nats.go returns is printed as {"error": {"name", "message",
// "apiCode"}} with exit status 2; anything else that goes wrong exits with
// status 1 and a line on stderr.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pairs collects repeated K=V flags, keeping every value of a key in order.
type pairs [][2]string

func (p *pairs) String() string { return fmt.Sprint(*p) }

func (p *pairs) Set(value string) error {
	key, val, ok := strings.Cut(value, "=")
	if !ok {
		return fmt.Errorf("%q is not K=V", value)
	}
	*p = append(*p, [2]string{key, val})
	return nil
}

func (p pairs) header() nats.Header {
	if len(p) == 0 {
		return nil
	}
	// Assigned, not Header.Add: the keys stay exactly as given.
	h := nats.Header{}
	for _, kv := range p {
		h[kv[0]] = append(h[kv[0]], kv[1])
	}
	return h
}

// shortReads returns at most `size` bytes a read, as a network stream may:
// nats.go publishes what each read returns as a chunk.
type shortReads struct {
	reader io.Reader
	size   int
}

func (s shortReads) Read(p []byte) (int, error) {
	return s.reader.Read(p[:min(len(p), s.size)])
}

func (p pairs) metadata() map[string]string {
	if len(p) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, kv := range p {
		m[kv[0]] = kv[1]
	}
	return m
}

// The object-store errors of nats.go, by the name the tests expect.
var namedErrors = []struct {
	name string
	err  error
}{
	{"ObjectNotFound", jetstream.ErrObjectNotFound},
	{"NoObjectsFound", jetstream.ErrNoObjectsFound},
	{"BucketNotFound", jetstream.ErrBucketNotFound},
	{"BucketExists", jetstream.ErrBucketExists},
	{"BadObjectMeta", jetstream.ErrBadObjectMeta},
	{"DigestMismatch", jetstream.ErrDigestMismatch},
	{"InvalidDigestFormat", jetstream.ErrInvalidDigestFormat},
	{"ObjectAlreadyExists", jetstream.ErrObjectAlreadyExists},
	{"NameRequired", jetstream.ErrNameRequired},
	{"LinkNotAllowed", jetstream.ErrLinkNotAllowed},
	{"ObjectRequired", jetstream.ErrObjectRequired},
	{"NoLinkToDeleted", jetstream.ErrNoLinkToDeleted},
	{"NoLinkToLink", jetstream.ErrNoLinkToLink},
	{"CantGetBucket", jetstream.ErrCantGetBucket},
	{"BucketRequired", jetstream.ErrBucketRequired},
	{"BucketMalformed", jetstream.ErrBucketMalformed},
	{"UpdateMetaDeleted", jetstream.ErrUpdateMetaDeleted},
	{"InvalidStoreName", jetstream.ErrInvalidStoreName},
	{"StreamNotFound", jetstream.ErrStreamNotFound},
	{"Timeout", nats.ErrTimeout},
}

type errorOut struct {
	Name    string `json:"name,omitempty"`
	Message string `json:"message"`
	// The JetStream API's err_code when the server refused the operation (10109 for a sealed stream).
	APICode jetstream.ErrorCode `json:"apiCode,omitempty"`
}

// failNats reports an error nats.go returned, as JSON, with exit status 2.
func failNats(err error) {
	out := errorOut{Message: err.Error()}
	for _, named := range namedErrors {
		if errors.Is(err, named.err) {
			out.Name = named.name
			break
		}
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		out.APICode = apiErr.ErrorCode
	}
	printJSON(map[string]errorOut{"error": out})
	os.Exit(2)
}

// fail reports a failure of the tool itself.
func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "objtool: "+format+"\n", args...)
	os.Exit(1)
}

func check(err error) {
	if err != nil {
		failNats(err)
	}
}

func printJSON(value any) {
	line, err := json.Marshal(value)
	if err != nil {
		fail("%v", err)
	}
	fmt.Println(string(line))
}

type objectOut struct {
	*jetstream.ObjectInfo
	Revision uint64 `json:"revision,omitempty"`
	Bytes    *int64 `json:"bytes,omitempty"`
}

type statusOut struct {
	Bucket       string                `json:"bucket"`
	Description  string                `json:"description"`
	TTL          time.Duration         `json:"ttl"`
	Storage      jetstream.StorageType `json:"storage"`
	Replicas     int                   `json:"replicas"`
	Sealed       bool                  `json:"sealed"`
	Size         uint64                `json:"size"`
	BackingStore string                `json:"backingStore"`
	Metadata     map[string]string     `json:"metadata"`
	Compressed   bool                  `json:"compressed"`
}

func statusOf(status jetstream.ObjectStoreStatus) statusOut {
	return statusOut{
		Bucket:       status.Bucket(),
		Description:  status.Description(),
		TTL:          status.TTL(),
		Storage:      status.Storage(),
		Replicas:     status.Replicas(),
		Sealed:       status.Sealed(),
		Size:         status.Size(),
		BackingStore: status.BackingStore(),
		Metadata:     status.Metadata(),
		Compressed:   status.IsCompressed(),
	}
}

// revision is the sequence of the last meta message of `name`: what GetInfo read.
func revision(ctx context.Context, js jetstream.JetStream, bucket, name string) uint64 {
	stream, err := js.Stream(ctx, "OBJ_"+bucket)
	check(err)
	msg, err := stream.GetLastMsgForSubject(ctx, "$O."+bucket+".M."+base64.URLEncoding.EncodeToString([]byte(name)))
	check(err)
	return msg.Sequence
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: objtool <command> [flags]; see the source's header")
	}
	command := os.Args[1]
	if command == "version" {
		printJSON(map[string]string{"go": runtime.Version(), "natsGo": nats.Version})
		return
	}

	flags := flag.NewFlagSet(command, flag.ExitOnError)
	server := flags.String("server", nats.DefaultURL, "NATS server URL")
	bucket := flags.String("bucket", "", "the object store")
	name := flags.String("name", "", "the object")
	file := flags.String("file", "", "put: the file to store")
	out := flags.String("out", "", "get: the file to write")
	chunkSize := flags.Uint("chunk-size", 0, "put: the chunk size (0: nats.go's default, 128 KiB)")
	readSize := flags.Int("read-size", 0, "put: read the file this many bytes at a time (0: as much as a chunk holds)")
	description := flags.String("description", "", "create, put, update-meta: the description")
	newName := flags.String("new-name", "", "update-meta: the new name (default: the same)")
	target := flags.String("target", "", "link: the object linked to")
	targetBucket := flags.String("target-bucket", "", "link, link-bucket: the bucket linked to (link: default the same)")
	showDeleted := flags.Bool("show-deleted", false, "get, info, list: include deleted objects")
	ttl := flags.Duration("ttl", 0, "create: how long objects are kept")
	storage := flags.String("storage", "file", "create: file or memory")
	compression := flags.Bool("compression", false, "create: S2 compression (nats-server 2.10+)")
	timeout := flags.Duration("timeout", time.Minute, "the whole operation's deadline")
	var headers, metadata pairs
	flags.Var(&headers, "header", "put, update-meta: a header K=V (repeatable)")
	flags.Var(&metadata, "metadata", "create, put, update-meta: metadata K=V (repeatable)")
	_ = flags.Parse(os.Args[2:])

	// nats.go's Get limits a context without a deadline to 5 seconds for the
	// whole download; every operation here gets the same explicit deadline.
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	nc, err := nats.Connect(*server)
	if err != nil {
		fail("cannot connect to %s: %v", *server, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	check(err)

	if command == "buckets" {
		lister := js.ObjectStoreNames(ctx)
		names := []string{}
		for bucketName := range lister.Name() {
			names = append(names, bucketName)
		}
		check(lister.Error())
		printJSON(names)
		return
	}
	if command == "create" {
		config := jetstream.ObjectStoreConfig{
			Bucket:      *bucket,
			Description: *description,
			TTL:         *ttl,
			Compression: *compression,
			Metadata:    metadata.metadata(),
		}
		switch *storage {
		case "file":
			config.Storage = jetstream.FileStorage
		case "memory":
			config.Storage = jetstream.MemoryStorage
		default:
			fail("-storage %q: file or memory", *storage)
		}
		store, err := js.CreateObjectStore(ctx, config)
		check(err)
		status, err := store.Status(ctx)
		check(err)
		printJSON(statusOf(status))
		return
	}

	store, err := js.ObjectStore(ctx, *bucket)
	check(err)
	switch command {
	case "status":
		status, err := store.Status(ctx)
		check(err)
		printJSON(statusOf(status))
	case "seal":
		check(store.Seal(ctx))
		status, err := store.Status(ctx)
		check(err)
		printJSON(statusOf(status))
	case "put":
		input, err := os.Open(*file)
		if err != nil {
			fail("%v", err)
		}
		defer input.Close()
		meta := jetstream.ObjectMeta{
			Name:        *name,
			Description: *description,
			Headers:     headers.header(),
			Metadata:    metadata.metadata(),
		}
		if *chunkSize > 0 {
			meta.Opts = &jetstream.ObjectMetaOptions{ChunkSize: uint32(*chunkSize)}
		}
		var reader io.Reader = input
		if *readSize > 0 {
			reader = shortReads{reader: input, size: *readSize}
		}
		info, err := store.Put(ctx, meta, reader)
		check(err)
		printJSON(objectOut{ObjectInfo: info})
	case "get":
		var opts []jetstream.GetObjectOpt
		if *showDeleted {
			opts = append(opts, jetstream.GetObjectShowDeleted())
		}
		result, err := store.Get(ctx, *name, opts...)
		check(err)
		output, err := os.Create(*out)
		if err != nil {
			fail("%v", err)
		}
		// The digest is checked when the reader reaches the end.
		bytes, err := io.Copy(output, result)
		check(err)
		if err := output.Close(); err != nil {
			fail("%v", err)
		}
		check(result.Close())
		info, err := result.Info()
		check(err)
		printJSON(objectOut{ObjectInfo: info, Bytes: &bytes})
	case "info":
		var opts []jetstream.GetObjectInfoOpt
		if *showDeleted {
			opts = append(opts, jetstream.GetObjectInfoShowDeleted())
		}
		info, err := store.GetInfo(ctx, *name, opts...)
		check(err)
		printJSON(objectOut{ObjectInfo: info, Revision: revision(ctx, js, *bucket, *name)})
	case "list":
		var opts []jetstream.ListObjectsOpt
		if *showDeleted {
			opts = append(opts, jetstream.ListObjectsShowDeleted())
		}
		infos, err := store.List(ctx, opts...)
		check(err)
		printJSON(infos)
	case "delete":
		check(store.Delete(ctx, *name))
		printJSON(struct{}{})
	case "link":
		linkedBucket := *targetBucket
		if linkedBucket == "" {
			linkedBucket = *bucket
		}
		// As a nats.go user links: to the info of the target, from its own bucket.
		linked, err := js.ObjectStore(ctx, linkedBucket)
		check(err)
		targetInfo, err := linked.GetInfo(ctx, *target)
		check(err)
		info, err := store.AddLink(ctx, *name, targetInfo)
		check(err)
		printJSON(objectOut{ObjectInfo: info})
	case "link-bucket":
		linked, err := js.ObjectStore(ctx, *targetBucket)
		check(err)
		info, err := store.AddBucketLink(ctx, *name, linked)
		check(err)
		printJSON(objectOut{ObjectInfo: info})
	case "update-meta":
		renamed := *newName
		if renamed == "" {
			renamed = *name
		}
		check(store.UpdateMeta(ctx, *name, jetstream.ObjectMeta{
			Name:        renamed,
			Description: *description,
			Headers:     headers.header(),
			Metadata:    metadata.metadata(),
		}))
		printJSON(struct{}{})
	default:
		fail("unknown command %q", command)
	}
}
