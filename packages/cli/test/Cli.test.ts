import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { Effect, Exit, Fiber, Layer, Stream } from "effect"
import { render } from "../src/internal/progress.ts"
import { Prices } from "./fixtures/prices.ts"
import { lines, runCli, started } from "./runCli.ts"

const temp = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "nats-effect-cli-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** Bytes that are not all alike, so a chunk out of place changes the digest. */
const randomBytes = (size: number) => {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 7919 + (i >> 8)) & 0xff
  return bytes
}

const succeeded = (exit: Exit.Exit<unknown, unknown>, stderr: string) =>
  assert.isTrue(Exit.isSuccess(exit), `failed: ${stderr}`)

describe("nats-effect object", () => {
  it.effect("put then get returns the file's bytes, to a file and to stdout, with a summary on stderr", () =>
    Effect.gen(function*() {
      const dir = yield* temp
      const file = Path.join(dir, "photo.jpg")
      const content = randomBytes(300_000)
      Fs.writeFileSync(file, content)

      const put = yield* runCli(["object", "put", "images", file, "--chunk-size", "65536", "--description", "a photo"])
      succeeded(put.exit, put.stderr)
      assert.strictEqual(put.output, "")
      assert.lengthOf(lines(put.stderr), 1)
      assert.match(put.stderr, /^put photo\.jpg \(images\): 293\.0 KiB in 5 chunks, SHA-256=[\w-]+=*, [\d.]+ s, .* MiB\/s\n$/)

      const toFile = yield* runCli(["object", "get", "images", "photo.jpg", Path.join(dir, "copy.jpg")])
      succeeded(toFile.exit, toFile.stderr)
      assert.deepStrictEqual(new Uint8Array(Fs.readFileSync(Path.join(dir, "copy.jpg"))), content)
      assert.deepStrictEqual(Fs.readdirSync(dir).filter((entry) => entry.endsWith(".partial")), [])
      assert.match(toFile.stderr, /^got photo\.jpg \(images\): 293\.0 KiB in 5 chunks/)

      const toStdout = yield* runCli(["object", "get", "images", "photo.jpg", "-"])
      succeeded(toStdout.exit, toStdout.stderr)
      assert.deepStrictEqual(new Uint8Array(toStdout.stdout), content)
      const noFile = yield* runCli(["object", "get", "images", "photo.jpg"])
      assert.deepStrictEqual(new Uint8Array(noFile.stdout), content)
    }).pipe(Effect.scoped, Effect.provide(NatsClient.layerMemory())))

  it.live("draws the progress bar on stderr when it is a terminal", () =>
    Effect.gen(function*() {
      const dir = yield* temp
      const file = Path.join(dir, "big.bin")
      Fs.writeFileSync(file, randomBytes(2 * 1024 * 1024))
      const put = yield* runCli(["object", "put", "bucket", file], { terminal: true })
      succeeded(put.exit, put.stderr)
      const frames = put.stderr.split("\r").filter((frame) => frame.includes("%"))
      assert.isAbove(frames.length, 0, put.stderr)
      assert.match(frames[0]!, /^big\.bin \[[#-]{20}\] +\d+% [\d.]+ (B|KiB|MiB) \/ 2\.0 MiB [\d.-]+ MiB\/s (\d+:\d\d|--:--) left/)
      // The bar is cleared before the summary.
      assert.match(put.stderr, /\r\x1b\[Kput big\.bin \(bucket\): 2\.0 MiB in 16 chunks/)
      const get = yield* runCli(["object", "get", "bucket", "big.bin", Path.join(dir, "copy.bin")], { terminal: true })
      assert.include(get.stderr, "/ 2.0 MiB")
      // Without a terminal, no bar: the summary only.
      const plain = yield* runCli(["object", "get", "bucket", "big.bin", Path.join(dir, "copy.bin")])
      assert.notInclude(plain.stderr, "\r")
      assert.lengthOf(lines(plain.stderr), 1)
    }).pipe(Effect.scoped, Effect.provide(NatsClient.layerMemory())))

  it.effect("ls lists the buckets and the objects of one; info shows one; rm deletes it", () =>
    Effect.gen(function*() {
      const dir = yield* temp
      Fs.writeFileSync(Path.join(dir, "a.txt"), "hello")
      Fs.writeFileSync(Path.join(dir, "b.txt"), "world!")
      yield* runCli(["object", "put", "docs", Path.join(dir, "a.txt")])
      yield* runCli(["object", "put", "docs", Path.join(dir, "b.txt"), "--name", "second"])

      const buckets = yield* runCli(["object", "ls", "--json"])
      assert.deepStrictEqual(lines(buckets.output).map((line) => JSON.parse(line).bucket), ["docs"])
      const objects = yield* runCli(["object", "ls", "docs"])
      assert.deepStrictEqual(lines(objects.output).map((line) => line.split("\t")[0]), ["a.txt", "second"])

      const info = yield* runCli(["object", "info", "docs", "second", "--json"])
      const parsed = JSON.parse(info.output)
      assert.strictEqual(parsed.name, "second")
      assert.strictEqual(parsed.size, 6)
      assert.strictEqual(parsed.chunks, 1)
      assert.match(parsed.digest, /^SHA-256=/)
      const human = yield* runCli(["object", "info", "docs", "a.txt"])
      assert.include(lines(human.output), "size: 5")

      const rm = yield* runCli(["object", "rm", "docs", "a.txt"])
      succeeded(rm.exit, rm.stderr)
      const after = yield* runCli(["object", "ls", "docs"])
      assert.deepStrictEqual(lines(after.output).map((line) => line.split("\t")[0]), ["second"])
    }).pipe(Effect.scoped, Effect.provide(NatsClient.layerMemory())))

  it.effect("a missing object or bucket is one line on stderr and a failure", () =>
    Effect.gen(function*() {
      const dir = yield* temp
      Fs.writeFileSync(Path.join(dir, "a.txt"), "hello")
      yield* runCli(["object", "put", "docs", Path.join(dir, "a.txt")])

      const missing = yield* runCli(["object", "get", "docs", "nope"])
      assert.isTrue(Exit.isFailure(missing.exit))
      assert.strictEqual(missing.output, "")
      assert.deepStrictEqual(lines(missing.stderr), [`nats-effect: ObjectNotFound: object "nope" not found in bucket docs`])

      // A reading command does not create the bucket it is asked about.
      const noBucket = yield* runCli(["object", "ls", "nothing"])
      assert.deepStrictEqual(lines(noBucket.stderr), ["nats-effect: BucketNotFound: no object store bucket nothing"])
      const buckets = yield* runCli(["object", "ls"])
      assert.deepStrictEqual(lines(buckets.output).map((line) => line.split("\t")[0]), ["docs"])

      const usage = yield* runCli(["object", "get", "docs"])
      assert.isTrue(Exit.isFailure(usage.exit))
      assert.deepStrictEqual(lines(usage.stderr), [
        "nats-effect: Missing required argument: name (see nats-effect object get --help)"
      ])
      assert.strictEqual(usage.output, "")
    }).pipe(Effect.scoped, Effect.provide(NatsClient.layerMemory())))

  it.effect("watch prints each change; seal makes the bucket read-only", () =>
    Effect.gen(function*() {
      const dir = yield* temp
      const file = Path.join(dir, "report.pdf")
      Fs.writeFileSync(file, "%PDF")
      yield* runCli(["object", "put", "reports", file, "--name", "before"])

      const watch = yield* started(["object", "watch", "reports", "--json"], "watching reports")
      yield* runCli(["object", "put", "reports", file])
      assert.deepInclude(JSON.parse(yield* watch.next), { name: "report.pdf", size: 4, deleted: false })
      yield* runCli(["object", "rm", "reports", "before"])
      assert.deepInclude(JSON.parse(yield* watch.next), { name: "before", deleted: true })

      const seal = yield* runCli(["object", "seal", "reports"])
      succeeded(seal.exit, seal.stderr)
      const refused = yield* runCli(["object", "put", "reports", file, "--name", "after"])
      assert.isTrue(Exit.isFailure(refused.exit))
      assert.match(refused.stderr, /^nats-effect: BucketSealed: [^\n]*\n$/)
    }).pipe(Effect.scoped, Effect.provide(NatsClient.layerMemory())))

  it.effect("--help prints the command's usage on stdout and succeeds", () =>
    Effect.gen(function*() {
      const help = yield* runCli(["object", "put", "--help"])
      succeeded(help.exit, help.stderr)
      assert.include(help.output, "nats-effect object put [flags] <bucket> <file>")
      for (const flag of ["--server", "--user", "--password", "--token", "--creds", "--tls-ca", "--chunk-size"]) {
        assert.include(help.output, flag)
      }
    }).pipe(Effect.provide(NatsClient.layerMemory())))
})

describe("nats-effect kv", () => {
  it.effect("put, get, keys, history, update, del", () =>
    Effect.gen(function*() {
      const put = yield* runCli(["kv", "put", "config", "color", "red", "--history", "5"])
      succeeded(put.exit, put.stderr)
      assert.strictEqual(put.output, "1\n")
      assert.strictEqual((yield* runCli(["kv", "put", "config", "color"], { stdin: "blue" })).output, "2\n")
      yield* runCli(["kv", "put", "config", "size", "L"])

      assert.strictEqual((yield* runCli(["kv", "get", "config", "color"])).output, "blue\n")
      assert.strictEqual((yield* runCli(["kv", "get", "config", "color", "--revision", "1"])).output, "red\n")
      const json = JSON.parse((yield* runCli(["kv", "get", "config", "color", "--json"])).output)
      assert.deepInclude(json, { bucket: "config", key: "color", revision: 2, operation: "PUT", value: "blue" })

      assert.deepStrictEqual(lines((yield* runCli(["kv", "keys", "config"])).output).sort(), ["color", "size"])

      const conflict = yield* runCli(["kv", "update", "config", "color", "green", "--revision", "1"])
      assert.isTrue(Exit.isFailure(conflict.exit))
      assert.lengthOf(lines(conflict.stderr), 1)
      assert.match(conflict.stderr, /^nats-effect: WrongRevision: /)
      assert.strictEqual((yield* runCli(["kv", "update", "config", "color", "green", "--revision", "2"])).output, "4\n")

      yield* runCli(["kv", "del", "config", "size"])
      assert.deepStrictEqual(lines((yield* runCli(["kv", "keys", "config"])).output), ["color"])
      const gone = yield* runCli(["kv", "get", "config", "size"])
      assert.isTrue(Exit.isFailure(gone.exit))
      assert.deepStrictEqual(lines(gone.stderr), ["nats-effect: no value for size in config"])

      const history = yield* runCli(["kv", "history", "config", "color", "--json"])
      assert.deepStrictEqual(
        lines(history.output).map((line) => JSON.parse(line)).map((e) => [e.revision, e.operation, e.value]),
        [[1, "PUT", "red"], [2, "PUT", "blue"], [4, "PUT", "green"]]
      )
    }).pipe(Effect.provide(NatsClient.layerMemory())))

  it.effect("watch prints the current values, then each change; purge removes the history", () =>
    Effect.gen(function*() {
      yield* runCli(["kv", "put", "flags", "dark-mode", "on", "--history", "5"])
      const watch = yield* started(["kv", "watch", "flags", "--json"], "watching flags")
      assert.deepInclude(JSON.parse(yield* watch.next), { key: "dark-mode", value: "on", operation: "PUT" })
      yield* runCli(["kv", "put", "flags", "dark-mode", "off"])
      assert.deepInclude(JSON.parse(yield* watch.next), { key: "dark-mode", value: "off", revision: 2 })
      yield* runCli(["kv", "purge", "flags", "dark-mode"])
      assert.deepInclude(JSON.parse(yield* watch.next), { key: "dark-mode", operation: "PURGE" })

      assert.strictEqual((yield* runCli(["kv", "keys", "flags"])).output, "")
      const history = yield* runCli(["kv", "history", "flags", "dark-mode"])
      assert.deepStrictEqual(lines(history.output).map((line) => line.split("\t")[2]), ["PURGE"])
    }).pipe(Effect.scoped, Effect.provide(NatsClient.layerMemory())))

  it.effect("create refuses a key that holds a value", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* runCli(["kv", "create", "locks", "job", "me"])).output, "1\n")
      const again = yield* runCli(["kv", "create", "locks", "job", "you"])
      assert.isTrue(Exit.isFailure(again.exit))
      assert.match(again.stderr, /^nats-effect: KeyExists: .*\n$/)
    }).pipe(Effect.provide(NatsClient.layerMemory())))
})

