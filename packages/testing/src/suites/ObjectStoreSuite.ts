/**
 * The object store's behaviour, run against every adapter: the put and get
 * pipelines at every size boundary, the meta operations, cleanup after failed
 * and interrupted puts, the sweep of chunks no object holds, corrupt and
 * missing chunks, full buckets, links, watches and the wire format other
 * clients read.
 *
 * One NATS (one server process for `nats-server`) per suite; every test uses
 * buckets of its own.
 *
 * @since 0.1.0
 * @module
 */
import { assert, describe, layer } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { ObjectStore, ObjectStoreError } from "@nats-effect/object-store"
import { Clock, Data, Deferred, Duration, Effect, Fiber, Layer, Metric, Option, Queue, Stream } from "effect"
import { createHash } from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { Adapter } from "../Adapters.ts"
import { bytes, text, unique } from "../internal/fixtures.ts"
import { requires } from "../internal/requires.ts"

const KiB = 1024
const MiB = 1024 * KiB
const defaultChunk = 128 * KiB


/** Deterministic bytes that differ from one offset to the next. */
const pattern = (size: number, seed = 0): Uint8Array => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff
  return out
}

/** `SHA-256=` + padded base64url, written out here rather than taken from the library. */
const digestOf = (data: Uint8Array) =>
  "SHA-256=" + createHash("sha256").update(data).digest("base64").replace(/\+/g, "-").replace(/\//g, "_")

const metaToken = (name: string) =>
  Buffer.from(name, "utf8").toString("base64").replace(/\+/g, "-").replace(/\//g, "_")

/** `data` cut into pieces of `size` bytes. */
const piecesOf = (data: Uint8Array, size: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let offset = 0; offset < data.length; offset += size) out.push(data.subarray(offset, offset + size))
  return out
}

const equalBytes = (actual: Uint8Array, expected: Uint8Array) =>
  assert.isTrue(Buffer.from(actual).equals(Buffer.from(expected)), `${actual.length} bytes differ from the ${expected.length} expected`)

/** The reason an object store operation failed with. */
const reasonOf = <A, R>(effect: Effect.Effect<A, ObjectStoreError.ObjectStoreError, R>) =>
  Effect.map(Effect.flip(effect), (error) => error.reason)

const reasonTag = <A, R>(effect: Effect.Effect<A, ObjectStoreError.ObjectStoreError, R>) =>
  Effect.map(reasonOf(effect), (reason) => reason._tag)

const client = NatsClient.NatsClient

/** A directory of its own, removed with the scope. */
const temporaryDirectory = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "nats-effect-os-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const open = (options: Partial<ObjectStore.ObjectStoreOptions> & { readonly prefix?: string } = {}) => {
  const { prefix = "os", ...rest } = options
  return ObjectStore.make({ bucket: unique(prefix), ...rest })
}

const streamState = (bucket: string) =>
  Effect.flatMap(client, (nats) => nats.jetstream.streams.info(`OBJ_${bucket}`)).pipe(Effect.map((info) => info.state))

/** The last message on a subject of a bucket's stream. */
const lastOn = (bucket: string, subject: string) =>
  Effect.flatMap(client, (nats) => nats.jetstream.getMessage(`OBJ_${bucket}`, { lastBySubject: subject }))

const chunkSubject = (info: ObjectStore.ObjectInfo) => `$O.${info.bucket}.C.${info.nuid}`

/**
 * A clock that moves `stepMillis` every time its time is read, from the live
 * time (frozen with 0); sleeps take real time, so timeouts work as ever.
 */
const steppingClock = (stepMillis: number) =>
  Clock.clockWith((live) => {
    let millis = live.currentTimeMillisUnsafe()
    const read = () => {
      const now = millis
      millis += stepMillis
      return now
    }
    const nanos = () => BigInt(read()) * 1_000_000n
    const clock: Clock.Clock = {
      currentTimeMillisUnsafe: read,
      currentTimeMillis: Effect.sync(read),
      currentTimeNanosUnsafe: nanos,
      currentTimeNanos: Effect.sync(nanos),
      monotonicTimeNanosUnsafe: nanos,
      monotonicTimeNanos: Effect.sync(nanos),
      sleep: (duration) => live.sleep(duration)
    }
    return Effect.succeed({ clock, now: () => millis })
  })

/** Records the progress a transfer reports, and the clock's time at each call. */
const progressRecorder = (now: () => number) => {
  const events: Array<ObjectStore.Progress> = []
  const times: Array<number> = []
  const onProgress = (progress: ObjectStore.Progress) =>
    Effect.sync(() => {
      events.push(progress)
      times.push(now())
    })
  return { events, times, onProgress }
}

/** Bytes and chunks never go back, every call is 100 ms after the one before but the last, which is `last`. */
const assertProgress = (
  recorded: ReturnType<typeof progressRecorder>,
  last: ObjectStore.Progress
) => {
  const { events, times } = recorded
  assert.isAbove(events.length, 0)
  for (let i = 1; i < events.length; i++) {
    assert.isAtLeast(events[i]!.bytes, events[i - 1]!.bytes)
    assert.isAtLeast(events[i]!.chunks, events[i - 1]!.chunks)
    if (i < events.length - 1) assert.isAtLeast(times[i]! - times[i - 1]!, 100)
  }
  for (const event of events) assert.strictEqual(event.total, last.total)
  assert.deepStrictEqual(events[events.length - 1], last)
}

class Cancelled extends Data.TaggedError("Cancelled")<{}> {}

/** Two buckets declared as services of their own. */
class Images extends ObjectStore.Service<Images>()("@nats-effect/testing/ObjectStoreSuite/Images", {
  bucket: "suite_images",
  chunkSize: KiB
}) {}
class Documents extends ObjectStore.Service<Documents>()("@nats-effect/testing/ObjectStoreSuite/Documents", {
  bucket: "suite_documents"
}) {}

