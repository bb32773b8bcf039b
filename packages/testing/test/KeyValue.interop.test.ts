/**
 * Interoperability with `@nats-io/kv` 3.4 on a real nats-server: what we
 * write it reads, what it writes we read (values, revisions, deletes and
 * purges, history, TTL, compare-and-set, the keys of Effect's KeyValueStore,
 * per-key TTLs on nats-server 2.11 and later).
 *
 * nats.js differences met here: its `get` returns delete and purge markers
 * as entries (we return `None`, as nats.go does), and it creates buckets
 * without `deny_delete` (nats.go sets it; we open such buckets as they are).
 */
import { assert, describe, layer } from "@effect/vitest"
import { type KV, type KvEntry, Kvm } from "@nats-io/kv"
import { KeyValue } from "@nats-effect/kv"
import { NatsServer } from "@nats-effect/testing"
import { unique } from "../src/internal/fixtures.ts"
import { requires } from "../src/internal/requires.ts"
import { NatsJs, NatsJsLive } from "./interop/natsjs.ts"
import { Duration, Effect, Fiber, Layer, Option, Queue, Stream } from "effect"


const text = (data: Uint8Array) => new TextDecoder().decode(data)

/** The same bucket opened by both clients; created by `creator`. */
const bothSides = (creator: "ours" | "nats.js", options: { history?: number; ttl?: number } = {}) =>
  Effect.gen(function*() {
    const bucket = unique("interop_kv")
    const kvm = new Kvm(yield* NatsJs)
    const ttl = options.ttl === undefined ? undefined : Duration.millis(options.ttl)
    if (creator === "nats.js") {
      const js = yield* Effect.promise(() => kvm.create(bucket, options))
      const ours = yield* KeyValue.make({ bucket })
      return { ours, js }
    }
    const ours = yield* KeyValue.make({ bucket, history: options.history, ttl })
    const js = yield* Effect.promise(() => kvm.open(bucket))
    return { ours, js }
  })

/** An entry as both clients describe it. */
const view = (entry: KeyValue.Entry | KvEntry) => ({
  key: entry.key,
  operation: entry.operation,
  value: text(entry.value),
  revision: entry.revision,
  created: entry.created.getTime()
})

const jsHistory = (js: KV, key: string) =>
  Effect.promise(async () => {
    const out: Array<KvEntry> = []
    for await (const entry of await js.history({ key })) out.push(entry)
    return out
  })

const jsKeys = (js: KV, filter?: string) =>
  Effect.promise(async () => {
    const out: Array<string> = []
    for await (const key of await js.keys(filter)) out.push(key)
    return out.sort()
  })

const jsGet = (js: KV, key: string, revision?: number) =>
  Effect.promise(() => js.get(key, revision === undefined ? undefined : { revision }))