describe("nats-effect pub, sub, req", () => {
  it.effect("sub prints what pub publishes; --json for scripts", () =>
    Effect.gen(function*() {
      const sub = yield* started(["sub", "orders.*", "--count", "3", "--json"], "listening on orders.*")

      const pub = yield* runCli(["pub", "orders.eu", "first", "--count", "2", "--json"])
      succeeded(pub.exit, pub.stderr)
      assert.deepStrictEqual(JSON.parse(pub.output), { subject: "orders.eu", count: 2, bytes: 5 })
      yield* runCli(["pub", "orders.us"], { stdin: "from stdin" })

      // --count 3: the command ends by itself after the third message.
      const received = yield* Fiber.join(sub.fiber)
      succeeded(received.exit, received.stderr)
      const text = { "content-type": ["text/plain"] }
      assert.deepStrictEqual(lines(received.output).map((line) => JSON.parse(line)), [
        { subject: "orders.eu", headers: text, data: "first" },
        { subject: "orders.eu", headers: text, data: "first" },
        { subject: "orders.us", headers: text, data: "from stdin" }
      ])
    }).pipe(Effect.scoped, Effect.provide(NatsClient.layerMemory())))

  it.effect("req prints the responder's reply; no responder is one line and a failure", () =>
    Effect.gen(function*() {
      const client = yield* NatsClient.NatsClient
      const requests = yield* client.subscribe("time")
      yield* requests.pipe(
        Stream.runForEach((msg) => client.publish(msg.reply!, new TextEncoder().encode(`now, you said ${new TextDecoder().decode(msg.data)}`))),
        Effect.forkScoped
      )
      const reply = yield* runCli(["req", "time", "hi"])
      succeeded(reply.exit, reply.stderr)
      assert.strictEqual(reply.output, "now, you said hi\n")
      const json = yield* runCli(["req", "time", "hello", "--json"])
      assert.deepInclude(JSON.parse(json.output), { data: "now, you said hello" })

      const nobody = yield* runCli(["req", "nobody.home", "hi", "--timeout", "1"])
      assert.isTrue(Exit.isFailure(nobody.exit))
      assert.strictEqual(nobody.output, "")
      assert.deepStrictEqual(lines(nobody.stderr), ["nats-effect: NoResponders: no responders on 'nobody.home'"])
    }).pipe(Effect.scoped, Effect.provide(NatsClient.layerMemory())))
})

