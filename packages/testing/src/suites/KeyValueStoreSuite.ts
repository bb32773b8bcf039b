/**
 * Effect's `KeyValueStore` (`effect/persistence`) on a NATS KV bucket, run
 * against every adapter: every method, keys NATS does not take as they are,
 * `clearPrefix`, compare-and-set `modify`, errors, and Effect's own users of
 * the store (`Persistence.layerKvs` with a `PersistedCache` across a restart
 * of the application, `toSchemaStore`, `prefix`).
 *
 * One NATS (one server process for `nats-server`) per suite; every test uses
 * buckets of its own.
 *
 * @since 0.1.0
 * @module
 */
import { assert, describe, layer } from "@effect/vitest"
import { KeyValue, KeyValueError } from "@nats-effect/kv"
import { Effect, Exit, Layer, Option, Schema, Stream } from "effect"
import { KeyValueStore, Persistable, PersistedCache, Persistence } from "effect/persistence"
import type { Adapter } from "../Adapters.ts"
import { bytes, text, unique } from "../internal/fixtures.ts"

/** A new bucket, as the store and as the bucket under it. */
const open = Effect.gen(function*() {
  const bucket = yield* KeyValue.make({ bucket: unique("kvs") })
  return { bucket, store: KeyValue.toKeyValueStore(bucket) }
})

const natsKeys = (bucket: KeyValue.Bucket) => Effect.map(Stream.runCollect(bucket.keys()), (keys) => keys.toSorted())

const sorted = (keys: ReadonlyArray<string>) => keys.toSorted()

/** The reason of the `KeyValueError` a store's error carries as its cause. */
const causeReason = (error: KeyValueStore.KeyValueStoreError) =>
  KeyValueError.isKeyValueError(error.cause) ? error.cause.reason._tag : `not a KeyValueError: ${String(error.cause)}`

/** Keys NATS does not take as they are: separators, spaces, wildcards, unicode, lone surrogates, the empty key. */
const awkwardKeys = [
  "",
  ":",
  "PersistedCache%3Ausers:user:42",
  "a::b",
  "trailing:",
  "path/to/file.txt",
  "with spaces and\ttabs",
  "wild*cards.>",
  "=3D",
  "héllo wörld",
  "日本語:キー",
  "emoji 😀👍🏽",
  "lone \ud83d surrogate"
]

/** Effect's `Persistence` on a NATS bucket. */
const persistenceOn = (bucket: string) =>
  Persistence.layerKvs.pipe(Layer.provide(KeyValue.layerKeyValueStore({ bucket })))

class User extends Persistable.Class<{ payload: { readonly id: number } }>()("User", {
  primaryKey: (user) => `user:${user.id}`,
  success: Schema.Struct({ id: Schema.Number, name: Schema.String })
}) {}