for (const server of NatsServer.matrix()) describe(`interop with @nats-io/kv 3.4 (nats-server ${server.version})`, () => {
  layer(
    NatsJsLive.pipe(Layer.provideMerge(NatsServer.layerClient({ bin: server.bin }))),
    { excludeTestServices: true, timeout: "120 seconds" }
  )((it) => {
    it.effect("a bucket we create, nats.js opens with the same settings", () =>
      Effect.gen(function*() {
        const { js, ours } = yield* bothSides("ours", { history: 7, ttl: 90_000 })
        const theirs = yield* Effect.promise(() => js.status())
        const status = yield* ours.status()
        assert.strictEqual(theirs.bucket, ours.bucket)
        assert.strictEqual(theirs.history, 7)
        assert.strictEqual(theirs.ttl, 90_000)
        assert.strictEqual(theirs.history, status.history)
        assert.strictEqual(theirs.ttl, Duration.toMillis(status.ttl))
      }))

    it.effect("a bucket nats.js creates, we open with its settings, changing nothing", () =>
      Effect.gen(function*() {
        const { js, ours } = yield* bothSides("nats.js", { history: 4, ttl: 60_000 })
        const status = yield* ours.status()
        assert.strictEqual(status.history, 4)
        assert.isTrue(Duration.equals(status.ttl, Duration.minutes(1)))
        const theirs = yield* Effect.promise(() => js.status())
        assert.strictEqual(theirs.history, 4)
        assert.strictEqual(theirs.ttl, 60_000)
      }))

    it.effect("what we write, nats.js reads: values, revisions, deletes, purges, history, keys", () =>
      Effect.gen(function*() {
        const { js, ours } = yield* bothSides("ours", { history: 10 })
        const r1 = yield* ours.put("cfg.a", "1")
        const r2 = yield* ours.put("cfg.a", new Uint8Array([0, 1, 2]))
        yield* ours.put("cfg.b", "b")
        yield* ours.create("cfg.c", "c")
        yield* ours.update("cfg.c", "c2", yield* ours.put("cfg.c", "c1"))
        yield* ours.delete("cfg.b")
        yield* ours.put("purged", "x")
        yield* ours.purge("purged")

        const a = (yield* jsGet(js, "cfg.a"))!
        assert.strictEqual(a.revision, r2)
        assert.deepStrictEqual([...a.value], [0, 1, 2])
        assert.strictEqual(a.operation, "PUT")
        assert.deepStrictEqual(view(a), view(Option.getOrThrow(yield* ours.get("cfg.a"))))
        assert.strictEqual(text((yield* jsGet(js, "cfg.a", r1))!.value), "1")
        assert.strictEqual((yield* jsGet(js, "cfg.b"))!.operation, "DEL")
        assert.strictEqual((yield* jsGet(js, "purged"))!.operation, "PURGE")
        assert.strictEqual((yield* jsGet(js, "cfg.c"))!.string(), "c2")

        for (const key of ["cfg.a", "cfg.b", "cfg.c", "purged"]) {
          const theirs = (yield* jsHistory(js, key)).map(view)
          const mine = (yield* Stream.runCollect(ours.history(key))).map(view)
          assert.deepStrictEqual(theirs, mine, key)
        }
        assert.deepStrictEqual(yield* jsKeys(js), ["cfg.a", "cfg.c"])
        assert.deepStrictEqual(yield* jsKeys(js, "cfg.*"), ["cfg.a", "cfg.c"])
        // nats.js creates over our delete marker, and its compare-and-set sees our revisions.
        yield* Effect.promise(() => js.create("cfg.b", "again"))
        const current = Option.getOrThrow(yield* ours.get("cfg.b"))
        yield* Effect.promise(() => js.update("cfg.b", "updated", current.revision))
        const stale = yield* Effect.promise(() => js.update("cfg.b", "late", current.revision).then(() => "written", () => "refused"))
        assert.strictEqual(stale, "refused")
        assert.strictEqual(text(Option.getOrThrow(yield* ours.get("cfg.b")).value), "updated")
      }))

    it.effect("what nats.js writes, we read: values, revisions, deletes, purges, history, keys", () =>
      Effect.gen(function*() {
        const { js, ours } = yield* bothSides("nats.js", { history: 10 })
        const r1 = yield* Effect.promise(() => js.put("users.1", "alice"))
        const r2 = yield* Effect.promise(() => js.put("users.1", "alice2"))
        yield* Effect.promise(() => js.put("users.2", "bob"))
        yield* Effect.promise(() => js.create("users.3", "carol"))
        yield* Effect.promise(() => js.delete("users.2"))
        yield* Effect.promise(() => js.put("gone", "x"))
        yield* Effect.promise(() => js.purge("gone"))

        const entry = Option.getOrThrow(yield* ours.get("users.1"))
        assert.strictEqual(entry.revision, r2)
        assert.strictEqual(text(entry.value), "alice2")
        assert.deepStrictEqual(view(entry), view((yield* jsGet(js, "users.1"))!))
        assert.strictEqual(text(Option.getOrThrow(yield* ours.get("users.1", { revision: r1 })).value), "alice")
        assert.isTrue(Option.isNone(yield* ours.get("users.2")))
        assert.isTrue(Option.isNone(yield* ours.get("gone")))
        for (const key of ["users.1", "users.2", "gone"]) {
          const mine = (yield* Stream.runCollect(ours.history(key))).map(view)
          assert.deepStrictEqual(mine, (yield* jsHistory(js, key)).map(view), key)
        }
        assert.deepStrictEqual(
          (yield* Stream.runCollect(ours.history("users.2"))).map((e) => e.operation),
          ["PUT", "DEL"]
        )
        assert.deepStrictEqual([...(yield* Stream.runCollect(ours.keys("users.*")))].sort(), ["users.1", "users.3"])

        // Our create over their delete; our compare-and-set against their revisions.
        yield* ours.create("users.2", "bob again")
        assert.strictEqual(yield* Effect.flip(ours.create("users.3", "x")).pipe(Effect.map((e) => e.reason._tag)), "KeyExists")
        const r3 = yield* Effect.promise(() => js.put("users.3", "carol2"))
        const conflict = yield* Effect.flip(ours.update("users.3", "x", r3 - 1))
        assert.isTrue(conflict.reason._tag === "WrongRevision" && conflict.reason.current === r3)
        yield* ours.update("users.3", "carol3", r3)
        assert.strictEqual((yield* jsGet(js, "users.3"))!.string(), "carol3")
      }))

    it.effect("Effect's KeyValueStore on a bucket: nats.js reads its keys and values, and writes keys it reads", () =>
      Effect.gen(function*() {
        const { js, ours } = yield* bothSides("ours")
        const store = KeyValue.toKeyValueStore(ours)
        yield* store.set("users:42", "Ada")
        yield* store.set("café:menu du jour", "soupe")
        yield* store.set("", "empty")
        assert.deepStrictEqual(yield* jsKeys(js), ["=", "caf=C3=A9.menu=20du=20jour", "users.42"])
        assert.strictEqual((yield* jsGet(js, "users.42"))!.string(), "Ada")
        assert.strictEqual((yield* jsGet(js, "caf=C3=A9.menu=20du=20jour"))!.string(), "soupe")

        yield* Effect.promise(() => js.put("users.7", "Alan"))
        yield* Effect.promise(() => js.delete("users.42"))
        assert.strictEqual(yield* store.get("users:7"), "Alan")
        assert.isFalse(yield* store.has("users:42"))
        yield* store.clearPrefix("users:")
        assert.deepStrictEqual(yield* jsKeys(js), ["=", "caf=C3=A9.menu=20du=20jour"])
      }))

    it.effect("our watch sees nats.js's writes in order, markers included", () =>
      Effect.gen(function*() {
        const { js, ours } = yield* bothSides("nats.js", { history: 5 })
        yield* Effect.promise(() => js.put("w.before", "0"))
        const events = yield* Queue.unbounded<KeyValue.Entry>()
        const watching = yield* ours.watch({ key: "w.>" }).pipe(
          Stream.runForEach((entry) => Queue.offer(events, entry)),
          Effect.forkChild
        )
        assert.strictEqual((yield* Queue.take(events)).key, "w.before")
        // One write at a time: nats-server 2.9.10 moves consumers past what
        // they have not delivered yet when a purge happens.
        const writes: ReadonlyArray<readonly [() => Promise<unknown>, string, KeyValue.Operation]> = [
          [() => js.put("w.a", "1"), "w.a", "PUT"],
          [() => js.delete("w.before"), "w.before", "DEL"],
          [() => js.purge("w.a"), "w.a", "PURGE"]
        ]
        for (const [write, key, operation] of writes) {
          const revision = yield* Effect.promise(write)
          const entry = yield* Queue.take(events)
          assert.deepStrictEqual([entry.key, entry.operation], [key, operation])
          if (typeof revision === "number") assert.strictEqual(entry.revision, revision)
        }
        yield* Fiber.interrupt(watching)
      }))

    requires(it, { name: `nats-server ${server.version}`, version: server.version }, "per-key TTL", 2, 11).effect(
      "per-key TTLs both ways: a key either client creates with one goes, a purge to both",
      () =>
        Effect.scoped(Effect.gen(function*() {
          const bucket = unique("interop_kv")
          const ours = yield* KeyValue.make({ bucket, limitMarkerTtl: "1 second" })
          const kvm = new Kvm(yield* NatsJs)
          const js = yield* Effect.promise(() => kvm.open(bucket))
          assert.strictEqual((yield* Effect.promise(() => js.status())).markerTTL, 1000)
          const changes = yield* ours.openWatch({ include: "updatesOnly" })
          yield* ours.create("ours", "1", { ttl: "1 second" })
          yield* Effect.promise(() => js.create("theirs", "2", "1s"))
          const seen = (yield* changes.pipe(Stream.take(4), Stream.runCollect)).map((entry) => [entry.key, entry.operation])
          assert.deepStrictEqual(seen.slice(0, 2), [["ours", "PUT"], ["theirs", "PUT"]])
          assert.sameDeepMembers(seen.slice(2), [["ours", "PURGE"], ["theirs", "PURGE"]])
          for (const key of ["ours", "theirs"]) {
            assert.isTrue(Option.isNone(yield* ours.get(key)))
            assert.strictEqual((yield* jsGet(js, key))?.operation, "PURGE")
          }
        }))
    )
  })
})