describe("nats-effect pub and req to an app", () => {
  it.effect("pub --header sends the headers, a name given twice with both values; text goes as text/plain, JSON as JSON", () =>
    Effect.gen(function*() {
      const sub = yield* started(["sub", "events", "--count", "3", "--json"], "listening on events")
      const pub = yield* runCli(["pub", "events", "hello", "--header", "x-id=1", "-H", "x-id=2", "--header", "trace=a=b"])
      succeeded(pub.exit, pub.stderr)
      yield* runCli(["pub", "events", `{"id":1}`])
      // A content-type given wins.
      yield* runCli(["pub", "events", "<p/>", "--header", "Content-Type=text/html"])
      const received = yield* Fiber.join(sub.fiber)
      assert.deepStrictEqual(lines(received.output).map((line) => JSON.parse(line)), [
        {
          subject: "events",
          headers: { "x-id": ["1", "2"], trace: ["a=b"], "content-type": ["text/plain"] },
          data: "hello"
        },
        { subject: "events", headers: { "content-type": ["application/json"] }, data: `{"id":1}` },
        { subject: "events", headers: { "Content-Type": ["text/html"] }, data: "<p/>" }
      ])

      const bad = yield* runCli(["pub", "events", "x", "--header", "novalue"])
      assert.isTrue(Exit.isFailure(bad.exit))
      assert.deepStrictEqual(lines(bad.stderr), ["nats-effect: --header novalue: expected NAME=VALUE"])
    }).pipe(Effect.scoped, Effect.provide(NatsClient.layerMemory())))

  it.effect("req: text reaches a Schema.String handler; an error reply is one line on stderr and a failure", () =>
    Effect.gen(function*() {
      yield* Layer.build(Prices)
      const text = yield* runCli(["req", "prices.get", "ACME"])
      succeeded(text.exit, text.stderr)
      assert.strictEqual(text.output, "12.5\n")
      // JSON is JSON: a quoted string is the same symbol.
      assert.strictEqual((yield* runCli(["req", "prices.get", `"ACME"`])).output, "12.5\n")

      const unknown = yield* runCli(["req", "prices.get", "NOPE"])
      assert.isTrue(Exit.isFailure(unknown.exit))
      assert.strictEqual(unknown.output, "")
      assert.deepStrictEqual(lines(unknown.stderr), ["nats-effect: UnknownSymbol: no price for NOPE"])

      // --json: the whole reply on stdout for the script, and still a failure.
      const json = yield* runCli(["req", "prices.get", "NOPE", "--json"])
      assert.isTrue(Exit.isFailure(json.exit))
      const reply = JSON.parse(json.output)
      assert.strictEqual(reply.data, "no price for NOPE")
      assert.deepStrictEqual(reply.headers["nats-effect-error"], ["UnknownSymbol"])
      assert.deepStrictEqual(lines(json.stderr), ["nats-effect: UnknownSymbol: no price for NOPE"])
    }).pipe(Effect.scoped, Effect.provide(NatsClient.layerMemory())))
})

