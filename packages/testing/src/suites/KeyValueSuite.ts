/**
 * The key-value store's behaviour, run against every adapter: the bucket's
 * stream as every client creates it, opening with other options, every
 * operation, compare-and-set conflicts, history limits, markers, key
 * filters, watch order, per-key TTLs (nats-server 2.11), typed buckets and
 * the messages other clients read.
 *
 * One NATS (one server process for `nats-server`) per suite; every test uses
 * buckets of its own.
 *
 * @since 0.1.0
 * @module
 */
import { assert, describe, layer } from "@effect/vitest"
import { NatsClient, NatsHeaders } from "@nats-effect/core"
import { KeyValue, KeyValueError } from "@nats-effect/kv"
import { Duration, Effect, Fiber, Layer, Logger, Metric, Option, Queue, Schema, Stream } from "effect"
import type { Adapter } from "../Adapters.ts"
import { bytes, text, unique } from "../internal/fixtures.ts"
import { lacking, requires } from "../internal/requires.ts"

const client = NatsClient.NatsClient

const open = (options: Partial<KeyValue.KeyValueOptions> = {}) => KeyValue.make({ bucket: unique("kv"), ...options })

const reasonOf = <A, R>(effect: Effect.Effect<A, KeyValueError.KeyValueError, R>) =>
  Effect.map(Effect.flip(effect), (error) => error.reason)

const reasonTag = <A, R>(effect: Effect.Effect<A, KeyValueError.KeyValueError, R>) =>
  Effect.map(reasonOf(effect), (reason) => reason._tag)

const atLeast210 = (version: string) => {
  const [major = 0, minor = 0] = version.split(".").map((part) => Number.parseInt(part, 10))
  return major > 2 || (major === 2 && minor >= 10)
}

/** The value of a get, as text; `undefined` for `None`. */
const valueOf = (found: Option.Option<KeyValue.Entry>) => Option.getOrUndefined(Option.map(found, (e) => text(e.value)))

const summary = (entry: KeyValue.Entry) => [entry.key, entry.operation, text(entry.value)]

/** The last message on a key's subject, as other clients see it. */
const lastOn = (bucket: string, key: string) =>
  Effect.flatMap(client, (nats) => nats.jetstream.getMessage(`KV_${bucket}`, { lastBySubject: `$KV.${bucket}.${key}` }))
    .pipe(Effect.map(Option.getOrThrow))

const Flag = Schema.Struct({ enabled: Schema.Boolean, rollout: Schema.Number })

class Flags extends KeyValue.Service<Flags>()("@nats-effect/testing/KeyValueSuite/Flags", {
  bucket: "suite_flags",
  schema: Flag
}) {}
class Sessions extends KeyValue.Service<Sessions>()("@nats-effect/testing/KeyValueSuite/Sessions", {
  bucket: "suite_sessions",
  history: 2
}) {}