/**
 * Registers the conformance tests of object store buckets for one adapter.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = (adapter: Adapter) =>
  describe(`ObjectStore conformance (${adapter.name})`, () => {
    layer(adapter.layer(), { excludeTestServices: true, timeout: "120 seconds" })((it) => {
      // -----------------------------------------------------------------------
      // Bucket
      // -----------------------------------------------------------------------

      it.effect("creates the bucket's stream as every client does, and opens it again", () =>
        Effect.gen(function*() {
          const store = yield* open({ description: "for tests", ttl: "1 hour" })
          const nats = yield* client
          const { config } = yield* nats.jetstream.streams.info(`OBJ_${store.bucket}`)
          assert.deepStrictEqual(config.subjects, [`$O.${store.bucket}.C.>`, `$O.${store.bucket}.M.>`])
          assert.isTrue(config.allowRollup)
          assert.isTrue(config.allowDirect)
          assert.strictEqual(config.discard, "new")
          assert.strictEqual(config.maxBytes, -1)
          assert.strictEqual(config.storage, "file")
          assert.strictEqual(config.replicas, 1)
          assert.strictEqual(config.description, "for tests")
          assert.isTrue(Duration.equals(config.maxAge, Duration.hours(1)))

          yield* store.putBytes("kept", "across opens")
          const again = yield* ObjectStore.make({ bucket: store.bucket })
          assert.strictEqual(text(yield* again.getBytes("kept")), "across opens")
          const status = yield* again.status()
          assert.strictEqual(status.bucket, store.bucket)
          assert.strictEqual(status.backingStore, "JetStream")
          assert.strictEqual(status.storage, "file")
          assert.strictEqual(status.sealed, false)
          assert.isTrue(Duration.equals(status.ttl, Duration.hours(1)))
          assert.isAbove(status.size, 0)
        }))

      it.effect("refuses invalid bucket names and options", () =>
        Effect.gen(function*() {
          for (const bucket of ["", "a.b", "with space", "a*", "a>", "ü"]) {
            assert.strictEqual(yield* reasonTag(ObjectStore.make({ bucket })), "InvalidBucketName", bucket)
          }
          assert.strictEqual(yield* reasonTag(open({ chunkSize: 0 })), "InvalidOption")
          assert.strictEqual(yield* reasonTag(open({ publishWindow: 1.5 })), "InvalidOption")
          // Through the layer too.
          const error = yield* Layer.build(ObjectStore.layer({ bucket: "no/slash" })).pipe(Effect.scoped, Effect.flip)
          assert.strictEqual(error._tag, "ObjectStoreError")
          assert.strictEqual(error.reason._tag, "InvalidBucketName")
        }))

      it.effect("asks for metadata and compression only of servers that have them", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const [major = 0, minor = 0] = nats.server.version.split(".").map(Number)
          const result = yield* Effect.result(open({ metadata: { owner: "tests" } }))
          if (major > 2 || (major === 2 && minor >= 10)) {
            assert.isTrue(result._tag === "Success")
            if (result._tag === "Success") {
              assert.deepStrictEqual((yield* result.success.status()).metadata, { owner: "tests" })
            }
          } else {
            assert.isTrue(result._tag === "Failure")
            if (result._tag === "Failure") {
              assert.strictEqual(result.failure.reason._tag, "FeatureNotSupported")
              assert.include(result.failure.message, "2.10")
            }
            assert.strictEqual(yield* reasonTag(open({ compression: true })), "FeatureNotSupported")
            // Not asking is fine.
            yield* open({ compression: false })
          }
        }))

      // -----------------------------------------------------------------------
      // Put and get
      // -----------------------------------------------------------------------

      it.effect("puts and gets every size around the chunk boundaries, however the input is cut", () =>
        Effect.gen(function*() {
          const chunk = KiB
          const store = yield* open({ chunkSize: chunk })
          const sizes = [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk + 7]
          for (const size of sizes) {
            const data = pattern(size, size)
            const cuts: Array<[string, Array<Uint8Array>]> = [
              ["one piece", size === 0 ? [] : [data]],
              ["chunk-sized pieces", piecesOf(data, chunk)],
              ["odd pieces", piecesOf(data, 333)],
              ["single bytes", piecesOf(data, 1)],
              ["with empty pieces", [new Uint8Array(0), ...piecesOf(data, 700), new Uint8Array(0)]]
            ]
            for (const [how, pieces] of cuts) {
              const name = `size-${size}`
              const info = yield* store.put(name, Stream.fromIterable(pieces))
              assert.strictEqual(info.size, size, how)
              assert.strictEqual(info.chunks, Math.ceil(size / chunk), how)
              assert.strictEqual(info.digest, digestOf(data), how)
              assert.strictEqual(info.name, name)
              assert.strictEqual(info.bucket, store.bucket)
              assert.match(info.nuid, /^[0-9A-Za-z]{22}$/)
              assert.strictEqual(info.deleted, false)
              assert.deepStrictEqual(info.options, { maxChunkSize: chunk })
              equalBytes(yield* store.getBytes(name), data)
              const streamed = yield* Stream.runCollect(store.get(name))
              assert.isTrue(streamed.every((piece) => piece.length <= chunk))
              equalBytes(Buffer.concat(streamed), data)
            }
          }
        }))

      it.effect("concurrent puts of one name all succeed: each replaces the one before", () =>
        Effect.gen(function*() {
          const store = yield* open()
          const count = 8
          const puts = yield* Effect.all(
            Array.from({ length: count }, (_, i) => store.putBytes("contended", `version ${i}`)),
            { concurrency: "unbounded" }
          )
          // Each put's meta is a compare-and-set on the name's last revision: a
          // conflict is retried, so every put lands, one after the other.
          const revisions = puts.map((info) => info.revision).sort((a, b) => a - b)
          assert.strictEqual(new Set(revisions).size, count)
          const last = puts.find((info) => info.revision === revisions[count - 1])!
          assert.strictEqual(text(yield* store.getBytes("contended")), `version ${puts.indexOf(last)}`)
        }))

      it.effect("puts and gets with the default chunk size", () =>
        Effect.gen(function*() {
          const store = yield* open()
          for (const size of [0, 1, defaultChunk - 1, defaultChunk, defaultChunk + 1, 3 * defaultChunk + 7]) {
            const data = pattern(size, 3)
            const info = yield* store.putBytes("object", data)
            assert.strictEqual(info.chunks, Math.ceil(size / defaultChunk))
            assert.deepStrictEqual(info.options, { maxChunkSize: defaultChunk })
            equalBytes(yield* store.getBytes("object"), data)
          }
          // A string is stored as UTF-8.
          yield* store.putBytes("text", "File mock ✓")
          assert.strictEqual(text(yield* store.getBytes("text")), "File mock ✓")
        }))

      it.effect("counts the bytes put and got per bucket, once per transfer", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB })
          const put = yield* Metric.value(ObjectStore.bytesPut(store.bucket))
          assert.strictEqual(put.count, 0)
          yield* store.putBytes("a", pattern(3 * KiB + 5))
          yield* store.putBytes("b", "hello")
          assert.strictEqual((yield* Metric.value(ObjectStore.bytesPut(store.bucket))).count, 3 * KiB + 10)
          equalBytes(yield* store.getBytes("a"), pattern(3 * KiB + 5))
          assert.strictEqual((yield* Metric.value(ObjectStore.bytesGot(store.bucket))).count, 3 * KiB + 5)
          // A get stopped after its first chunk counts what it read from the bucket (read ahead included).
          yield* Stream.runDrain(Stream.take(store.get("a"), 1))
          const partly = (yield* Metric.value(ObjectStore.bytesGot(store.bucket))).count - (3 * KiB + 5)
          assert.isAtLeast(partly, KiB)
          assert.isAtMost(partly, 3 * KiB + 5)
          // A failed put stores nothing and counts nothing.
          const failedPut = yield* store.put("c", Stream.concat(Stream.succeed(pattern(KiB)), Stream.fail("boom"))).pipe(
            Effect.flip
          )
          assert.strictEqual(failedPut, "boom")
          assert.strictEqual((yield* Metric.value(ObjectStore.bytesPut(store.bucket))).count, 3 * KiB + 10)
          const series = (yield* Metric.snapshot).filter((metric) =>
            metric.attributes?.["nats.object_store.bucket"] === store.bucket
          )
          assert.deepStrictEqual(series.map((metric) => metric.id).sort(), [
            "nats.object_store.get.bytes",
            "nats.object_store.put.bytes"
          ])
        }))

      it.effect("streams 64 MiB through with the default chunk size", () =>
        Effect.gen(function*() {
          const store = yield* open()
          const piece = pattern(MiB, 9)
          const source = Stream.range(1, 64, 1).pipe(Stream.map(() => piece))
          const expected = createHash("sha256")
          for (let i = 0; i < 64; i++) expected.update(piece)
          const info = yield* store.put("big", source)
          assert.strictEqual(info.size, 64 * MiB)
          assert.strictEqual(info.chunks, 64 * MiB / defaultChunk)
          const read = createHash("sha256")
          let size = 0
          yield* store.get("big").pipe(Stream.runForEach((bytes) =>
            Effect.sync(() => {
              read.update(bytes)
              size += bytes.length
            })
          ))
          assert.strictEqual(size, 64 * MiB)
          assert.strictEqual(read.digest("hex"), expected.digest("hex"))
        }))

      it.effect("a chunk size in the meta overrides the store's for that put", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: 4 * KiB })
          const data = pattern(10 * KiB)
          const info = yield* store.put({ name: "custom", options: { maxChunkSize: KiB } }, Stream.make(data))
          assert.strictEqual(info.chunks, 10)
          assert.deepStrictEqual(info.options, { maxChunkSize: KiB })
          equalBytes(yield* store.getBytes("custom"), data)
          assert.strictEqual(
            yield* reasonTag(store.put({ name: "bad", options: { maxChunkSize: -1 } }, Stream.make(data))),
            "InvalidOption"
          )
        }))

      it.effect("stores names with slashes, spaces, dots and non-ASCII under their padded base64url", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB })
          const names = ["a/b.txt", "with space", "dots.in.the.name", "é", "日本語/ファイル.bin", "emoji 🎉", "a"]
          for (const [i, name] of names.entries()) {
            const data = pattern(1500 + i, i)
            yield* store.putBytes({ name, description: `file ${i}` }, data)
            equalBytes(yield* store.getBytes(name), data)
            const info = yield* store.info(name)
            assert.strictEqual(info.name, name)
            assert.strictEqual(info.description, `file ${i}`)
            const meta = yield* lastOn(store.bucket, `$O.${store.bucket}.M.${metaToken(name)}`)
            assert.isTrue(Option.isSome(meta), name)
          }
          assert.strictEqual(metaToken("a/b.txt"), "YS9iLnR4dA==")
          assert.strictEqual(metaToken("é"), "w6k=")
          const listed = (yield* store.list()).map((info) => info.name).sort()
          assert.deepStrictEqual(listed, [...names].sort())
        }))

      it.effect("writes the meta canonically: padded digest, real mtime, header arrays, rollup", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB })
          const before = Date.now()
          const info = yield* store.putBytes({
            name: "canonical",
            description: "described",
            headers: { "Content-Type": "text/plain", "X-Many": ["1", "2"] },
            metadata: { owner: "tests" }
          }, pattern(2 * KiB + 1))
          const stored = yield* lastOn(store.bucket, `$O.${store.bucket}.M.${metaToken("canonical")}`)
          assert.isTrue(Option.isSome(stored))
          const msg = Option.getOrThrow(stored)
          assert.deepStrictEqual(msg.headers?.["Nats-Rollup"], ["sub"])
          const json = JSON.parse(text(msg.data))
          assert.deepStrictEqual(Object.keys(json), [
            "name",
            "description",
            "headers",
            "metadata",
            "options",
            "bucket",
            "nuid",
            "size",
            "mtime",
            "chunks",
            "digest"
          ])
          assert.deepStrictEqual(json.headers, { "Content-Type": ["text/plain"], "X-Many": ["1", "2"] })
          assert.deepStrictEqual(json.options, { max_chunk_size: KiB })
          assert.match(json.digest, /^SHA-256=[A-Za-z0-9_-]{43}=$/)
          assert.strictEqual(json.digest, info.digest)
          assert.strictEqual(json.nuid, info.nuid)
          assert.strictEqual(json.size, 2 * KiB + 1)
          assert.strictEqual(json.chunks, 3)
          assert.match(json.mtime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
          assert.isAtLeast(Date.parse(json.mtime), before - 1000)
          assert.strictEqual(info.mtime.toISOString(), json.mtime)
          assert.deepStrictEqual(info.headers, { "Content-Type": ["text/plain"], "X-Many": ["1", "2"] })
          assert.deepStrictEqual(info.metadata, { owner: "tests" })
          assert.strictEqual(info.revision, msg.seq)
        }))

      it.effect("replacing an object removes the old chunks", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB })
          const first = yield* store.putBytes("doc", pattern(5 * KiB, 1))
          const second = yield* store.putBytes("doc", pattern(2 * KiB + 3, 2))
          assert.notStrictEqual(first.nuid, second.nuid)
          assert.isAbove(second.revision, first.revision)
          assert.isTrue(Option.isNone(yield* lastOn(store.bucket, chunkSubject(first))))
          equalBytes(yield* store.getBytes("doc"), pattern(2 * KiB + 3, 2))
          const state = yield* streamState(store.bucket)
          assert.strictEqual(state.messages, 3 + 1, "three chunks and one meta")
          assert.deepStrictEqual((yield* store.list()).map((info) => info.nuid), [second.nuid])
        }))

      // -----------------------------------------------------------------------
      // Meta operations
      // -----------------------------------------------------------------------

      it.effect("info and delete: absent and deleted objects are not found, chunks go", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB })
          const missing = yield* reasonOf(store.info("nothing"))
          assert.strictEqual(missing._tag, "ObjectNotFound")
          assert.include(missing.message, "nothing")
          const info = yield* store.putBytes("gone", pattern(3 * KiB))
          assert.deepStrictEqual(yield* store.info("gone"), info)
          yield* store.delete("gone")
          assert.strictEqual(yield* reasonTag(store.info("gone")), "ObjectNotFound")
          assert.strictEqual(yield* reasonTag(store.getBytes("gone")), "ObjectNotFound")
          assert.strictEqual(yield* reasonTag(store.delete("gone")), "ObjectNotFound")
          assert.strictEqual(yield* reasonTag(store.delete("never")), "ObjectNotFound")
          assert.isTrue(Option.isNone(yield* lastOn(store.bucket, chunkSubject(info))))
          // The deletion is a meta message of its own, as other clients write it.
          const marker = Option.getOrThrow(yield* lastOn(store.bucket, `$O.${store.bucket}.M.${metaToken("gone")}`))
          const json = JSON.parse(text(marker.data))
          assert.strictEqual(json.deleted, true)
          assert.strictEqual(json.size, 0)
          assert.strictEqual(json.chunks, 0)
          assert.strictEqual(json.nuid, info.nuid)
          assert.deepStrictEqual(yield* store.list(), [])
          // The name can be used again.
          yield* store.putBytes("gone", "back")
          assert.strictEqual(text(yield* store.getBytes("gone")), "back")
        }))

      it.effect("refuses empty object names", () =>
        Effect.gen(function*() {
          const store = yield* open()
          assert.strictEqual(yield* reasonTag(store.putBytes("", "x")), "InvalidObjectName")
          assert.strictEqual(yield* reasonTag(store.getBytes("")), "InvalidObjectName")
          assert.strictEqual(yield* reasonTag(store.info("")), "InvalidObjectName")
          assert.strictEqual(yield* reasonTag(store.delete("")), "InvalidObjectName")
          assert.strictEqual(yield* reasonTag(store.linkBucket("", "other")), "InvalidObjectName")
          assert.strictEqual(yield* reasonTag(store.updateMeta("", { name: "x" })), "InvalidObjectName")
        }))

      it.effect("refuses names too long for the server's protocol line before sending anything, and keeps the connection", () =>
        Effect.gen(function*() {
          const store = yield* open()
          const bucket = store.bucket
          const nats = yield* client
          const limit = nats.server.maxControlLine
          // The longest line a name goes into is the direct get of its meta,
          // `PUB $JS.API.DIRECT.GET.OBJ_<bucket>.$O.<bucket>.M.<base64url(name)> <inbox> <size>`:
          // a name of `bytes` UTF-8 bytes whose request subject alone is `length` long.
          const requestPrefix = `$JS.API.DIRECT.GET.OBJ_${bucket}.$O.${bucket}.M.`.length
          const nameOfLine = (length: number) => "n".repeat(Math.floor((length - requestPrefix) / 4) * 3)
          const overLimit = nameOfLine(limit)
          // Fewer characters than the limit allows, more bytes.
          const wide = "é".repeat(overLimit.length / 2 + 16)
          // Room for the verb, a reply inbox of 50 or so and the size.
          const nearLimit = `${nameOfLine(limit - 160).slice(1)}ü`

          const dir = yield* temporaryDirectory
          let pulled = 0
          const source = Stream.fromEffect(Effect.sync(() => {
            pulled++
            return bytes("never read")
          }))
          yield* store.putBytes("kept", "short")
          for (const long of [overLimit, wide]) {
            const refusals: ReadonlyArray<readonly [string, Effect.Effect<unknown, ObjectStoreError.ObjectStoreError>]> = [
              ["put", store.put(long, source)],
              ["putBytes", store.putBytes(long, "x")],
              // A file that does not exist: reading it would fail with FileError.
              ["putFile", store.putFile(long, Path.join(dir, "absent"))],
              ["info", store.info(long)],
              ["get", Stream.runDrain(store.get(long))],
              ["getBytes", store.getBytes(long)],
              ["getFile", store.getFile(long, Path.join(dir, "target"))],
              ["delete", store.delete(long)],
              ["link", store.link(long, "kept")],
              ["link to", store.link("alias", long)],
              ["linkBucket", store.linkBucket(long, bucket)],
              ["updateMeta", store.updateMeta(long, { name: "kept" })],
              ["rename", store.updateMeta("kept", { name: long })]
            ]
            for (const [what, refused] of refusals) {
              const reason = yield* reasonOf(refused)
              assert.strictEqual(reason._tag, "InvalidObjectName", `${what}: ${reason.message}`)
              assert.include(reason.message, "too long", what)
              assert.include(reason.message, `max_control_line of ${limit}`, what)
            }
          }
          assert.strictEqual(pulled, 0)
          assert.deepStrictEqual(Fs.readdirSync(dir), [])
          // Only the object put before is in the bucket, unchanged.
          assert.strictEqual((yield* streamState(bucket)).messages, 2)
          assert.strictEqual(text(yield* store.getBytes("kept")), "short")

          // Bucket names go into the same subjects, twice.
          const longBucket = "B".repeat(10_000)
          for (
            const [what, refused] of [
              ["make", ObjectStore.make({ bucket: longBucket })],
              ["linkBucket", store.linkBucket("to-bucket", longBucket)]
            ] as const
          ) {
            const reason = yield* reasonOf(refused as Effect.Effect<unknown, ObjectStoreError.ObjectStoreError>)
            assert.strictEqual(reason._tag, "InvalidBucketName", `${what}: ${reason.message}`)
            assert.include(reason.message, `max_control_line of ${limit}`, what)
          }

          // A name just within the limit works end to end, and the connection is intact.
          const data = pattern(3 * KiB)
          const stored = yield* store.putBytes(nearLimit, data)
          assert.strictEqual(stored.name, nearLimit)
          equalBytes(yield* store.getBytes(nearLimit), data)
          assert.strictEqual((yield* store.info(nearLimit)).size, data.length)
          const renamed = `${nearLimit.slice(1)}v`
          yield* store.updateMeta(nearLimit, { name: renamed })
          yield* store.link(nearLimit, renamed)
          equalBytes(yield* store.getBytes(nearLimit), data)
          yield* store.delete(nearLimit)
          yield* store.delete(renamed)
          assert.deepStrictEqual((yield* store.list()).map((info) => info.name), ["kept"])
          yield* store.putBytes("after", "fine")
          assert.strictEqual(text(yield* store.getBytes("after")), "fine")
        }))

      it.effect("lists the objects that are not deleted", () =>
        Effect.gen(function*() {
          const store = yield* open()
          assert.deepStrictEqual(yield* store.list(), [])
          for (const name of ["one", "two", "three"]) yield* store.putBytes(name, name)
          yield* store.delete("two")
          yield* store.putBytes("one", "again")
          const listed = yield* store.list()
          assert.deepStrictEqual(listed.map((info) => info.name).sort(), ["one", "three"])
          assert.deepStrictEqual(listed.find((info) => info.name === "one")!.size, 5)
        }))

      it.effect("watch: the current entries, then every change", () =>
        Effect.gen(function*() {
          const store = yield* open()
          yield* store.putBytes("a", "1")
          yield* store.putBytes("b", "2")
          const events = yield* Queue.unbounded<ObjectStore.ObjectInfo>()
          const watching = yield* store.watch().pipe(Stream.runForEach((info) => Queue.offer(events, info)), Effect.forkChild)
          const initial = [yield* Queue.take(events), yield* Queue.take(events)]
          assert.deepStrictEqual(initial.map((info) => info.name), ["a", "b"])
          yield* store.putBytes("c", "3")
          yield* store.delete("a")
          const c = yield* Queue.take(events)
          const a = yield* Queue.take(events)
          assert.deepStrictEqual([c.name, c.deleted], ["c", false])
          assert.deepStrictEqual([a.name, a.deleted], ["a", true])
          yield* Fiber.interrupt(watching)
        }))

      it.effect("watch with afterRevision gives every change after that revision", () =>
        Effect.gen(function*() {
          const store = yield* open()
          yield* store.putBytes("before", "1")
          const from = yield* store.putBytes("from", "2")
          yield* store.putBytes("after", "3")
          yield* store.delete("before")
          const infos = yield* store.watch({ afterRevision: from.revision }).pipe(Stream.take(2), Stream.runCollect)
          assert.deepStrictEqual(infos.map((info) => [info.name, info.deleted]), [["after", false], ["before", true]])
        }))

      it.effect("openWatch starts the watch when it returns, however late the Stream is read", () =>
        Effect.scoped(Effect.gen(function*() {
          const store = yield* open()
          yield* store.putBytes("before", "1")
          const updates = yield* store.openWatch({ updatesOnly: true })
          // Each put rolls its meta up: older servers (2.9.10) move a consumer that
          // has not delivered "after" yet past it, so the watch must be reading already.
          const after = yield* store.putBytes("after", "2")
          const later = yield* store.putBytes("later", "3")
          const infos = yield* updates.pipe(Stream.take(2), Stream.runCollect)
          assert.deepStrictEqual(infos.map((info) => [info.name, info.revision]), [
            ["after", after.revision],
            ["later", later.revision]
          ])
        })))

      // nats-server 2.9 moved a consumer past what it had not delivered on any rollup
      // of a subject it matched (fixed in 2.10.11): a watch that fell behind its
      // bucket could miss an object written just before another.
      requires(it, adapter, "watches that never skip an object behind a rollup", 2, 10, 11).effect(
        "a watch that falls far behind still sees every object written back to back",
        () =>
          Effect.scoped(Effect.gen(function*() {
            const store = yield* open()
            const updates = yield* store.openWatch({ updatesOnly: true })
            const count = 300
            const written: Array<readonly [string, number]> = []
            for (let i = 0; i < count; i++) {
              const info = yield* store.putBytes(`burst-${i}`, `${i}`)
              written.push([info.name, info.revision])
            }
            const seen = yield* updates.pipe(Stream.take(count), Stream.runCollect)
            assert.deepStrictEqual(seen.map((info) => [info.name, info.revision] as const), written)
          }))
      )

      it.effect("watch options: ignoreDeletes, includeHistory, updatesOnly", () =>
        Effect.gen(function*() {
          const store = yield* open()
          yield* store.putBytes("kept", "1")
          yield* store.putBytes("dropped", "2")
          yield* store.delete("dropped")
          yield* store.putBytes("last", "3")

          const withDeletes = yield* store.watch().pipe(Stream.take(3), Stream.runCollect)
          assert.deepStrictEqual(withDeletes.map((info) => [info.name, info.deleted]), [
            ["kept", false],
            ["dropped", true],
            ["last", false]
          ])
          const withoutDeletes = yield* store.watch({ ignoreDeletes: true }).pipe(Stream.take(2), Stream.runCollect)
          assert.deepStrictEqual(withoutDeletes.map((info) => info.name), ["kept", "last"])
          // Every meta message in the stream, in order (rollup keeps one per name).
          const history = yield* store.watch({ includeHistory: true }).pipe(Stream.take(3), Stream.runCollect)
          assert.deepStrictEqual(history.map((info) => info.revision), withDeletes.map((info) => info.revision))

          // updatesOnly: nothing that was there before the watch, opened before the write
          // (the watch starts when `openWatch` returns, not when it is read).
          const [first] = yield* Effect.scoped(Effect.gen(function*() {
            const updates = yield* store.openWatch({ updatesOnly: true })
            yield* store.putBytes("new-0", "x")
            return yield* updates.pipe(Stream.take(1), Stream.runCollect)
          }))
          assert.match(first!.name, /^new-\d+$/)
        }))

      it.effect("links to objects in this and other buckets, and to buckets", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB })
          const other = yield* open({ prefix: "other" })
          const data = pattern(3 * KiB + 5)
          yield* store.putBytes("target", data)
          const elsewhere = yield* other.putBytes("remote", "in another bucket")

          const link = yield* store.link("alias", "target")
          assert.deepStrictEqual(link.options?.link, { bucket: store.bucket, name: "target" })
          assert.strictEqual(link.size, 0)
          assert.strictEqual(link.bucket, store.bucket)
          assert.match(link.nuid, /^[0-9A-Za-z]{22}$/)
          equalBytes(yield* store.getBytes("alias"), data)
          assert.deepStrictEqual((yield* store.info("alias")).options?.link, { bucket: store.bucket, name: "target" })

          yield* store.link("remote-alias", elsewhere)
          assert.strictEqual(text(yield* store.getBytes("remote-alias")), "in another bucket")

          // Links to links, to deleted objects, and over objects are refused.
          assert.strictEqual(yield* reasonTag(store.link("again", "alias")), "LinkNotAllowed")
          assert.strictEqual(
            yield* reasonTag(store.link("ghost", { ...elsewhere, deleted: true })),
            "LinkNotAllowed"
          )
          assert.strictEqual(yield* reasonTag(store.link("target", "alias")), "LinkNotAllowed")
          yield* store.putBytes("occupied", "x")
          const taken = yield* reasonOf(store.link("occupied", "target"))
          assert.strictEqual(taken._tag, "ObjectAlreadyExists")
          assert.strictEqual(yield* reasonTag(store.link("to-nothing", "nothing")), "ObjectNotFound")
          // An existing link may be pointed elsewhere.
          yield* store.link("alias", elsewhere)
          assert.strictEqual(text(yield* store.getBytes("alias")), "in another bucket")

          const bucketLink = yield* store.linkBucket("whole", other.bucket)
          assert.deepStrictEqual(bucketLink.options?.link, { bucket: other.bucket })
          assert.strictEqual(yield* reasonTag(store.getBytes("whole")), "LinkIsBucket")
          assert.strictEqual(yield* reasonTag(store.linkBucket("bad", "not.a.bucket")), "InvalidBucketName")

          // Deleting a link leaves its target alone.
          yield* store.delete("remote-alias")
          assert.strictEqual(text(yield* other.getBytes("remote")), "in another bucket")

          // A link whose bucket went away.
          yield* other.destroy()
          assert.strictEqual(yield* reasonTag(store.getBytes("alias")), "BucketNotFound")
        }))

      it.effect("updateMeta renames and redescribes, keeping content and options", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB })
          const data = pattern(2 * KiB + 9)
          const original = yield* store.putBytes({
            name: "draft",
            description: "first",
            headers: { a: "1" },
            metadata: { m: "1" }
          }, data)

          const described = yield* store.updateMeta("draft", { name: "draft", description: "second" })
          assert.strictEqual(described.description, "second")
          assert.strictEqual(described.headers, undefined)
          assert.strictEqual(described.metadata, undefined)
          assert.strictEqual(described.nuid, original.nuid)

          const renamed = yield* store.updateMeta("draft", { name: "final", metadata: { m: "2" } })
          assert.strictEqual(renamed.name, "final")
          assert.deepStrictEqual(renamed.metadata, { m: "2" })
          assert.deepStrictEqual(renamed.options, { maxChunkSize: KiB })
          assert.strictEqual(renamed.digest, original.digest)
          assert.strictEqual(renamed.size, original.size)
          assert.strictEqual(yield* reasonTag(store.info("draft")), "ObjectNotFound")
          assert.isTrue(Option.isNone(yield* lastOn(store.bucket, `$O.${store.bucket}.M.${metaToken("draft")}`)))
          equalBytes(yield* store.getBytes("final"), data)
          assert.deepStrictEqual((yield* store.list()).map((info) => info.name), ["final"])

          yield* store.putBytes("other", "x")
          assert.strictEqual(yield* reasonTag(store.updateMeta("other", { name: "final" })), "ObjectAlreadyExists")
          assert.strictEqual(yield* reasonTag(store.updateMeta("absent", { name: "x" })), "ObjectNotFound")
          yield* store.delete("other")
          assert.strictEqual(yield* reasonTag(store.updateMeta("other", { name: "y" })), "ObjectNotFound")
          // A deleted name can be taken by a rename.
          yield* store.updateMeta("final", { name: "other" })
          equalBytes(yield* store.getBytes("other"), data)
        }))

      it.effect("seals and destroys the bucket", () =>
        Effect.gen(function*() {
          const store = yield* open()
          yield* store.putBytes("frozen", "data")
          const sealed = yield* store.seal()
          assert.isTrue(sealed.sealed)
          assert.isTrue((yield* store.status()).sealed)
          assert.strictEqual(text(yield* store.getBytes("frozen")), "data")
          assert.strictEqual(yield* reasonTag(store.putBytes("more", "data")), "BucketSealed")
          assert.strictEqual(yield* reasonTag(store.delete("frozen")), "BucketSealed")
          yield* store.destroy()
          assert.strictEqual(yield* reasonTag(store.info("frozen")), "BucketNotFound")
          assert.strictEqual(yield* reasonTag(store.status()), "BucketNotFound")
        }))

      it.effect("the bucket's ttl is its stream's max age", () =>
        Effect.gen(function*() {
          const store = yield* open({ ttl: "90 seconds" })
          assert.isTrue(Duration.equals((yield* store.status()).ttl, Duration.seconds(90)))
          const stream = yield* Effect.flatMap(client, (nats) => nats.jetstream.streams.info(`OBJ_${store.bucket}`))
          assert.isTrue(Duration.equals(stream.config.maxAge, Duration.seconds(90)))
        }))

      // -----------------------------------------------------------------------
      // Failures
      // -----------------------------------------------------------------------

      it.effect("a source that fails after some chunks leaves no meta and no chunk", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB })
          yield* store.putBytes("keep", "the old object")
          const before = yield* streamState(store.bucket)
          const source = Stream.fromIterable(piecesOf(pattern(5 * KiB), KiB)).pipe(
            Stream.concat(Stream.fail("source broke" as const))
          )
          const error = yield* Effect.flip(store.put("keep", source))
          assert.strictEqual(error, "source broke")
          assert.strictEqual(text(yield* store.getBytes("keep")), "the old object")
          const after = yield* streamState(store.bucket)
          assert.strictEqual(after.messages, before.messages)
          assert.strictEqual(after.bytes, before.bytes)
          yield* Effect.flip(store.put("new", source))
          assert.strictEqual(yield* reasonTag(store.info("new")), "ObjectNotFound")
          assert.strictEqual((yield* streamState(store.bucket)).messages, before.messages)
        }))

      it.effect("an interrupted put leaves no meta and no chunk", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB, publishWindow: 4 })
          const pulledAll = yield* Deferred.make<void>()
          const stuck = yield* Deferred.make<void>()
          const source = Stream.fromIterable(piecesOf(pattern(10 * KiB), KiB)).pipe(
            Stream.concat(Stream.fromEffectDrain(Deferred.succeed(pulledAll, undefined).pipe(
              Effect.andThen(Deferred.await(stuck))
            )))
          )
          const put = yield* store.put("interrupted", source).pipe(Effect.forkChild)
          // With 4 acks in flight, the source is pulled past its 10th chunk
          // only once earlier chunks are stored.
          yield* Deferred.await(pulledAll)
          assert.isAbove((yield* streamState(store.bucket)).messages, 0)
          yield* Fiber.interrupt(put)
          assert.strictEqual(yield* reasonTag(store.info("interrupted")), "ObjectNotFound")
          assert.strictEqual((yield* streamState(store.bucket)).messages, 0)
        }))

      // -----------------------------------------------------------------------
      // Sweep
      // -----------------------------------------------------------------------

      /** A put of `data` in 1 KiB pieces that stops, some chunks stored, until `resume` completes. */
      const putInFlight = (store: ObjectStore.Bucket, name: string, data: Uint8Array) =>
        Effect.gen(function*() {
          const chunksStored = yield* Deferred.make<void>()
          const resume = yield* Deferred.make<void>()
          const [head, tail] = [data.subarray(0, 4 * KiB), data.subarray(4 * KiB)]
          const source = Stream.fromIterable(piecesOf(head, KiB)).pipe(
            Stream.concat(Stream.fromEffectDrain(
              Deferred.succeed(chunksStored, undefined).pipe(Effect.andThen(Deferred.await(resume)))
            )),
            Stream.concat(Stream.fromIterable(piecesOf(tail, KiB)))
          )
          const fiber = yield* store.put(name, source).pipe(Effect.forkChild)
          // With one ack in flight, the source is pulled past its 4th piece
          // only once the 3rd chunk is stored.
          yield* Deferred.await(chunksStored)
          return { fiber, resume: Deferred.succeed(resume, undefined) }
        })

      /** Chunks under `nuid` with no object of ours: what a writer that died leaves. */
      const publishChunks = (bucket: string, nuid: string, sizes: ReadonlyArray<number>) =>
        Effect.flatMap(client, (nats) =>
          Effect.forEach(sizes, (size, i) => nats.jetstream.publish(`$O.${bucket}.C.${nuid}`, pattern(size, i)), {
            discard: true
          }))

      const publishMeta = (bucket: string, name: string, json: Record<string, unknown>) =>
        Effect.flatMap(client, (nats) =>
          nats.jetstream.publish(`$O.${bucket}.M.${metaToken(name)}`, bytes(JSON.stringify(json)), {
            headers: { "Nats-Rollup": "sub" }
          }))

      const nothingSwept: ObjectStore.SweepResult = { chunks: 0, bytes: 0, nuids: [] }

      it.effect("sweep removes the chunks no object holds and spares objects and the store's puts in flight", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB, publishWindow: 1 })
          const bucket = store.bucket
          yield* store.putBytes("kept", pattern(3 * KiB))
          const dead = "ChunksOfAWriterThatDied"
          yield* publishChunks(bucket, dead, [KiB, KiB, 5])
          // A deletion whose removal of the chunks failed.
          const deleted = "ChunksOfADeletedObject1"
          yield* publishChunks(bucket, deleted, [100])
          yield* publishMeta(bucket, "deleted", { name: "deleted", bucket, nuid: deleted, deleted: true })
          // A meta we do not read may be another client's object.
          const unread = "ChunksOfAMetaWeCannotRead"
          yield* publishChunks(bucket, unread, [10])
          yield* publishMeta(bucket, "unread", { name: 42, bucket, nuid: unread })
          const data = pattern(9 * KiB + 7)
          const inFlight = yield* putInFlight(store, "in-flight", data)

          const swept = yield* store.sweep({ olderThan: 0 })
          assert.deepStrictEqual([...swept.nuids].sort(), [deleted, dead].sort())
          assert.strictEqual(swept.chunks, 4)
          assert.strictEqual(swept.bytes, 2 * KiB + 5 + 100)
          for (const nuid of [dead, deleted]) {
            assert.isTrue(Option.isNone(yield* lastOn(bucket, `$O.${bucket}.C.${nuid}`)), nuid)
          }
          assert.isTrue(Option.isSome(yield* lastOn(bucket, `$O.${bucket}.C.${unread}`)))
          equalBytes(yield* store.getBytes("kept"), pattern(3 * KiB))

          yield* inFlight.resume
          yield* Fiber.join(inFlight.fiber)
          equalBytes(yield* store.getBytes("in-flight"), data)
          assert.deepStrictEqual(yield* store.sweep({ olderThan: 0 }), nothingSwept)
          assert.strictEqual(yield* reasonTag(store.sweep({ olderThan: -1 })), "InvalidOption")
        }))

      it.effect("sweep spares recent chunks by default: another client's put in flight is not harmed", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB })
          // Another client's store: its puts in flight are not this store's.
          const writer = yield* ObjectStore.make({ bucket: store.bucket, chunkSize: KiB, publishWindow: 1 })
          const data = pattern(6 * KiB)
          const inFlight = yield* putInFlight(writer, "elsewhere", data)
          const dead = "ChunksOfAWriterThatDied"
          yield* publishChunks(store.bucket, dead, [KiB])

          assert.deepStrictEqual(yield* store.sweep(), nothingSwept)
          assert.deepStrictEqual(yield* store.sweep({ olderThan: "1 minute" }), nothingSwept)
          yield* inFlight.resume
          yield* Fiber.join(inFlight.fiber)
          equalBytes(yield* store.getBytes("elsewhere"), data)
          assert.deepStrictEqual(yield* store.sweep({ olderThan: 0 }), { chunks: 1, bytes: KiB, nuids: [dead] })
        }))

      it.effect("a bucket at its maxBytes refuses the put with BucketFull and keeps nothing of it", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB, maxBytes: 32 * KiB })
          yield* store.putBytes("small", pattern(4 * KiB))
          const before = yield* streamState(store.bucket)
          const full = yield* reasonOf(store.putBytes("large", pattern(64 * KiB)))
          assert.strictEqual(full._tag, "BucketFull")
          assert.include(full.message, store.bucket)
          assert.strictEqual((yield* streamState(store.bucket)).messages, before.messages)
          assert.strictEqual(yield* reasonTag(store.info("large")), "ObjectNotFound")
          equalBytes(yield* store.getBytes("small"), pattern(4 * KiB))
          // There is still room for what fits.
          yield* store.putBytes("fits", pattern(8 * KiB))
        }))

      it.effect("a corrupted chunk fails the get with DigestMismatch", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB })
          const nats = yield* client
          const info = yield* store.putBytes("corrupt", pattern(3 * KiB))
          // Same sizes, other bytes.
          yield* nats.jetstream.streams.purge(`OBJ_${store.bucket}`, { filter: chunkSubject(info) })
          for (const piece of piecesOf(pattern(3 * KiB, 1), KiB)) yield* nats.jetstream.publish(chunkSubject(info), piece)
          const mismatch = yield* reasonOf(store.getBytes("corrupt"))
          assert.strictEqual(mismatch._tag, "DigestMismatch")
          if (mismatch._tag === "DigestMismatch") {
            assert.strictEqual(mismatch.expected, info.digest)
            assert.strictEqual(mismatch.actual, digestOf(pattern(3 * KiB, 1)))
          }
          // Fewer bytes than the meta says.
          yield* nats.jetstream.streams.purge(`OBJ_${store.bucket}`, { filter: chunkSubject(info) })
          for (const piece of piecesOf(pattern(3 * KiB - 1), KiB)) yield* nats.jetstream.publish(chunkSubject(info), piece)
          assert.strictEqual(yield* reasonTag(store.getBytes("corrupt")), "BadObjectMeta")
        }))

      it.effect("missing chunks fail the get with ObjectStalled instead of hanging", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB, stallTimeout: "300 millis" })
          const nats = yield* client
          const info = yield* store.putBytes("short", pattern(3 * KiB))
          const meta = (patch: Record<string, unknown>) =>
            nats.jetstream.publish(
              `$O.${store.bucket}.M.${metaToken("short")}`,
              bytes(JSON.stringify({
                name: "short",
                bucket: store.bucket,
                nuid: info.nuid,
                size: info.size,
                chunks: info.chunks,
                digest: info.digest,
                ...patch
              })),
              { headers: { "Nats-Rollup": "sub" } }
            )
          // The meta counts a chunk more than the bucket holds.
          yield* meta({ chunks: 4, size: 4 * KiB })
          const stalled = yield* reasonOf(store.getBytes("short"))
          assert.strictEqual(stalled._tag, "ObjectStalled")
          if (stalled._tag === "ObjectStalled") {
            assert.strictEqual(stalled.received, 3)
            assert.strictEqual(stalled.chunks, 4)
          }
          // No chunk at all: the stall timeout ends the wait.
          yield* meta({ nuid: "NoChunksWereEverStored" })
          const started = Date.now()
          assert.strictEqual(yield* reasonTag(store.getBytes("short")), "ObjectStalled")
          assert.isBelow(Date.now() - started, 5000)
        }))

      it.effect("reads chunks of varying sizes and other clients' meta, as nats.go and nats.py write them", () =>
        Effect.gen(function*() {
          const store = yield* open()
          const nats = yield* client
          const nuid = "VaryingChunksFromGo123"
          const pieces = [10, 1000, 3, 500, 1].map((size, i) => pattern(size, i))
          const data = Buffer.concat(pieces)
          for (const piece of pieces) yield* nats.jetstream.publish(`$O.${store.bucket}.C.${nuid}`, piece)
          // nats.go's meta: zero mtime, no description, no deleted.
          const written = yield* nats.jetstream.publish(
            `$O.${store.bucket}.M.${metaToken("from go")}`,
            bytes(JSON.stringify({
              name: "from go",
              options: { max_chunk_size: 131072 },
              bucket: store.bucket,
              nuid,
              size: data.length,
              mtime: "0001-01-01T00:00:00Z",
              chunks: pieces.length,
              // Unpadded, as old nats.js versions wrote it.
              digest: digestOf(data).replace(/=$/, "")
            })),
            { headers: { "Nats-Rollup": "sub" } }
          )
          equalBytes(yield* store.getBytes("from go"), data)
          const info = yield* store.info("from go")
          assert.strictEqual(info.revision, written.seq)
          // The server's time stands in for nats.go's zero mtime.
          assert.isAbove(info.mtime.getUTCFullYear(), 2000)
        }))

      it.effect("a meta that does not decode is BadObjectMeta", () =>
        Effect.gen(function*() {
          const store = yield* open()
          const nats = yield* client
          const subject = `$O.${store.bucket}.M.${metaToken("broken")}`
          const write = (meta: string) => nats.jetstream.publish(subject, bytes(meta))
          yield* write("{not json")
          assert.strictEqual(yield* reasonTag(store.info("broken")), "BadObjectMeta")
          assert.strictEqual(yield* reasonTag(store.getBytes("broken")), "BadObjectMeta")
          // list and watch skip what they cannot read.
          yield* store.putBytes("fine", "fine")
          assert.deepStrictEqual((yield* store.list()).map((info) => info.name), ["fine"])
          // A put replaces it all the same.
          yield* store.putBytes("broken", "fixed")
          assert.strictEqual(text(yield* store.getBytes("broken")), "fixed")

          yield* write(JSON.stringify({ name: 7 }))
          assert.strictEqual(yield* reasonTag(store.getBytes("broken")), "BadObjectMeta")
          yield* write(JSON.stringify({ name: "broken", nuid: "x", size: 1, chunks: 1, digest: "MD5=abc" }))
          assert.strictEqual(yield* reasonTag(store.getBytes("broken")), "BadObjectMeta")
          yield* write(JSON.stringify({ name: "broken", size: 1, chunks: 1 }))
          assert.strictEqual(yield* reasonTag(store.getBytes("broken")), "BadObjectMeta")
        }))

      it.effect("refuses a link set on a put", () =>
        Effect.gen(function*() {
          const store = yield* open()
          const meta = { name: "x", options: { link: { bucket: store.bucket, name: "y" } } } as ObjectStore.ObjectMeta
          assert.strictEqual(yield* reasonTag(store.putBytes(meta, "x")), "LinkNotAllowed")
        }))

      // -----------------------------------------------------------------------
      // Memory
      // -----------------------------------------------------------------------

      it.effect("a slow reader holds the chunks back: the client buffers a bounded number ahead", () =>
        Effect.gen(function*() {
          const nats = yield* client
          let delivered = 0
          // Counts what the port hands to the object store.
          const counting = NatsClient.NatsClient.of({
            ...nats,
            jetstream: {
              ...nats.jetstream,
              ordered: (stream, options) =>
                nats.jetstream.ordered(stream, options).pipe(Stream.tap(() => Effect.sync(() => delivered++)))
            }
          })
          const readAhead = 4
          const chunks = 200
          const store = yield* open({ chunkSize: KiB, readAhead }).pipe(
            Effect.provideService(NatsClient.NatsClient, counting)
          )
          yield* store.putBytes("slow", pattern(chunks * KiB))

          /** Messages the server has sent the consumer of this get; only nats-server answers this. */
          const serverDelivered = Effect.gen(function*() {
            const answer = yield* nats.request(
              `$JS.API.CONSUMER.LIST.OBJ_${store.bucket}`,
              bytes("{}")
            )
            const list = JSON.parse(text(answer.data)) as {
              consumers: Array<{ delivered: { consumer_seq: number } }>
            }
            assert.strictEqual(list.consumers.length, 1)
            return list.consumers[0]!.delivered.consumer_seq
          })

          yield* Effect.scoped(Effect.gen(function*() {
            const pull = yield* Stream.toPull(store.get("slow"))
            let read = 0
            while (read < chunks) {
              read += (yield* pull).length
              // Time for the client to fetch ahead if it would.
              yield* nats.flush
              assert.isAtMost(delivered - read, 1, "the object store reads no more than one chunk ahead")
              if (adapter.name.startsWith("nats-server") && read < chunks - 2 * readAhead) {
                const sent = yield* serverDelivered
                assert.isAtMost(sent - read, 2 * readAhead + 1, `server sent ${sent} chunks with ${read} read`)
              }
            }
          }))
        }))

      // -----------------------------------------------------------------------
      // Applications
      // -----------------------------------------------------------------------

      it.effect("two buckets as services of their own", () =>
        Effect.gen(function*() {
          const images = yield* Images
          const documents = yield* Documents
          assert.strictEqual(images.bucket, "suite_images")
          assert.strictEqual(documents.bucket, "suite_documents")
          yield* images.putBytes("same-name", "an image")
          yield* documents.putBytes("same-name", "a document")
          assert.strictEqual(text(yield* images.getBytes("same-name")), "an image")
          assert.strictEqual(text(yield* documents.getBytes("same-name")), "a document")
          assert.strictEqual((yield* images.info("same-name")).options?.maxChunkSize, KiB)
          assert.strictEqual(Images.options.bucket, "suite_images")
        }).pipe(Effect.provide(Layer.mergeAll(Images.layer, Documents.layer))))

      it.effect("putFile and getFile stream through local files", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: 4 * KiB })
          const dir = yield* temporaryDirectory
          const data = pattern(300 * KiB + 17)
          const source = Path.join(dir, "source.bin")
          Fs.writeFileSync(source, data)
          const info = yield* store.putFile("file", source)
          assert.strictEqual(info.size, data.length)
          assert.strictEqual(info.digest, digestOf(data))

          const target = Path.join(dir, "target.bin")
          const read = yield* store.getFile("file", target)
          assert.strictEqual(read.nuid, info.nuid)
          equalBytes(Fs.readFileSync(target), data)

          assert.strictEqual(yield* reasonTag(store.putFile("missing", Path.join(dir, "nope"))), "FileError")
          assert.strictEqual(yield* reasonTag(store.info("missing")), "ObjectNotFound")
          // A directory opens, and fails on its first read.
          assert.strictEqual(yield* reasonTag(store.putFile("directory", dir)), "FileError")
          assert.strictEqual(yield* reasonTag(store.info("directory")), "ObjectNotFound")
          assert.strictEqual(yield* reasonTag(store.getFile("absent", Path.join(dir, "absent.bin"))), "ObjectNotFound")
          // Below a file: neither the partial file can be written nor removed.
          assert.strictEqual(yield* reasonTag(store.getFile("file", Path.join(source, "below"))), "FileError")
          // A failed get leaves no file behind.
          const nats = yield* client
          yield* nats.jetstream.streams.purge(`OBJ_${store.bucket}`, { filter: chunkSubject(info) })
          for (const piece of piecesOf(pattern(data.length, 5), 4 * KiB)) {
            yield* nats.jetstream.publish(chunkSubject(info), piece)
          }
          const corrupt = Path.join(dir, "corrupt.bin")
          assert.strictEqual(yield* reasonTag(store.getFile("file", corrupt)), "DigestMismatch")
          assert.deepStrictEqual(Fs.readdirSync(dir).sort(), ["source.bin", "target.bin"])
        }))

      it.effect("putFile and getFile move an empty file", () =>
        Effect.gen(function*() {
          const store = yield* open()
          const dir = yield* temporaryDirectory
          const source = Path.join(dir, "empty.bin")
          Fs.writeFileSync(source, new Uint8Array(0))
          const info = yield* store.putFile("empty", source)
          assert.strictEqual(info.size, 0)
          assert.strictEqual(info.chunks, 0)
          assert.strictEqual(info.digest, digestOf(new Uint8Array(0)))
          const target = Path.join(dir, "target.bin")
          yield* store.getFile("empty", target)
          assert.strictEqual(Fs.readFileSync(target).length, 0)
        }))

      // Files are read and written about 1 MiB at a time: chunks of 1000 bytes
      // do not divide 1 MiB, a MiB of them is over IOV_MAX (1024) buffers, and
      // the file ends inside a chunk and inside a read.
      it.effect("putFile and getFile move a file over several reads and writes", () =>
        Effect.gen(function*() {
          // Reads of 4 MiB (whole chunks) and writes of 1 MiB: three reads, nine writes.
          const chunkSize = 10_000
          const store = yield* open({ chunkSize })
          const dir = yield* temporaryDirectory
          const data = pattern(9 * 1024 * KiB + 17)
          const source = Path.join(dir, "source.bin")
          Fs.writeFileSync(source, data)
          const info = yield* store.putFile("file", source)
          assert.strictEqual(info.size, data.length)
          assert.strictEqual(info.chunks, Math.ceil(data.length / chunkSize))
          assert.strictEqual(info.digest, digestOf(data))
          const target = Path.join(dir, "target.bin")
          yield* store.getFile("file", target)
          equalBytes(Fs.readFileSync(target), data)

          // A get that fails after some writes leaves no file behind either.
          const nats = yield* client
          yield* nats.jetstream.streams.purge(`OBJ_${store.bucket}`, { filter: chunkSubject(info) })
          for (const piece of piecesOf(pattern(data.length, 5), chunkSize)) {
            yield* nats.jetstream.publish(chunkSubject(info), piece)
          }
          assert.strictEqual(yield* reasonTag(store.getFile("file", Path.join(dir, "corrupt.bin"))), "DigestMismatch")
          assert.deepStrictEqual(Fs.readdirSync(dir).sort(), ["source.bin", "target.bin"])
        }))

      // -----------------------------------------------------------------------
      // Progress
      // -----------------------------------------------------------------------

      it.effect("put, putFile, get and getFile report their progress up to the object's size and chunks", () =>
        Effect.gen(function*() {
          // Chunks read ahead one at a time: the get's progress sees them one by one.
          const store = yield* open({ chunkSize: KiB, readAhead: 1 })
          const dir = yield* temporaryDirectory
          const data = pattern(80 * KiB + 100)
          const chunks = 81
          // 40 ms a read: the progress is due every few chunks.
          const { clock, now } = yield* steppingClock(40)
          const onClock = Effect.provideService(Clock.Clock, clock)

          const put = progressRecorder(now)
          const info = yield* onClock(
            store.put("streamed", Stream.fromIterable(piecesOf(data, 3000)), { onProgress: put.onProgress })
          )
          assert.strictEqual(info.chunks, chunks)
          assertProgress(put, { bytes: data.length, chunks })
          assert.isAbove(put.events.length, 2)
          assert.isBelow(put.events.length, chunks)

          const got = progressRecorder(now)
          const read = yield* onClock(Stream.runCollect(store.get("streamed", { onProgress: got.onProgress })))
          equalBytes(Buffer.concat(read), data)
          assertProgress(got, { bytes: data.length, total: data.length, chunks })
          assert.isAbove(got.events.length, 2)

          const source = Path.join(dir, "source.bin")
          Fs.writeFileSync(source, data)
          const putFile = progressRecorder(now)
          yield* onClock(store.putFile("file", source, { onProgress: putFile.onProgress }))
          assertProgress(putFile, { bytes: data.length, total: data.length, chunks })

          const getFile = progressRecorder(now)
          const target = Path.join(dir, "target.bin")
          yield* onClock(store.getFile("file", target, { onProgress: getFile.onProgress }))
          equalBytes(Fs.readFileSync(target), data)
          assertProgress(getFile, { bytes: data.length, total: data.length, chunks })

          // An empty object ends at nothing.
          const empty = progressRecorder(now)
          yield* store.put("empty", Stream.empty, { onProgress: empty.onProgress })
          assert.deepStrictEqual(empty.events, [{ bytes: 0, chunks: 0 }])
          const emptyGet = progressRecorder(now)
          assert.strictEqual((yield* store.getBytes("empty")).length, 0)
          yield* Stream.runDrain(store.get("empty", { onProgress: emptyGet.onProgress }))
          assert.deepStrictEqual(emptyGet.events, [{ bytes: 0, total: 0, chunks: 0 }])
        }))

      it.effect("progress is reported at most every 100 ms: with the clock still, only the end", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB })
          const data = pattern(200 * KiB)
          const { clock, now } = yield* steppingClock(0)
          const onClock = Effect.provideService(Clock.Clock, clock)
          const put = progressRecorder(now)
          yield* onClock(store.put("still", Stream.fromIterable(piecesOf(data, KiB)), { onProgress: put.onProgress }))
          assert.deepStrictEqual(put.events, [{ bytes: data.length, chunks: 200 }])
          const got = progressRecorder(now)
          yield* onClock(Stream.runDrain(store.get("still", { onProgress: got.onProgress })))
          assert.deepStrictEqual(got.events, [{ bytes: data.length, total: data.length, chunks: 200 }])
        }))

      it.effect("a failing onProgress fails the transfer with its error: a put stores nothing", () =>
        Effect.gen(function*() {
          const store = yield* open({ chunkSize: KiB })
          const dir = yield* temporaryDirectory
          const data = pattern(20 * KiB)
          const cancel = () => Effect.fail(new Cancelled())

          const putError = yield* Effect.flip(
            store.put("cancelled", Stream.fromIterable(piecesOf(data, KiB)), { onProgress: cancel })
          )
          assert.instanceOf(putError, Cancelled)
          assert.strictEqual(yield* reasonTag(store.info("cancelled")), "ObjectNotFound")
          assert.strictEqual((yield* streamState(store.bucket)).messages, 0)

          const source = Path.join(dir, "source.bin")
          Fs.writeFileSync(source, data)
          assert.instanceOf(yield* Effect.flip(store.putFile("cancelled", source, { onProgress: cancel })), Cancelled)
          assert.strictEqual((yield* streamState(store.bucket)).messages, 0)

          yield* store.putFile("kept", source)
          assert.instanceOf(yield* Effect.flip(Stream.runDrain(store.get("kept", { onProgress: cancel }))), Cancelled)
          const target = Path.join(dir, "target.bin")
          assert.instanceOf(yield* Effect.flip(store.getFile("kept", target, { onProgress: cancel })), Cancelled)
          assert.deepStrictEqual(Fs.readdirSync(dir), ["source.bin"])
        }))
    })
  })
