/**
 * Effect's `KeyValueStore` on a byte bucket: keys encoded by `storeKey.ts`,
 * values stored as they are, `modify` a compare-and-set.
 */
import { Effect, Option, Stream } from "effect"
import { KeyValueStore } from "effect/persistence"
import type { Bucket } from "../KeyValue.ts"
import type { KeyValueError } from "../KeyValueError.ts"
import * as StoreKey from "./storeKey.ts"

const textDecoder = new TextDecoder()

/** Deletes in flight at once in `clear` and `clearPrefix`. */
const removeConcurrency = 16

export const toKeyValueStore = (bucket: Bucket): KeyValueStore.KeyValueStore => {
  /** Runs `effect` for `method`, its failure a `KeyValueStoreError` caused by the `KeyValueError`. */
  const run = <A>(method: string, key: string | undefined, effect: Effect.Effect<A, KeyValueError>) =>
    Effect.mapError(effect, (cause) => {
      const subject = key === undefined ? method : `${method} ${JSON.stringify(key)}`
      return new KeyValueStore.KeyValueStoreError({
        method,
        ...(key === undefined ? {} : { key }),
        message: `${subject} on bucket ${bucket.bucket}: ${cause.message}`,
        cause
      })
    })

  const getBytes = (key: string) =>
    Effect.map(bucket.get(StoreKey.encode(key)), (found) => Option.getOrUndefined(Option.map(found, (e) => e.value)))

  /**
   * The keys starting with `prefix`. The server lists only those under the
   * prefix's whole segments (before its last `:`); the rest is matched here,
   * on the decoded keys, since the encoding of a part of a segment is not a
   * prefix of the encoding of the whole segment.
   */
  const keysWithPrefix = (prefix: string) =>
    bucket.keys(StoreKey.filterUnder(prefix.split(":").slice(0, -1))).pipe(
      Stream.map(StoreKey.decode),
      Stream.filter((key): key is string => key !== undefined && key.startsWith(prefix))
    )

  const clearPrefix = (prefix: string) =>
    Effect.flatMap(
      // Listed first, then deleted: the listing does not run over the delete markers.
      Stream.runCollect(keysWithPrefix(prefix)),
      (keys) =>
        Effect.forEach(keys, (key) => bucket.delete(StoreKey.encode(key)), {
          concurrency: removeConcurrency,
          discard: true
        })
    )

  /** Reads, applies `f`, writes if the key is still at the revision read; again from the read if not. */
  const modifyWith = <A extends string | Uint8Array>(
    decode: (value: Uint8Array) => A,
    f: (value: A) => A,
    key: string
  ) => {
    const natsKey = StoreKey.encode(key)
    return Effect.flatMap(bucket.get(natsKey), (found) => {
      if (Option.isNone(found)) return Effect.undefined
      const next = f(decode(found.value.value))
      return Effect.as(bucket.update(natsKey, next, found.value.revision), next)
    }).pipe(Effect.retry({ while: (error) => error.reason._tag === "WrongRevision" }))
  }

  return KeyValueStore.make({
    get: (key) => run("get", key, Effect.map(getBytes(key), (value) => value && textDecoder.decode(value))),
    getUint8Array: (key) => run("getUint8Array", key, getBytes(key)),
    set: (key, value) => run("set", key, Effect.asVoid(bucket.put(StoreKey.encode(key), value))),
    remove: (key) => run("remove", key, bucket.delete(StoreKey.encode(key))),
    clear: run("clear", undefined, clearPrefix("")),
    clearPrefix: (prefix) => run("clearPrefix", prefix, clearPrefix(prefix)),
    size: run("size", undefined, Stream.runCount(keysWithPrefix(""))),
    keys: run("keys", undefined, Stream.runCollect(keysWithPrefix(""))),
    isEmpty: run("isEmpty", undefined, Effect.map(Stream.runHead(keysWithPrefix("")), Option.isNone)),
    modify: (key, f) => run("modify", key, modifyWith((value) => textDecoder.decode(value), f, key)),
    modifyUint8Array: (key, f) => run("modifyUint8Array", key, modifyWith((value) => value, f, key))
  })
}