describe("nats-effect stream and consumer", () => {
  it.effect("ls and info show the streams and what each consumer has pending and awaiting an ack", () =>
    Effect.gen(function*() {
      const client = yield* NatsClient.NatsClient
      yield* client.jetstream.streams.add({ name: "ORDERS", subjects: ["orders.>"], description: "all orders" })
      yield* client.jetstream.streams.add({ name: "AUDIT", subjects: ["audit"] })
      for (const id of [1, 2, 3]) yield* client.jetstream.publish("orders.eu", new TextEncoder().encode(`{"id":${id}}`))
      yield* client.jetstream.consumers.add("ORDERS", { name: "billing", maxAckPending: 1, description: "bills" })
      yield* client.jetstream.consumers.add("ORDERS", { name: "audit", filterSubjects: ["orders.us"] })
      // One delivered, not acknowledged yet.
      yield* client.jetstream.consumers.consume("ORDERS", "billing").pipe(Stream.take(1), Stream.runDrain)

      const streams = yield* runCli(["stream", "ls"])
      succeeded(streams.exit, streams.stderr)
      const [audit, orders] = lines(streams.output).map((line) => line.split("\t"))
      assert.deepStrictEqual(audit, ["AUDIT", "0 messages", "0 B", "0 consumers", "audit"])
      assert.deepStrictEqual([orders![0], orders![1], orders![3], orders![4]], ["ORDERS", "3 messages", "2 consumers", "orders.>"])
      assert.match(orders![2]!, /^\d+ B$/)
      const streamJson = lines((yield* runCli(["stream", "ls", "--json"])).output).map((line) => JSON.parse(line))
      assert.deepInclude(streamJson[1], { name: "ORDERS", description: "all orders", messages: 3, firstSeq: 1, lastSeq: 3, consumers: 2 })

      const info = yield* runCli(["stream", "info", "ORDERS"])
      assert.includeMembers(lines(info.output), ["name: ORDERS", "subjects: [\"orders.>\"]", "messages: 3", "consumers: 2", "maxMsgs: -1"])

      const consumers = yield* runCli(["consumer", "ls", "ORDERS"])
      succeeded(consumers.exit, consumers.stderr)
      assert.deepStrictEqual(lines(consumers.output), [
        "audit\t0 pending\t0 ack pending\t0 redelivered\torders.us",
        "billing\t2 pending\t1 ack pending\t0 redelivered"
      ])
      const billing = JSON.parse((yield* runCli(["consumer", "info", "ORDERS", "billing", "--json"])).output)
      assert.deepInclude(billing, {
        stream: "ORDERS",
        name: "billing",
        description: "bills",
        pending: 2,
        ackPending: 1,
        redelivered: 0,
        maxAckPending: 1,
        ackPolicy: "explicit"
      })
      const human = yield* runCli(["consumer", "info", "ORDERS", "billing"])
      assert.includeMembers(lines(human.output), ["pending: 2", "ackPending: 1", "ackWaitSeconds: 30"])

      const missing = yield* runCli(["consumer", "ls", "NOPE"])
      assert.isTrue(Exit.isFailure(missing.exit))
      assert.strictEqual(missing.output, "")
      assert.lengthOf(lines(missing.stderr), 1)
      assert.match(missing.stderr, /^nats-effect: StreamNotFound: /)
      const noConsumer = yield* runCli(["consumer", "info", "ORDERS", "nobody"])
      assert.match(noConsumer.stderr, /^nats-effect: ConsumerNotFound: [^\n]*\n$/)
    }).pipe(Effect.provide(NatsClient.layerMemory())))
})

describe("the progress bar", () => {
  it("fits the terminal's width, shortening the name first", () => {
    const line = render("a-very-long-file-name-indeed.tar.gz", 3 * 1024 * 1024, 12 * 1024 * 1024, 1000, 80)
    assert.isAtMost(line.length, 79)
    assert.match(line, /^a-very-long… \[#####-{15}\]  25% 3\.0 MiB \/ 12\.0 MiB 3\.0 MiB\/s 0:03 left$/)
    assert.strictEqual(render("x.bin", 512, undefined, 0, 80), "x.bin 512 B - MiB/s")
  })
})