/**
 * Registers the conformance tests of KV buckets for one adapter.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = (adapter: Adapter) =>
  describe(`KeyValue conformance (${adapter.name})`, () => {
    layer(adapter.layer(), { excludeTestServices: true, timeout: "120 seconds" })((it) => {
      // -----------------------------------------------------------------------
      // Bucket
      // -----------------------------------------------------------------------

      it.effect("creates the bucket's stream as nats.go does", () =>
        Effect.gen(function*() {
          const kv = yield* open({ description: "for tests", history: 5, ttl: "1 hour", maxValueSize: 1024 })
          const nats = yield* client
          const { config } = yield* nats.jetstream.streams.info(`KV_${kv.bucket}`)
          assert.deepStrictEqual(config.subjects, [`$KV.${kv.bucket}.>`])
          assert.strictEqual(config.maxMsgsPerSubject, 5)
          assert.isTrue(config.allowRollup)
          assert.isTrue(config.denyDelete)
          assert.isTrue(config.allowDirect)
          assert.strictEqual(config.discard, "new")
          assert.strictEqual(config.maxMsgSize, 1024)
          assert.strictEqual(config.maxBytes, -1)
          assert.strictEqual(config.maxMsgs, -1)
          assert.strictEqual(config.storage, "file")
          assert.strictEqual(config.replicas, 1)
          assert.strictEqual(config.description, "for tests")
          assert.isTrue(Duration.equals(config.maxAge, Duration.hours(1)))
          assert.isTrue(Duration.equals(config.duplicateWindow, Duration.minutes(2)))

          const status = yield* kv.status()
          assert.strictEqual(status.bucket, kv.bucket)
          assert.strictEqual(status.history, 5)
          assert.strictEqual(status.maxValueSize, 1024)
          assert.strictEqual(status.backingStore, "JetStream")
          assert.isTrue(Duration.equals(status.ttl, Duration.hours(1)))
          assert.strictEqual(status.values, 0)
          yield* kv.put("a", "1")
          yield* kv.put("a", "2")
          const after = yield* kv.status()
          assert.strictEqual(after.values, 2)
          assert.isAbove(after.bytes, 0)

          // A TTL shorter than two minutes shortens the duplicate window with it.
          const short = yield* open({ ttl: "30 seconds" })
          const shortConfig = (yield* nats.jetstream.streams.info(`KV_${short.bucket}`)).config
          assert.isTrue(Duration.equals(shortConfig.duplicateWindow, Duration.seconds(30)))
        }))

      it.effect("opening an existing bucket applies only the options given, and says what the server refused", () =>
        Effect.gen(function*() {
          const first = yield* open({ history: 5, description: "first" })
          yield* first.put("kept", "value")
          // Options left out keep what the bucket has.
          const plain = yield* KeyValue.make({ bucket: first.bucket })
          assert.strictEqual((yield* plain.status()).history, 5)
          assert.strictEqual(valueOf(yield* plain.get("kept")), "value")

          const logs = yield* Queue.unbounded<string>()
          const capture = Logger.make(({ message }) => {
            Queue.offerUnsafe(logs, (Array.isArray(message) ? message : [message]).map(String).join(" "))
          })
          const reopened = yield* KeyValue.make({
            bucket: first.bucket,
            history: 3,
            description: "second",
            storage: "memory"
          }).pipe(Effect.provide(Logger.layer([capture])))
          const status = yield* reopened.status()
          assert.strictEqual(status.history, 3)
          assert.strictEqual(status.description, "second")
          // The server cannot change the storage of a stream.
          assert.strictEqual(status.storage, "file")
          const warnings = yield* Queue.takeAll(logs)
          assert.strictEqual(warnings.length, 1)
          assert.include(warnings[0], "storage")
          assert.include(warnings[0], first.bucket)
          assert.strictEqual(valueOf(yield* reopened.get("kept")), "value")
        }))

      it.effect("refuses invalid bucket names and options", () =>
        Effect.gen(function*() {
          for (const bucket of ["", "a.b", "with space", "a*", "a>", "ü"]) {
            assert.strictEqual(yield* reasonTag(KeyValue.make({ bucket })), "InvalidBucketName", bucket)
          }
          for (const history of [0, 65, 1.5]) {
            assert.strictEqual(yield* reasonTag(open({ history })), "InvalidOption", `history ${history}`)
          }
          assert.strictEqual(yield* reasonTag(open({ maxValueSize: -2 })), "InvalidOption")
          assert.strictEqual(yield* reasonTag(open({ replicas: 0 })), "InvalidOption")
          assert.strictEqual(yield* reasonTag(open({ limitMarkerTtl: "500 millis" })), "InvalidOption")
          // 64 is every client's limit, and allowed.
          assert.strictEqual((yield* (yield* open({ history: 64 })).status()).history, 64)
          // Through the layer too.
          const error = yield* Layer.build(KeyValue.layer({ bucket: "no/slash" })).pipe(Effect.scoped, Effect.flip)
          assert.strictEqual(error._tag, "KeyValueError")
          assert.strictEqual(error.reason._tag, "InvalidBucketName")
        }))

      it.effect("asks for metadata and compression only of servers that have them", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const result = yield* Effect.result(open({ metadata: { owner: "tests" } }))
          if (atLeast210(nats.server.version)) {
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
          }
        }))

      it.effect("a missing bucket is BucketNotFound; destroy removes it", () =>
        Effect.gen(function*() {
          const kv = yield* open()
          yield* kv.put("a", "1")
          yield* kv.destroy()
          assert.strictEqual(yield* reasonTag(kv.get("a")), "BucketNotFound")
          assert.strictEqual(yield* reasonTag(kv.put("a", "2")), "BucketNotFound")
          assert.strictEqual(yield* reasonTag(kv.status()), "BucketNotFound")
          assert.strictEqual(yield* reasonTag(Stream.runDrain(kv.keys())), "BucketNotFound")
          assert.strictEqual(yield* reasonTag(kv.destroy()), "BucketNotFound")
        }))

      // -----------------------------------------------------------------------
      // Keys and values
      // -----------------------------------------------------------------------

      it.effect("puts and gets values with their revisions", () =>
        Effect.gen(function*() {
          const kv = yield* open({ history: 10 })
          const before = Date.now()
          const r1 = yield* kv.put("greeting", "hello")
          const r2 = yield* kv.put("other", bytes("x"))
          const r3 = yield* kv.put("greeting", new Uint8Array([0, 255, 1]))
          assert.deepStrictEqual([r1, r2, r3], [1, 2, 3])
          const entry = Option.getOrThrow(yield* kv.get("greeting"))
          assert.strictEqual(entry.bucket, kv.bucket)
          assert.strictEqual(entry.key, "greeting")
          assert.deepStrictEqual([...entry.value], [0, 255, 1])
          assert.strictEqual(entry.revision, 3)
          assert.strictEqual(entry.operation, "PUT")
          assert.strictEqual(entry.delta, 0)
          assert.instanceOf(entry.created, Date)
          assert.isAtLeast(entry.created.getTime(), before - 1000)
          // An earlier revision of the key, but not a revision of another key.
          assert.strictEqual(valueOf(yield* kv.get("greeting", { revision: r1 })), "hello")
          assert.isTrue(Option.isNone(yield* kv.get("greeting", { revision: r2 })))
          assert.isTrue(Option.isNone(yield* kv.get("greeting", { revision: 99 })))
          assert.isTrue(Option.isNone(yield* kv.get("never-written")))
          for (const revision of [0, -1, 1.5]) {
            assert.strictEqual(yield* reasonTag(kv.get("greeting", { revision })), "InvalidOption", `${revision}`)
          }
          // An empty value is a value.
          yield* kv.put("empty", "")
          assert.strictEqual(valueOf(yield* kv.get("empty")), "")
          // Every character NATS allows in a key.
          const key = "a-b/c_d=e.F9"
          yield* kv.put(key, "ok")
          assert.strictEqual(valueOf(yield* kv.get(key)), "ok")
          assert.strictEqual(text((yield* lastOn(kv.bucket, key)).data), "ok")
        }))

      it.effect("counts the operations per bucket and operation", () =>
        Effect.gen(function*() {
          const kv = yield* open({ history: 5 })
          const count = (operation: Parameters<typeof KeyValue.operations>[1]) =>
            Effect.map(Metric.value(KeyValue.operations(kv.bucket, operation)), (state) => state.count)
          const revision = yield* kv.put("a", "1")
          yield* kv.put("b", "2")
          yield* kv.update("a", "3", revision)
          yield* Effect.flip(kv.create("a", "4")) // refused: a failed operation is counted too
          yield* kv.get("a")
          yield* kv.delete("b")
          yield* Stream.runDrain(kv.keys())
          yield* Stream.runDrain(kv.history("a"))
          yield* Stream.runDrain(Stream.take(kv.watch(), 1))
          const counts: Record<string, number> = {}
          for (const operation of ["get", "put", "create", "update", "delete", "purge", "keys", "history", "watch"] as const) {
            counts[operation] = yield* count(operation)
          }
          assert.deepStrictEqual(counts, {
            get: 1,
            put: 2,
            create: 1,
            update: 1,
            delete: 1,
            purge: 0,
            keys: 1,
            history: 1,
            watch: 1
          })
          const named = (yield* Metric.snapshot).filter((metric) => metric.attributes?.["nats.kv.bucket"] === kv.bucket)
          assert.isTrue(named.every((metric) => metric.id === "nats.kv.operations"))
        }))

      it.effect("refuses invalid keys and filters with InvalidKey", () =>
        Effect.gen(function*() {
          const kv = yield* open()
          for (const key of ["", ".a", "a.", "a..b", "a b", "a*", "a.>", "ü", "a:b", "a+b"]) {
            const reason = yield* reasonOf(kv.put(key, "x"))
            assert.strictEqual(reason._tag, "InvalidKey", key)
            if (reason._tag === "InvalidKey") assert.strictEqual(reason.key, key)
            assert.strictEqual(yield* reasonTag(kv.get(key)), "InvalidKey", key)
            assert.strictEqual(yield* reasonTag(kv.create(key, "x")), "InvalidKey", key)
            assert.strictEqual(yield* reasonTag(kv.update(key, "x", 1)), "InvalidKey", key)
            assert.strictEqual(yield* reasonTag(kv.delete(key)), "InvalidKey", key)
            assert.strictEqual(yield* reasonTag(kv.purge(key)), "InvalidKey", key)
          }
          // Valid characters, but too long for the server's protocol line (which
          // would close the connection): refused before anything is sent.
          const long = "k".repeat(4000)
          assert.strictEqual(yield* reasonTag(kv.put(long, "x")), "InvalidKey")
          assert.strictEqual(yield* reasonTag(kv.get(long)), "InvalidKey")
          assert.strictEqual(yield* reasonTag(Stream.runDrain(kv.keys(long))), "InvalidKey")
          for (const filter of ["", ".a", "a.", "a..b", "a*", "a.>.b", "a.b>"]) {
            assert.strictEqual(yield* reasonTag(Stream.runDrain(kv.keys(filter))), "InvalidKey", filter)
            assert.strictEqual(yield* reasonTag(Stream.runDrain(kv.history(filter))), "InvalidKey", filter)
          }
          assert.deepStrictEqual(yield* Stream.runCollect(kv.keys()), [])
          // The longest key allowed works on every path, direct get included.
          const longest = "k".repeat(4096 - 128 - `$JS.API.DIRECT.GET.KV_${kv.bucket}.$KV.${kv.bucket}.`.length)
          yield* kv.put(longest, "long")
          assert.strictEqual(valueOf(yield* kv.get(longest)), "long")
          assert.deepStrictEqual(yield* Stream.runCollect(kv.keys(longest)), [longest])
          assert.strictEqual(yield* reasonTag(kv.put(longest + "k", "x")), "InvalidKey")
        }))

      it.effect("values larger than maxValueSize or max_payload are ValueTooLarge", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const kv = yield* open({ maxValueSize: 10 })
          yield* kv.put("fits", new Uint8Array(10))
          const reason = yield* reasonOf(kv.put("big", new Uint8Array(11)))
          assert.strictEqual(reason._tag, "ValueTooLarge")
          if (reason._tag === "ValueTooLarge") {
            assert.strictEqual(reason.key, "big")
            assert.strictEqual(reason.size, 11)
            assert.strictEqual(reason.maxSize, 10)
          }
          // The server counts the compare-and-set header against the limit too.
          const withHeader = yield* reasonOf(kv.create("new", new Uint8Array(10)))
          assert.strictEqual(withHeader._tag, "ValueTooLarge")
          if (withHeader._tag === "ValueTooLarge") assert.deepStrictEqual([withHeader.size, withHeader.maxSize], [10, 10])
          assert.strictEqual(yield* reasonTag(kv.update("fits", new Uint8Array(11), 1)), "ValueTooLarge")
          assert.isTrue(Option.isNone(yield* kv.get("big")))

          const unlimited = yield* open()
          const over = nats.server.maxPayload + 1
          assert.strictEqual(yield* reasonTag(unlimited.put("huge", new Uint8Array(over))), "ValueTooLarge")
          // max_payload counts the compare-and-set header too.
          assert.strictEqual(
            yield* reasonTag(unlimited.create("huge", new Uint8Array(nats.server.maxPayload))),
            "ValueTooLarge"
          )
          assert.deepStrictEqual(yield* Stream.runCollect(unlimited.keys()), [])
        }))

      it.effect("create writes only where no live value is, and again after a delete or purge", () =>
        Effect.gen(function*() {
          const kv = yield* open({ history: 10 })
          const r1 = yield* kv.create("lock", "owner-1")
          const taken = yield* reasonOf(kv.create("lock", "owner-2"))
          assert.strictEqual(taken._tag, "KeyExists")
          if (taken._tag === "KeyExists") {
            assert.strictEqual(taken.key, "lock")
            assert.strictEqual(taken.revision, r1)
          }
          assert.strictEqual(valueOf(yield* kv.get("lock")), "owner-1")
          yield* kv.delete("lock")
          const r2 = yield* kv.create("lock", "owner-2")
          assert.isAbove(r2, r1)
          assert.strictEqual(valueOf(yield* kv.get("lock")), "owner-2")
          yield* kv.purge("lock")
          yield* kv.create("lock", "owner-3")
          assert.strictEqual(valueOf(yield* kv.get("lock")), "owner-3")
          // Concurrent creates: exactly one wins.
          const results = yield* Effect.forEach(
            ["a", "b", "c", "d"],
            (who) => Effect.result(kv.create("race", who)),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((result) => result._tag === "Success").length, 1)
          for (const result of results) {
            if (result._tag === "Failure") assert.strictEqual(result.failure.reason._tag, "KeyExists")
          }
        }))

      it.effect("update is a compare-and-set: a conflict is WrongRevision with the current revision", () =>
        Effect.gen(function*() {
          const kv = yield* open()
          const r1 = yield* kv.put("counter", "1")
          const r2 = yield* kv.update("counter", "2", r1)
          assert.isAbove(r2, r1)
          const conflict = yield* reasonOf(kv.update("counter", "3", r1))
          assert.strictEqual(conflict._tag, "WrongRevision")
          if (conflict._tag === "WrongRevision") {
            assert.strictEqual(conflict.key, "counter")
            assert.strictEqual(conflict.expected, r1)
            assert.strictEqual(conflict.current, r2)
          }
          assert.strictEqual(valueOf(yield* kv.get("counter")), "2")
          // A key with no message is at revision 0.
          const missing = yield* reasonOf(kv.update("absent", "x", 5))
          assert.strictEqual(missing._tag, "WrongRevision")
          if (missing._tag === "WrongRevision") assert.strictEqual(missing.current, 0)
          // Delete and purge with a revision are compare-and-set too.
          assert.strictEqual(yield* reasonTag(kv.delete("counter", { revision: r1 })), "WrongRevision")
          assert.strictEqual(yield* reasonTag(kv.purge("counter", { revision: r1 })), "WrongRevision")
          yield* kv.delete("counter", { revision: r2 })
          assert.isTrue(Option.isNone(yield* kv.get("counter")))

          // Concurrent increments with retries on conflict: none is lost.
          yield* kv.put("n", "0")
          const increment = Effect.gen(function*() {
            const current = Option.getOrThrow(yield* kv.get("n"))
            yield* kv.update("n", String(Number(text(current.value)) + 1), current.revision)
          }).pipe(Effect.retry({ while: (error) => error.reason._tag === "WrongRevision" }))
          yield* Effect.all(Array.from({ length: 8 }, () => increment), { concurrency: "unbounded" })
          assert.strictEqual(valueOf(yield* kv.get("n")), "8")
        }))

      it.effect("delete and purge leave markers other clients read; history keeps deletes, loses what a purge removed", () =>
        Effect.gen(function*() {
          const kv = yield* open({ history: 10 })
          yield* kv.put("deleted", "1")
          yield* kv.put("deleted", "2")
          yield* kv.delete("deleted")
          yield* kv.put("purged", "1")
          yield* kv.put("purged", "2")
          yield* kv.purge("purged")
          yield* kv.put("live", "yes")
          assert.isTrue(Option.isNone(yield* kv.get("deleted")))
          assert.isTrue(Option.isNone(yield* kv.get("purged")))

          const deleteMarker = yield* lastOn(kv.bucket, "deleted")
          assert.strictEqual(NatsHeaders.get(deleteMarker.headers, "KV-Operation"), "DEL")
          assert.strictEqual(deleteMarker.data.length, 0)
          const purgeMarker = yield* lastOn(kv.bucket, "purged")
          assert.strictEqual(NatsHeaders.get(purgeMarker.headers, "KV-Operation"), "PURGE")
          assert.strictEqual(NatsHeaders.get(purgeMarker.headers, "Nats-Rollup"), "sub")

          assert.deepStrictEqual((yield* Stream.runCollect(kv.history("deleted"))).map(summary), [
            ["deleted", "PUT", "1"],
            ["deleted", "PUT", "2"],
            ["deleted", "DEL", ""]
          ])
          assert.deepStrictEqual((yield* Stream.runCollect(kv.history("purged"))).map(summary), [
            ["purged", "PURGE", ""]
          ])
          assert.deepStrictEqual(yield* Stream.runCollect(kv.keys()), ["live"])
          // A marker's revision is not a value.
          assert.isTrue(Option.isNone(yield* kv.get("deleted", { revision: deleteMarker.seq })))
          // History of a key never written is empty.
          assert.deepStrictEqual(yield* Stream.runCollect(kv.history("never")), [])
        }))

      it.effect("keeps `history` messages per key, the newest", () =>
        Effect.gen(function*() {
          const kv = yield* open({ history: 3 })
          for (let i = 1; i <= 5; i++) yield* kv.put("k", String(i))
          yield* kv.put("other", "x")
          const history = yield* Stream.runCollect(kv.history("k"))
          assert.deepStrictEqual(history.map((entry) => text(entry.value)), ["3", "4", "5"])
          assert.deepStrictEqual(history.map((entry) => entry.revision), [3, 4, 5])
          // delta: how many matching messages the server had left after each.
          assert.deepStrictEqual(history.map((entry) => entry.delta), [2, 1, 0])
          assert.isTrue(Option.isNone(yield* kv.get("k", { revision: 2 })))
          assert.strictEqual(valueOf(yield* kv.get("k", { revision: 3 })), "3")
          // The default history is 1.
          const single = yield* open()
          yield* single.put("k", "1")
          yield* single.put("k", "2")
          assert.deepStrictEqual((yield* Stream.runCollect(single.history("k"))).map((e) => text(e.value)), ["2"])
        }))

      it.effect("lists keys, filtered with NATS wildcards", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const kv = yield* open()
          for (const key of ["flags.dark", "flags.beta", "flags.beta.users", "cfg.db.url", "cfg.db.pool", "top"]) {
            yield* kv.put(key, "v")
          }
          yield* kv.delete("flags.beta")
          const sorted = (keys: ReadonlyArray<string>) => [...keys].sort()
          assert.deepStrictEqual(
            sorted(yield* Stream.runCollect(kv.keys())),
            ["cfg.db.pool", "cfg.db.url", "flags.beta.users", "flags.dark", "top"]
          )
          assert.deepStrictEqual(yield* Stream.runCollect(kv.keys("flags.*")), ["flags.dark"])
          assert.deepStrictEqual(sorted(yield* Stream.runCollect(kv.keys("cfg.>"))), ["cfg.db.pool", "cfg.db.url"])
          assert.deepStrictEqual(yield* Stream.runCollect(kv.keys("top")), ["top"])
          assert.deepStrictEqual(yield* Stream.runCollect(kv.keys("nothing.>")), [])
          const several = yield* Effect.result(Stream.runCollect(kv.keys(["flags.*", "top"])))
          if (atLeast210(nats.server.version)) {
            assert.isTrue(several._tag === "Success")
          } else {
            assert.isTrue(several._tag === "Failure" && several.failure.reason._tag === "FeatureNotSupported")
            assert.strictEqual(yield* reasonTag(Stream.runDrain(kv.watch({ key: ["a", "b"] }))), "FeatureNotSupported")
          }
        }))

      it.effect("purgeDeletes removes old markers with their history, and the history behind new ones", () =>
        Effect.gen(function*() {
          const kv = yield* open({ history: 10 })
          yield* kv.put("a", "1")
          yield* kv.delete("a")
          yield* kv.put("b", "1")
          yield* kv.put("b", "2")
          yield* kv.purge("b")
          yield* kv.put("c", "live")
          // Markers are newer than the default 30 minutes: they stay, what is behind them goes.
          yield* kv.purgeDeletes()
          assert.deepStrictEqual((yield* Stream.runCollect(kv.history("a"))).map(summary), [["a", "DEL", ""]])
          assert.deepStrictEqual((yield* Stream.runCollect(kv.history("b"))).map(summary), [["b", "PURGE", ""]])
          yield* kv.purgeDeletes({ olderThan: 0 })
          assert.deepStrictEqual(yield* Stream.runCollect(kv.history("a")), [])
          assert.deepStrictEqual(yield* Stream.runCollect(kv.history("b")), [])
          assert.strictEqual(valueOf(yield* kv.get("c")), "live")
          assert.strictEqual((yield* kv.status()).values, 1)
        }))

      // -----------------------------------------------------------------------
      // Watch
      // -----------------------------------------------------------------------

      it.effect("watch gives the current values in revision order, then every change", () =>
        Effect.gen(function*() {
          const kv = yield* open({ history: 5 })
          yield* kv.put("b", "1")
          yield* kv.put("a", "1")
          yield* kv.put("b", "2")
          yield* kv.put("gone", "1")
          yield* kv.delete("gone")
          const events = yield* Queue.unbounded<KeyValue.Entry>()
          const watching = yield* kv.watch().pipe(Stream.runForEach((e) => Queue.offer(events, e)), Effect.forkChild)
          const initial = [yield* Queue.take(events), yield* Queue.take(events), yield* Queue.take(events)]
          assert.deepStrictEqual(initial.map(summary), [["a", "PUT", "1"], ["b", "PUT", "2"], ["gone", "DEL", ""]])
          assert.deepStrictEqual(initial.map((e) => e.revision), [2, 3, 5])
          assert.deepStrictEqual(initial.map((e) => e.delta), [2, 1, 0])
          // Each update is awaited before the next write: nats-server 2.9.10
          // moves every consumer past the messages it has not delivered yet
          // when a purge (here the purge marker's rollup) happens.
          yield* kv.put("c", "1")
          assert.deepStrictEqual(summary(yield* Queue.take(events)), ["c", "PUT", "1"])
          yield* kv.purge("a")
          assert.deepStrictEqual(summary(yield* Queue.take(events)), ["a", "PURGE", ""])
          yield* kv.put("b", "3")
          assert.deepStrictEqual(summary(yield* Queue.take(events)), ["b", "PUT", "3"])
          yield* Fiber.interrupt(watching)

          const everything = yield* kv.watch({ include: "history" }).pipe(Stream.take(5), Stream.runCollect)
          assert.deepStrictEqual(everything.map(summary), [
            ["b", "PUT", "1"],
            ["b", "PUT", "2"],
            ["gone", "PUT", "1"],
            ["gone", "DEL", ""],
            ["c", "PUT", "1"]
          ])
          const noDeletes = yield* kv.watch({ ignoreDeletes: true }).pipe(Stream.take(2), Stream.runCollect)
          assert.deepStrictEqual(noDeletes.map(summary), [["c", "PUT", "1"], ["b", "PUT", "3"]])
          const filtered = yield* kv.watch({ key: "b", include: "history" }).pipe(Stream.take(3), Stream.runCollect)
          assert.deepStrictEqual(filtered.map((e) => text(e.value)), ["1", "2", "3"])
        }))

      // nats-server 2.9 moved a consumer past what it had not delivered on any purge
      // of a subject it matched (fixed in 2.10.11): a watch that fell behind could
      // miss a change written just before a purge marker.
      requires(it, adapter, "watches that never skip a change behind a purge", 2, 10, 11).effect(
        "a watch that falls far behind still sees every change, purges among them",
        () =>
          Effect.scoped(Effect.gen(function*() {
            // Every value kept (12 per key), so only purges remove any.
            const kv = yield* open({ history: 64 })
            const changes = yield* kv.openWatch({ include: "updatesOnly" })
            const written: Array<ReadonlyArray<string>> = []
            for (let i = 0; i < 300; i++) {
              const key = `k.${i % 25}`
              if (i % 10 === 9) {
                yield* kv.purge(key)
                written.push([key, "PURGE", ""])
              } else {
                yield* kv.put(key, `${i}`)
                written.push([key, "PUT", `${i}`])
              }
            }
            yield* kv.put("end", "")
            written.push(["end", "PUT", ""])
            // A purge removes its key's earlier values, unless the watch had already
            // pulled them; every other key's values stay, and none may be missed.
            const purgedLater = (i: number) =>
              written.slice(i + 1).some(([key, operation]) => key === written[i]![0] && operation === "PURGE")
            const seen = (yield* changes.pipe(
              Stream.map(summary),
              Stream.takeUntil(([key]) => key === "end"),
              Stream.runCollect
            )).map((change) => change.join())
            let at = 0
            for (const [i, change] of written.entries()) {
              if (seen[at] === change.join()) at++
              else assert.isTrue(purgedLater(i), `the watch missed ${change.join()} (change ${i})`)
            }
            assert.strictEqual(at, seen.length, "every change seen once, in order")
          }))
      )

      it.effect("watch with updatesOnly gives only what changes after it starts, filtered by wildcards", () =>
        Effect.scoped(Effect.gen(function*() {
          const kv = yield* open()
          yield* kv.put("cfg.before", "x")
          // Opened before the writes: the watch starts when `openWatch` returns, not when it is read.
          const updates = yield* kv.openWatch({ key: "cfg.>", include: "updatesOnly" })
          yield* kv.put("other", "not watched")
          yield* kv.put("cfg.new.0", "x")
          const [first] = yield* updates.pipe(Stream.take(1), Stream.runCollect)
          assert.match(first!.key, /^cfg\.new\.\d+$/)
        })))

      it.effect("openWatch starts the watch when it returns, however late the Stream is read", () =>
        Effect.scoped(Effect.gen(function*() {
          const kv = yield* open()
          yield* kv.put("cfg.before", "1")
          const updates = yield* kv.openWatch({ key: "cfg.>", include: "updatesOnly", ignoreDeletes: true })
          yield* kv.put("cfg.after", "2")
          yield* kv.delete("cfg.before")
          yield* kv.put("cfg.last", "3")
          const entries = yield* updates.pipe(Stream.take(2), Stream.runCollect)
          assert.deepStrictEqual(entries.map(summary), [["cfg.after", "PUT", "2"], ["cfg.last", "PUT", "3"]])
        })))

      it.effect("a watch gets both values of a key put twice back to back with history 1, every time", () =>
        Effect.gen(function*() {
          // The server delivers a message into the watch's pull request as it
          // is stored: the first value reaches the watch before the second
          // replaces it. nats-server does so from another thread, which a
          // loaded machine can hold back past the second put: there the first
          // may be gone, never out of order or twice.
          for (let attempt = 0; attempt < 10; attempt++) {
            const kv = yield* open({ history: 1 })
            const seen = yield* Effect.scoped(Effect.gen(function*() {
              const changes = yield* kv.openWatch({ key: "a" })
              yield* kv.put("a", "1")
              const last = yield* kv.put("a", "2")
              return yield* changes.pipe(
                Stream.takeUntil((entry) => entry.revision === last),
                Stream.map((entry) => `${text(entry.value)}@${entry.revision}`),
                Stream.runCollect
              )
            }))
            if (adapter.name === "memory") assert.deepStrictEqual(seen, ["1@1", "2@2"], `attempt ${attempt}`)
            else assert.oneOf(seen.join(), ["1@1,2@2", "2@2"], `attempt ${attempt}`)
          }
        }))

      it.effect("openWatch hands over what was there when it returned, even a value overwritten right after (history 1)", () =>
        Effect.gen(function*() {
          for (const include of ["lastValue", "history"] as const) {
            for (let attempt = 0; attempt < 5; attempt++) {
              const kv = yield* open({ history: 1 })
              yield* kv.put("a", "before")
              const seen = yield* Effect.scoped(Effect.gen(function*() {
                const changes = yield* kv.openWatch({ key: "a", include })
                const last = yield* kv.put("a", "after")
                return yield* changes.pipe(
                  Stream.takeUntil((entry) => entry.revision === last),
                  Stream.map((entry) => text(entry.value)),
                  Stream.runCollect
                )
              }))
              assert.deepStrictEqual(seen, ["before", "after"], `${include}, attempt ${attempt}`)
            }
          }
        }))

      it.effect("watch with afterRevision gives every message after that revision", () =>
        Effect.gen(function*() {
          const kv = yield* open({ history: 5 })
          yield* kv.put("a", "1")
          const from = yield* kv.put("b", "2")
          yield* kv.delete("a")
          yield* kv.put("b", "3")
          const entries = yield* kv.watch({ include: { afterRevision: from } }).pipe(Stream.take(2), Stream.runCollect)
          assert.deepStrictEqual(entries.map(summary), [["a", "DEL", ""], ["b", "PUT", "3"]])
        }))

      // -----------------------------------------------------------------------
      // Per-key TTL (nats-server 2.11)
      // -----------------------------------------------------------------------

      requires(it, adapter, "per-key TTL", 2, 11).effect("a key with a TTL goes once it has passed, and watchers see it go as a purge", () =>
        Effect.scoped(Effect.gen(function*() {
          const nats = yield* client
          const kv = yield* open({ limitMarkerTtl: "1 second" })
          // The bucket's stream as nats.go makes it with LimitMarkerTTL.
          const { config } = yield* nats.jetstream.streams.info(`KV_${kv.bucket}`)
          assert.deepStrictEqual(
            [config.allowMsgTtl, Duration.toMillis(config.subjectDeleteMarkerTtl)],
            [true, 1000]
          )
          assert.strictEqual(Duration.toMillis((yield* kv.status()).limitMarkerTtl), 1000)
          const changes = yield* kv.openWatch({ include: "updatesOnly" })
          const created = yield* kv.create("session", "s-1", { ttl: "1 second" })
          yield* kv.put("kept", "k")
          assert.strictEqual(NatsHeaders.get((yield* lastOn(kv.bucket, "session")).headers, "Nats-TTL"), "1s")
          const [put, , expired] = yield* changes.pipe(Stream.take(3), Stream.runCollect)
          assert.deepStrictEqual([put!.revision, expired!.key, expired!.operation], [created, "session", "PURGE"])
          assert.isAtLeast(expired!.created.getTime() - put!.created.getTime(), 1000)
          assert.isTrue(Option.isNone(yield* kv.get("session")))
          assert.strictEqual(valueOf(yield* kv.get("kept")), "k")
          assert.deepStrictEqual(yield* Stream.runCollect(kv.keys()), ["kept"])
          // An expired key can be created again, and put with a TTL.
          yield* kv.create("session", "s-2")
          const again = yield* kv.put("session", "s-3", { ttl: "1 hour" })
          assert.strictEqual(NatsHeaders.get((yield* lastOn(kv.bucket, "session")).headers, "Nats-TTL"), "1h0m0s")
          assert.strictEqual(Option.getOrThrow(yield* kv.get("session")).revision, again)
        })))

      requires(it, adapter, "per-key TTL", 2, 11).effect("refuses a per-key TTL on a bucket not made for it with InvalidOption", () =>
        Effect.gen(function*() {
          const kv = yield* open()
          const refused = yield* reasonOf(kv.put("a", "1", { ttl: "1 minute" }))
          assert.strictEqual(refused._tag, "InvalidOption")
          assert.include(refused.message, "limitMarkerTtl")
          assert.strictEqual(yield* reasonTag(kv.create("a", "1", { ttl: "1 minute" })), "InvalidOption")
          assert.isTrue(Option.isNone(yield* kv.get("a")))
        }))

      lacking(it, adapter, "per-key TTL", 2, 11).effect("refuses limit markers and per-key TTLs before nats-server 2.11 with FeatureNotSupported", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const bucket = unique("kv")
          const markers = yield* reasonOf(KeyValue.make({ bucket, limitMarkerTtl: "1 minute" }))
          assert.deepInclude(markers, {
            _tag: "FeatureNotSupported",
            feature: "bucket limit markers",
            requiredVersion: "2.11.0",
            serverVersion: nats.server.version
          })
          assert.strictEqual((yield* Effect.flip(nats.jetstream.streams.info(`KV_${bucket}`))).reason._tag, "StreamNotFound")
          const kv = yield* open()
          const ttl = yield* reasonOf(kv.put("a", "1", { ttl: "1 minute" }))
          assert.deepInclude(ttl, { _tag: "FeatureNotSupported", requiredVersion: "2.11.0", serverVersion: nats.server.version })
          assert.strictEqual(yield* reasonTag(kv.create("a", "1", { ttl: "1 minute" })), "FeatureNotSupported")
          assert.isTrue(Option.isNone(yield* kv.get("a")))
        }))

      // -----------------------------------------------------------------------
      // Typed buckets and services
      // -----------------------------------------------------------------------

      it.effect("typed buckets encode and decode values with their Schema; a bad stored value is BadValue", () =>
        Effect.gen(function*() {
          const raw = yield* open({ history: 5 })
          const flags = yield* KeyValue.make({ bucket: raw.bucket, schema: Flag })
          const r1 = yield* flags.put("dark", { enabled: true, rollout: 0.5 })
          assert.deepStrictEqual(Option.getOrThrow(yield* flags.get("dark")).value, { enabled: true, rollout: 0.5 })
          // Stored as JSON, as other clients store objects.
          assert.deepStrictEqual(JSON.parse(text(Option.getOrThrow(yield* raw.get("dark")).value)), {
            enabled: true,
            rollout: 0.5
          })
          const r2 = yield* flags.update("dark", { enabled: false, rollout: 0 }, r1)
          assert.strictEqual(yield* reasonTag(flags.create("dark", { enabled: true, rollout: 1 })), "KeyExists")

          const broken = yield* raw.put("broken", "not json")
          const bad = yield* reasonOf(flags.get("broken"))
          assert.strictEqual(bad._tag, "BadValue")
          if (bad._tag === "BadValue") {
            assert.strictEqual(bad.key, "broken")
            assert.strictEqual(bad.revision, broken)
          }
          const wrongShape = yield* raw.put("shape", JSON.stringify({ enabled: "yes" }))
          const badShape = yield* reasonOf(flags.get("shape"))
          assert.isTrue(badShape._tag === "BadValue" && badShape.revision === wrongShape)
          // A value that does not encode is refused before anything is written.
          const unencodable = yield* reasonOf(flags.put("dark", { enabled: "no" } as never))
          assert.strictEqual(unencodable._tag, "BadValue")
          assert.strictEqual(Option.getOrThrow(yield* flags.get("dark")).revision, r2)

          // Markers have no value.
          yield* flags.delete("dark")
          const history = yield* Stream.runCollect(flags.history("dark"))
          assert.deepStrictEqual(history.map((e) => [e.operation, e.value]), [
            ["PUT", { enabled: true, rollout: 0.5 }],
            ["PUT", { enabled: false, rollout: 0 }],
            ["DEL", undefined]
          ])
          // A watch meets the bad value as a typed failure, not a crash.
          const watched = yield* reasonOf(Stream.runDrain(flags.watch({ key: "broken" })))
          assert.strictEqual(watched._tag, "BadValue")
          // Values with no JSON form of their own go through the Schema's JSON codec.
          const events = KeyValue.typed(Schema.Struct({ at: Schema.Date, tags: Schema.ReadonlySet(Schema.String) }))(raw)
          const at = new Date("2026-01-02T03:04:05.678Z")
          yield* events.put("event", { at, tags: new Set(["a", "b"]) })
          const event = Option.getOrThrow(yield* events.get("event")).value
          assert.strictEqual(event.at.getTime(), at.getTime())
          assert.deepStrictEqual([...event.tags], ["a", "b"])
          // typed() views an open byte bucket the same way.
          const viewed = KeyValue.typed(Flag)(raw)
          yield* viewed.put("viewed", { enabled: true, rollout: 1 })
          assert.deepStrictEqual(Option.getOrThrow(yield* flags.get("viewed")).value, { enabled: true, rollout: 1 })
        }))

      it.effect("layer({ bucket, schema }) provides a typed bucket as TypedKeyValue(schema); a bad value is BadValue", () =>
        Effect.gen(function*() {
          const bucket = unique("kv")
          const Status = Schema.Literals(["up", "down"])
          const Buckets = Layer.mergeAll(
            KeyValue.layer({ bucket, schema: Flag }),
            KeyValue.layer({ bucket: `${bucket}_status`, schema: Status })
          )
          yield* Effect.gen(function*() {
            const flags = yield* KeyValue.TypedKeyValue(Flag)
            const statuses = yield* KeyValue.TypedKeyValue(Status)
            assert.strictEqual(flags.bucket, bucket)
            assert.strictEqual(statuses.bucket, `${bucket}_status`)
            const revision = yield* flags.put("dark", { enabled: true, rollout: 0.25 })
            const entry = Option.getOrThrow(yield* flags.get("dark"))
            assert.deepStrictEqual([entry.value, entry.revision], [{ enabled: true, rollout: 0.25 }, revision])
            yield* statuses.put("api", "up")
            assert.strictEqual(Option.getOrThrow(yield* statuses.get("api")).value, "up")

            // Written by another client: the typed bucket fails with the key and revision, and goes on.
            const raw = yield* KeyValue.make({ bucket })
            const broken = yield* raw.put("broken", JSON.stringify({ enabled: 1 }))
            const bad = yield* reasonOf(flags.get("broken"))
            assert.strictEqual(bad._tag, "BadValue")
            if (bad._tag === "BadValue") assert.deepStrictEqual([bad.key, bad.revision], ["broken", broken])
            assert.strictEqual(Option.getOrThrow(yield* flags.get("dark")).revision, revision)
            yield* flags.destroy()
            yield* statuses.destroy()
          }).pipe(Effect.provide(Buckets))
        }))

      it.effect("buckets declared as services are provided by their own layers", () =>
        Effect.gen(function*() {
          const flags = yield* Flags
          const sessions = yield* Sessions
          yield* flags.put("beta", { enabled: true, rollout: 0.1 })
          yield* sessions.put("user-1", "token")
          assert.strictEqual(flags.bucket, "suite_flags")
          assert.strictEqual(sessions.bucket, "suite_sessions")
          assert.strictEqual(Option.getOrThrow(yield* flags.get("beta")).value.rollout, 0.1)
          assert.strictEqual(valueOf(yield* sessions.get("user-1")), "token")
          assert.isTrue(Option.isNone(yield* sessions.get("beta")))
          assert.strictEqual((yield* sessions.status()).history, 2)
          assert.strictEqual(Sessions.options.bucket, "suite_sessions")
          yield* flags.destroy()
          yield* sessions.destroy()
        }).pipe(Effect.provide(Layer.mergeAll(Flags.layer, Sessions.layer))))
    })
  })
