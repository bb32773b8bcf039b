/**
 * Typed buckets: a byte bucket whose values go through a Schema, stored as
 * JSON through the Schema's JSON codec (as Effect's `toSchemaStore` does), so
 * other clients read them with `JSON.parse`.
 */
import { Cause, Effect, Exit, Option, Schema, Stream } from "effect"
import type { Bucket, Entry, TypedBucket, ValueSchema } from "../KeyValue.ts"
import * as Errors from "../KeyValueError.ts"

export const textDecoder = new TextDecoder()

export const issueOf = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ")
}

/** Values as JSON text, through the Schema's JSON codec. */
export const jsonCodec = <S extends ValueSchema>(schema: S) => Schema.fromJsonString(Schema.toCodecJson(schema))

export const typed = <S extends ValueSchema>(schema: S) => (bucket: Bucket): TypedBucket<S["Type"]> => {
  const json = jsonCodec(schema)
  const encode = Schema.encodeExit(json)
  const decode = Schema.decodeUnknownExit(json)
  const name = bucket.bucket

  const encodeValue = (key: string, value: S["Type"]) => {
    const exit = encode(value)
    return Exit.isSuccess(exit) ? Effect.succeed(exit.value) : Effect.fail(
      Errors.fromReason(
        new Errors.BadValue({
          bucket: name,
          key,
          revision: 0,
          message: `the value for ${key} in bucket ${name} does not encode: ${issueOf(exit.cause)}`
        })
      )
    )
  }

  /** A value entry decoded; a marker's value is `undefined`. */
  const decodeEntry = (entry: Entry): Effect.Effect<Entry<S["Type"] | undefined>, Errors.KeyValueError> => {
    if (entry.operation !== "PUT") return Effect.succeed({ ...entry, value: undefined })
    const exit = decode(textDecoder.decode(entry.value))
    return Exit.isSuccess(exit) ? Effect.succeed({ ...entry, value: exit.value }) : Effect.fail(
      Errors.fromReason(
        new Errors.BadValue({
          bucket: name,
          key: entry.key,
          revision: entry.revision,
          message: `the value of ${entry.key} at revision ${entry.revision} in bucket ${name} does not decode: ${
            issueOf(exit.cause)
          }`
        })
      )
    )
  }

  return {
    bucket: name,
    // `get` returns values only, never markers.
    get: (key, options) =>
      Effect.flatMap(bucket.get(key, options), (found) =>
        Option.match(found, {
          onNone: () => Effect.succeedNone,
          onSome: (entry) => Effect.map(decodeEntry(entry), (decoded) => Option.some(decoded as Entry<S["Type"]>))
        })),
    put: (key, value, options) => Effect.flatMap(encodeValue(key, value), (data) => bucket.put(key, data, options)),
    create: (key, value, options) =>
      Effect.flatMap(encodeValue(key, value), (data) => bucket.create(key, data, options)),
    update: (key, value, revision) =>
      Effect.flatMap(encodeValue(key, value), (data) => bucket.update(key, data, revision)),
    delete: bucket.delete,
    purge: bucket.purge,
    keys: bucket.keys,
    history: (key) => Stream.mapEffect(bucket.history(key), decodeEntry),
    watch: (options) => Stream.mapEffect(bucket.watch(options), decodeEntry),
    openWatch: (options) => Effect.map(bucket.openWatch(options), Stream.mapEffect(decodeEntry)),
    status: bucket.status,
    destroy: bucket.destroy,
    purgeDeletes: bucket.purgeDeletes
  }
}