/**
 * Registers the conformance tests of the `KeyValueStore` built on a KV bucket for one adapter.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = (adapter: Adapter) =>
  describe(`KeyValueStore on KeyValue conformance (${adapter.name})`, () => {
    layer(adapter.layer(), { excludeTestServices: true, timeout: "120 seconds" })((it) => {
      it.effect("get, getUint8Array, set, has, size, keys, isEmpty, remove and clear", () =>
        Effect.gen(function*() {
          const { store } = yield* open
          assert.isTrue(yield* store.isEmpty)
          assert.strictEqual(yield* store.size, 0)
          assert.isUndefined(yield* store.get("missing"))
          assert.isUndefined(yield* store.getUint8Array("missing"))
          assert.isFalse(yield* store.has("missing"))

          yield* store.set("text", "héllo")
          yield* store.set("bytes", new Uint8Array([0, 1, 2, 255]))
          assert.strictEqual(yield* store.get("text"), "héllo")
          assert.deepStrictEqual(yield* store.getUint8Array("text"), bytes("héllo"))
          assert.deepStrictEqual(yield* store.getUint8Array("bytes"), new Uint8Array([0, 1, 2, 255]))
          assert.isTrue(yield* store.has("text"))
          assert.isFalse(yield* store.isEmpty)
          assert.strictEqual(yield* store.size, 2)
          assert.deepStrictEqual(sorted(yield* store.keys), ["bytes", "text"])

          yield* store.set("text", "replaced")
          assert.strictEqual(yield* store.get("text"), "replaced")
          assert.strictEqual(yield* store.size, 2)

          yield* store.remove("text")
          assert.isUndefined(yield* store.get("text"))
          assert.isFalse(yield* store.has("text"))
          assert.deepStrictEqual(yield* store.keys, ["bytes"])
          // Removing a key that is not there is not an error.
          yield* store.remove("text")

          yield* store.set("again", "1")
          yield* store.clear
          assert.isTrue(yield* store.isEmpty)
          assert.deepStrictEqual(yield* store.keys, [])
          // A cleared store takes values again.
          yield* store.set("text", "back")
          assert.strictEqual(yield* store.get("text"), "back")
        }))

      it.effect("keys with :, /, spaces, wildcards, unicode and the empty key round-trip", () =>
        Effect.gen(function*() {
          const { bucket, store } = yield* open
          yield* Effect.forEach(awkwardKeys, (key, i) => store.set(key, `value ${i}`))
          for (const [i, key] of awkwardKeys.entries()) {
            assert.strictEqual(yield* store.get(key), `value ${i}`, JSON.stringify(key))
          }
          assert.deepStrictEqual(sorted(yield* store.keys), sorted(awkwardKeys))
          assert.strictEqual(yield* store.size, awkwardKeys.length)
          // One NATS key per store key: none collide.
          assert.strictEqual((yield* natsKeys(bucket)).length, awkwardKeys.length)
          yield* Effect.forEach(awkwardKeys, (key) => store.remove(key))
          assert.isTrue(yield* store.isEmpty)
        }))

      it.effect("keys are readable in the bucket: : is a token, other clients read the values", () =>
        Effect.gen(function*() {
          const { bucket, store } = yield* open
          yield* store.set("users:42", "Ada")
          yield* store.set("users:a b", "Grace")
          yield* store.set("", "empty")
          assert.deepStrictEqual(yield* natsKeys(bucket), ["=", "users.42", "users.a=20b"])
          const entry = Option.getOrThrow(yield* bucket.get("users.42"))
          assert.strictEqual(text(entry.value), "Ada")
          // A key another client writes in this form is part of the store; others are not.
          yield* bucket.put("users.7", "Alan")
          yield* bucket.put("not=ours", "ignored")
          assert.strictEqual(yield* store.get("users:7"), "Alan")
          assert.deepStrictEqual(sorted(yield* store.keys), ["", "users:42", "users:7", "users:a b"])
        }))

      it.effect("clearPrefix removes exactly the keys with the prefix", () =>
        Effect.gen(function*() {
          const { store } = yield* open
          const keys = [
            "",
            "a",
            "ab",
            "a:",
            "a:b",
            "a:bc",
            "a:b:c",
            "a::b",
            "b:a",
            "a b",
            "é:x",
            "éa",
            "😀x",
            "\ud83dy",
            "x"
          ]
          yield* Effect.forEach(keys, (key) => store.set(key, "v"))
          const clearAndList = (prefix: string) =>
            Effect.andThen(store.clearPrefix(prefix), Effect.map(store.keys, sorted))
          const remaining = (...removed: ReadonlyArray<string>) =>
            sorted(keys.filter((key) => !removed.includes(key)))
          // Inside a segment, across segments, in unicode and halfway through a surrogate pair.
          assert.deepStrictEqual(yield* clearAndList("a:b"), remaining("a:b", "a:bc", "a:b:c"))
          assert.deepStrictEqual(
            yield* clearAndList("a:"),
            remaining("a:", "a:b", "a:bc", "a:b:c", "a::b")
          )
          assert.deepStrictEqual(
            yield* clearAndList("\ud83d"),
            remaining("a:", "a:b", "a:bc", "a:b:c", "a::b", "😀x", "\ud83dy")
          )
          assert.deepStrictEqual(
            yield* clearAndList("é"),
            remaining("a:", "a:b", "a:bc", "a:b:c", "a::b", "😀x", "\ud83dy", "é:x", "éa")
          )
          assert.deepStrictEqual(
            yield* clearAndList("a"),
            ["", "b:a", "x"]
          )
          // A prefix no key has removes nothing.
          assert.deepStrictEqual(yield* clearAndList("zzz:"), ["", "b:a", "x"])
          // The empty prefix removes everything.
          assert.deepStrictEqual(yield* clearAndList(""), [])
        }))

      it.effect("modify and modifyUint8Array update the value, and leave a missing key missing", () =>
        Effect.gen(function*() {
          const { store } = yield* open
          assert.isUndefined(yield* store.modify("missing", (value) => value + "!"))
          assert.isUndefined(yield* store.modifyUint8Array("missing", (value) => value))
          assert.isFalse(yield* store.has("missing"))

          yield* store.set("greeting", "hello")
          assert.strictEqual(yield* store.modify("greeting", (value) => value + "!"), "hello!")
          assert.strictEqual(yield* store.get("greeting"), "hello!")

          yield* store.set("bytes", new Uint8Array([1, 2]))
          const appended = yield* store.modifyUint8Array("bytes", (value) => new Uint8Array([...value, 3]))
          assert.deepStrictEqual(appended, new Uint8Array([1, 2, 3]))
          assert.deepStrictEqual(yield* store.getUint8Array("bytes"), new Uint8Array([1, 2, 3]))
        }))

      it.effect("concurrent modifications are never lost: modify is a compare-and-set", () =>
        Effect.gen(function*() {
          const { store } = yield* open
          yield* store.set("counter", "0")
          yield* Effect.forEach(
            Array.from({ length: 20 }),
            () => store.modify("counter", (value) => String(Number(value) + 1)),
            { concurrency: "unbounded", discard: true }
          )
          assert.strictEqual(yield* store.get("counter"), "20")
        }))

      it.effect("fails with a KeyValueStoreError whose cause is the KeyValueError", () =>
        Effect.gen(function*() {
          const { bucket, store } = yield* open
          const tooLong = "k".repeat(5000)
          const error = yield* Effect.flip(store.set(tooLong, "v"))
          assert.instanceOf(error, KeyValueStore.KeyValueStoreError)
          assert.strictEqual(error.method, "set")
          assert.strictEqual(error.key, tooLong)
          assert.strictEqual(causeReason(error), "InvalidKey")

          yield* bucket.destroy()
          const gone = yield* Effect.flip(store.get("a"))
          assert.strictEqual(gone.method, "get")
          assert.strictEqual(causeReason(gone), "BucketNotFound")
          assert.match(gone.message, new RegExp(`get "a" on bucket ${bucket.bucket}: BucketNotFound`))
          const listing = yield* Effect.flip(store.keys)
          assert.strictEqual(listing.method, "keys")
          assert.isUndefined(listing.key)
        }))

      it.effect("a PersistedCache serves its second lookup from NATS after the application restarts", () =>
        Effect.gen(function*() {
          const bucket = unique("cache")
          const lookups: Array<number> = []
          const lookup = (user: User) =>
            Effect.sync(() => lookups.push(user.id)).pipe(Effect.as({ id: user.id, name: `user ${user.id}` }))
          // One run of the application: a new Persistence, store and cache on the same NATS.
          const runApp = (id: number) =>
            Effect.gen(function*() {
              const cache = yield* PersistedCache.make(lookup, { storeId: "users", timeToLive: () => "1 hour" })
              return yield* cache.get(new User({ id }))
            }).pipe(Effect.scoped, Effect.provide(persistenceOn(bucket), { local: true }))

          assert.deepStrictEqual(yield* runApp(1), { id: 1, name: "user 1" })
          assert.deepStrictEqual(lookups, [1])
          assert.deepStrictEqual(yield* runApp(1), { id: 1, name: "user 1" })
          assert.deepStrictEqual(lookups, [1])
          assert.deepStrictEqual(yield* runApp(2), { id: 2, name: "user 2" })
          assert.deepStrictEqual(lookups, [1, 2])

          // Persistence's `<storeId>:<primary key>` is a readable NATS key.
          const kv = yield* KeyValue.make({ bucket })
          assert.deepStrictEqual(yield* natsKeys(kv), ["users.user.1", "users.user.2"])
        }))

      it.effect("Persistence clears its own store only, through clearPrefix", () =>
        Effect.gen(function*() {
          const bucket = unique("persist")
          const entries = Effect.gen(function*() {
            const persistence = yield* Persistence.Persistence
            const users = yield* persistence.make({ storeId: "users", timeToLive: () => "1 hour" })
            const orders = yield* persistence.make({ storeId: "users:orders", timeToLive: () => "1 hour" })
            yield* users.set(new User({ id: 1 }), Exit.succeed({ id: 1, name: "Ada" }))
            yield* orders.set(new User({ id: 1 }), Exit.succeed({ id: 1, name: "order" }))
            yield* users.clear
            return [yield* users.get(new User({ id: 1 })), yield* orders.get(new User({ id: 1 }))] as const
          }).pipe(Effect.scoped, Effect.provide(persistenceOn(bucket)))
          const [user, order] = yield* entries
          assert.isUndefined(user)
          assert.deepStrictEqual(order, Exit.succeed({ id: 1, name: "order" }))
        }))

      it.effect("toSchemaStore and prefix views work on it", () =>
        Effect.gen(function*() {
          const { store } = yield* open
          const Settings = Schema.Struct({ theme: Schema.String, size: Schema.Number })
          const settings = KeyValueStore.toSchemaStore(KeyValueStore.prefix(store, "settings:"), Settings)
          yield* settings.set("ada", { theme: "dark", size: 12 })
          assert.deepStrictEqual(yield* settings.get("ada"), Option.some({ theme: "dark", size: 12 }))
          assert.deepStrictEqual(
            yield* settings.modify("ada", (value) => ({ ...value, size: 14 })),
            Option.some({ theme: "dark", size: 14 })
          )
          yield* store.set("other", "kept")
          assert.deepStrictEqual(yield* settings.keys, ["ada"])
          yield* settings.clear
          assert.deepStrictEqual(yield* store.keys, ["other"])
        }))
    })
  })
