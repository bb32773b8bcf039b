/**
 * `KeyValue`: a NATS key-value bucket as an Effect service, wire-compatible
 * with the NATS KV (ADR-8) that nats.go, nats.js, nats.py and the nats CLI
 * read and write.
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const kv = yield* KeyValue.KeyValue
 *   const revision = yield* kv.put("flags.dark-mode", "on")
 *   yield* kv.update("flags.dark-mode", "off", revision)   // compare-and-set
 *   const entry = yield* kv.get("flags.dark-mode")          // Option<Entry>
 * }).pipe(Effect.provide(KeyValue.layer({ bucket: "config", history: 5 })))
 * ```
 *
 * The bucket is the stream `KV_<bucket>`; a key is the subject
 * `$KV.<bucket>.<key>`; a delete or a purge is a marker message with the
 * header `KV-Operation: DEL` or `PURGE` (a purge also rolls up the key's
 * history); a key removed by a TTL leaves the server's marker
 * (`Nats-Marker-Reason: MaxAge`, read as a `PURGE`) when the bucket has
 * `limitMarkerTtl`. A revision is the sequence of the key's message in the
 * stream.
 *
 * `layerKeyValueStore` puts Effect's persistence (`KeyValueStore`,
 * `Persistence.layerKvs`, `PersistedCache`) on a bucket. Operations are
 * counted per bucket and operation (`operations`).
 *
 * @since 0.1.0
 * @module
 */
import { NatsBroker, type NatsClient, type NatsMessage } from "@nats-effect/core"
import type { Duration, Metric, Scope } from "effect"
import { Config, Context, Effect, Exit, Layer, Option, Result, Schema, Stream } from "effect"
import { KeyValueStore } from "effect/persistence"
import type { KeyValueError } from "./KeyValueError.ts"
import * as Stores from "./internal/keyValueStore.ts"
import * as Metrics from "./internal/metrics.ts"
import * as Buckets from "./internal/store.ts"
import * as Typed from "./internal/typed.ts"
import * as Wire from "./internal/wire.ts"

// ---------------------------------------------------------------------------
// Entries
// ---------------------------------------------------------------------------

/**
 * What a key's message is: a value, a delete marker, or a purge marker (the key's earlier values are gone).
 *
 * @since 0.1.0
 * @category models
 */
export type Operation = "PUT" | "DEL" | "PURGE"

/**
 * A message of a key, as stored.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry<A = Uint8Array> {
  readonly bucket: string
  readonly key: string
  /** The value; on a `DEL` or `PURGE` marker, empty bytes (a byte bucket) or `undefined` (a typed bucket). */
  readonly value: A
  /** The message's sequence in the bucket's stream. */
  readonly revision: number
  /** When the server stored it. */
  readonly created: Date
  readonly operation: Operation
  /** In `watch`, `history` and `keys`: how many messages the server had left to deliver after this one; 0 from `get`. */
  readonly delta: number
}

/**
 * Options of `watch`: which keys, and what comes before the updates.
 *
 * @since 0.1.0
 * @category options
 */
export interface WatchOptions {
  /** A key or a key filter (`flags.*`, `cfg.>`), or several (several need nats-server 2.10). Default: every key. */
  readonly key?: string | ReadonlyArray<string> | undefined
  /**
   * What comes before the updates: the last message of each key
   * (`"lastValue"`, the default), every message still stored (`"history"`),
   * nothing (`"updatesOnly"`), or every message after a revision
   * (`{ afterRevision }`: where an earlier watch left off).
   */
  readonly include?: "lastValue" | "history" | "updatesOnly" | { readonly afterRevision: number } | undefined
  /** Leave delete and purge markers out. */
  readonly ignoreDeletes?: boolean | undefined
}

/**
 * Options of `put` and `create`.
 *
 * @since 0.2.0
 * @category options
 */
export interface PutOptions {
  /**
   * The key's own TTL, at least 1 second (whole seconds): once it has passed
   * the server removes the value and leaves a marker in its place, which
   * `get` reads as no value and watchers as a `PURGE`; the next write without
   * one (an `update` too) keeps the key for good again. The bucket must be
   * made for it (`limitMarkerTtl`), else `InvalidOption`. Needs nats-server
   * 2.11, else `FeatureNotSupported` before anything is sent.
   */
  readonly ttl?: Duration.Input | undefined
}

/**
 * A bucket's configuration and size.
 *
 * @since 0.1.0
 * @category models
 */
export interface BucketStatus {
  readonly bucket: string
  readonly description: string | undefined
  /** Messages stored: values, markers and history. */
  readonly values: number
  /** How many messages per key are kept. */
  readonly history: number
  /** Messages older than this are removed; zero: kept forever. */
  readonly ttl: Duration.Duration
  /**
   * How long the markers of keys removed by a TTL are kept; zero: no markers,
   * and no per-key TTL.
   *
   * @since 0.2.0
   */
  readonly limitMarkerTtl: Duration.Duration
  /** -1: unlimited. */
  readonly maxValueSize: number
  /** -1: unlimited. */
  readonly maxBytes: number
  /** Bytes stored by the bucket's stream. */
  readonly bytes: number
  readonly storage: NatsClient.StorageType
  readonly replicas: number
  readonly metadata: Readonly<Record<string, string>> | undefined
  readonly compressed: boolean
  readonly backingStore: "JetStream"
  readonly streamInfo: NatsClient.StreamInfo
}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/**
 * The operations on one bucket, whose values are `Value` when read, `Input`
 * when written, and `Removed` on delete and purge markers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Store<Value, Input, Removed> {
  readonly bucket: string
  /**
   * The key's value, or the one at `revision`; `None` when the key was never
   * written, is deleted or purged, or `revision` is not a message of this key.
   */
  readonly get: (
    key: string,
    options?: { readonly revision?: number | undefined }
  ) => Effect.Effect<Option.Option<Entry<Value>>, KeyValueError>
  /**
   * Writes the value; returns its revision. With `ttl` (see `PutOptions`) the
   * key goes once it has passed.
   */
  readonly put: (key: string, value: Input, options?: PutOptions) => Effect.Effect<number, KeyValueError>
  /**
   * Writes the value unless the key holds a live one (`KeyExists`); a
   * deleted, purged or expired key can be created again. With `ttl` (see
   * `PutOptions`; nats.go's `KeyTTL`) the key goes once it has passed.
   */
  readonly create: (key: string, value: Input, options?: PutOptions) => Effect.Effect<number, KeyValueError>
  /** Writes the value if the key is still at `revision` (compare-and-set), else fails with `WrongRevision`. */
  readonly update: (key: string, value: Input, revision: number) => Effect.Effect<number, KeyValueError>
  /** Marks the key deleted, keeping its history; with `revision`, only if the key is still at it. */
  readonly delete: (key: string, options?: { readonly revision?: number | undefined }) => Effect.Effect<void, KeyValueError>
  /** Marks the key purged and removes its history; with `revision`, only if the key is still at it. */
  readonly purge: (key: string, options?: { readonly revision?: number | undefined }) => Effect.Effect<void, KeyValueError>
  /** The keys with a live value, matching `filter` (wildcards allowed; several need nats-server 2.10). */
  readonly keys: (filter?: string | ReadonlyArray<string>) => Stream.Stream<string, KeyValueError>
  /** Every message still stored for the key (or key filter), oldest first, markers included. */
  readonly history: (key: string) => Stream.Stream<Entry<Value | Removed>, KeyValueError>
  /**
   * The current entries (see `include`), then every change, in revision
   * order, until interrupted. Older servers (nats-server 2.9.10 among them;
   * fixed by nats-server pull request 3838, February 2023) move every
   * consumer past the messages it has not delivered yet when a purge happens
   * (a `purge`'s rollup included): a watch there can miss changes written
   * just before a purge.
   */
  readonly watch: (options?: WatchOptions) => Stream.Stream<Entry<Value | Removed>, KeyValueError>
  /**
   * `watch`, with its consumer created now (not when the Stream is first
   * read) and deleted when the scope closes: what it delivers is fixed when
   * this returns, however late the Stream is read.
   */
  readonly openWatch: (
    options?: WatchOptions
  ) => Effect.Effect<Stream.Stream<Entry<Value | Removed>, KeyValueError>, KeyValueError, Scope.Scope>
  readonly status: () => Effect.Effect<BucketStatus, KeyValueError>
  /** Deletes the bucket and everything in it. */
  readonly destroy: () => Effect.Effect<void, KeyValueError>
  /**
   * Removes delete and purge markers older than `olderThan` (default 30
   * minutes; zero: all of them) with the history before them; of newer
   * markers only the history before them is removed.
   */
  readonly purgeDeletes: (
    options?: { readonly olderThan?: Duration.Input | undefined }
  ) => Effect.Effect<void, KeyValueError>
}

/**
 * A bucket of bytes: strings are written as UTF-8.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bucket extends Store<Uint8Array, Uint8Array | string, Uint8Array> {}

/**
 * A bucket whose values are encoded and decoded with a Schema, stored as JSON.
 *
 * @since 0.1.0
 * @category models
 */
export interface TypedBucket<A> extends Store<A, A, undefined> {}

/**
 * The key-value store of one bucket. Several buckets: see `Service`.
 *
 * @since 0.1.0
 * @category services
 */
export class KeyValue extends Context.Service<KeyValue, Bucket>()("@nats-effect/kv/KeyValue") {}

// ---------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------

/**
 * A Schema for values: encoded and decoded synchronously, without services, through its JSON codec.
 *
 * @since 0.1.0
 * @category models
 */
export type ValueSchema = Schema.Codec<any, any, never, never>

/**
 * Options of a bucket: its name and the configuration of its stream when it is created.
 *
 * @since 0.1.0
 * @category options
 */
export interface KeyValueOptions {
  /** `A-Z a-z 0-9 _ -`; the stream is `KV_<bucket>`. */
  readonly bucket: string
  readonly description?: string | undefined
  /** Messages kept per key, 1 to 64. Default 1. */
  readonly history?: number | undefined
  /** Messages older than this are removed by the server (stream `max_age`). */
  readonly ttl?: Duration.Input | undefined
  /** Largest value in bytes (stream `max_msg_size`). Default: the server's `max_payload`. */
  readonly maxValueSize?: number | undefined
  /** Limit of the bucket's size; a write that would exceed it is refused. Default: unlimited. */
  readonly maxBytes?: number | undefined
  /** Default "file". */
  readonly storage?: NatsClient.StorageType | undefined
  /** Default 1. */
  readonly replicas?: number | undefined
  /** Bucket metadata; needs nats-server 2.10. */
  readonly metadata?: Readonly<Record<string, string>> | undefined
  /** S2 compression of the stored messages; needs nats-server 2.10. */
  readonly compression?: boolean | undefined
  /**
   * Lets keys have their own TTL (`put` and `create` with `ttl`), and
   * leaves a marker for this long (at least 1 second) where a key was removed
   * by its TTL or the bucket's `ttl`, so watchers see it go (as a `PURGE`).
   * nats.go's `LimitMarkerTTL`: the stream's `allow_msg_ttl` and
   * `subject_delete_marker_ttl`. Needs nats-server 2.11, else
   * `FeatureNotSupported`.
   *
   * @since 0.2.0
   */
  readonly limitMarkerTtl?: Duration.Input | undefined
}

/**
 * Options of a typed bucket: a bucket's options and the Schema of its values.
 *
 * @since 0.1.0
 * @category options
 */
export interface TypedKeyValueOptions<S extends ValueSchema> extends KeyValueOptions {
  /** Values are this Schema's type, stored as JSON through the Schema's JSON codec (`Schema.toCodecJson`). */
  readonly schema: S
}

/**
 * The counter `nats.kv.operations` of one operation on `bucket` (attributes
 * `nats.kv.bucket` and `nats.kv.operation`): each call counted when it
 * starts, a stream (`keys`, `history`, `watch`) when it is run. Read it with
 * `Metric.value(KeyValue.operations("config", "put"))` or in `Metric.snapshot`.
 *
 * @since 0.1.0
 * @category observability
 */
export const operations: (
  bucket: string,
  operation: "get" | "put" | "create" | "update" | "delete" | "purge" | "keys" | "history" | "watch"
) => Metric.Counter<number> = Metrics.operations

/**
 * Opens the bucket, creating its stream when it does not exist. Opening an
 * existing bucket applies only the options given: those that differ from
 * the bucket's configuration are updated where the server allows it, and a
 * warning is logged for each one it refused.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  <S extends ValueSchema>(
    options: TypedKeyValueOptions<S>
  ): Effect.Effect<TypedBucket<S["Type"]>, KeyValueError, NatsClient.NatsClient>
  (options: KeyValueOptions): Effect.Effect<Bucket, KeyValueError, NatsClient.NatsClient>
} = (options: KeyValueOptions & { readonly schema?: ValueSchema }): Effect.Effect<any, KeyValueError, NatsClient.NatsClient> =>
  options.schema === undefined ? Buckets.make(options) : Effect.map(Buckets.make(options), Typed.typed(options.schema))

/**
 * A byte bucket seen through `schema`: values are written as JSON through the
 * Schema's JSON codec and decoded when read; a stored value that does not
 * decode fails with `BadValue` (with its key and revision).
 *
 * ```ts
 * const flags = KeyValue.typed(Flag)(yield* KeyValue.KeyValue)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const typed: <S extends ValueSchema>(schema: S) => (bucket: Bucket) => TypedBucket<S["Type"]> = Typed.typed

/**
 * The identifier of the service `TypedKeyValue(schema)` gives: one per Schema.
 *
 * @since 0.1.0
 * @category models
 */
export interface TypedKeyValue<S extends ValueSchema> {
  readonly _Schema: S
}

const typedKeys = new WeakMap<ValueSchema, Context.Service<any, any>>()
let typedKeysMade = 0

/**
 * The service key of the typed bucket `layer({ bucket, schema })` provides:
 * the same key for the same Schema, so the Schema names the service.
 *
 * ```ts
 * const flags = yield* KeyValue.TypedKeyValue(Flag)   // TypedBucket<Flag>
 * ```
 *
 * One typed bucket per Schema in an application; for several buckets of one
 * Schema, declare each with `Service`.
 *
 * @since 0.1.0
 * @category services
 */
export const TypedKeyValue = <S extends ValueSchema>(
  schema: S
): Context.Service<TypedKeyValue<S>, TypedBucket<S["Type"]>> => {
  let key = typedKeys.get(schema)
  if (key === undefined) {
    key = Context.Service(`@nats-effect/kv/TypedKeyValue/${typedKeysMade++}`)
    typedKeys.set(schema, key)
  }
  return key
}

/**
 * The bucket, created or opened when the layer is built: as `KeyValue`, or
 * with a `schema` as `TypedKeyValue(schema)`, a typed bucket (see `typed`).
 *
 * ```ts
 * const FlagsLive = KeyValue.layer({ bucket: "flags", schema: Flag })
 * const dark = yield* (yield* KeyValue.TypedKeyValue(Flag)).get("dark")   // Option<Entry<Flag>>
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: {
  <S extends ValueSchema>(
    options: TypedKeyValueOptions<S>
  ): Layer.Layer<TypedKeyValue<S>, KeyValueError, NatsClient.NatsClient>
  (options: KeyValueOptions): Layer.Layer<KeyValue, KeyValueError, NatsClient.NatsClient>
} = (options: KeyValueOptions & { readonly schema?: ValueSchema }): Layer.Layer<any, KeyValueError, NatsClient.NatsClient> =>
  Layer.effect<any, any, KeyValueError, NatsClient.NatsClient>(
    options.schema === undefined ? KeyValue : TypedKeyValue(options.schema),
    make(options)
  )

/**
 * `layer` with its options read from `Config`: each field a `Config` (`Config.succeed` for a fixed value).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Wrap<KeyValueOptions>
): Layer.Layer<KeyValue, KeyValueError | Config.ConfigError, NatsClient.NatsClient> =>
  Layer.effect(KeyValue, Effect.flatMap(Config.unwrap(options), Buckets.make))

/**
 * A class made by `Service`: its own service key, with the layer of its bucket.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServiceClass<Self, Identifier extends string, Shape>
  extends Context.ServiceClass<Self, Identifier, Shape>
{
  readonly options: KeyValueOptions
  /** Creates or opens the bucket. */
  readonly layer: Layer.Layer<Self, KeyValueError, NatsClient.NatsClient>
}

/**
 * Declares a bucket as a service of its own, for applications with several
 * buckets: handlers `yield*` the class, never look a bucket up by name. With
 * a `schema`, the service is a typed bucket.
 *
 * ```ts
 * class Flags extends KeyValue.Service<Flags>()("app/Flags", { bucket: "flags", schema: Flag }) {}
 * class Sessions extends KeyValue.Service<Sessions>()("app/Sessions", { bucket: "sessions", ttl: "1 hour" }) {}
 *
 * const handler = Effect.gen(function*() {
 *   const flags = yield* Flags           // TypedBucket<Flag>
 *   const sessions = yield* Sessions     // Bucket
 *   const darkMode = yield* flags.get("dark-mode")
 * })
 *
 * handler.pipe(Effect.provide(Layer.mergeAll(Flags.layer, Sessions.layer)))
 * ```
 *
 * The identifier is the service's key and must be unique in the application.
 *
 * @since 0.1.0
 * @category constructors
 */
export const Service = <Self>() => {
  function service<const Identifier extends string, S extends ValueSchema>(
    identifier: Identifier,
    options: TypedKeyValueOptions<S>
  ): ServiceClass<Self, Identifier, TypedBucket<S["Type"]>>
  function service<const Identifier extends string>(
    identifier: Identifier,
    options: KeyValueOptions
  ): ServiceClass<Self, Identifier, Bucket>
  function service(identifier: string, options: KeyValueOptions & { readonly schema?: ValueSchema }) {
    const key = Context.Service<Self, unknown>()(identifier)
    // A subclass shares the key's string identity, so this layer provides it.
    return Object.assign(key, { options, layer: Layer.effect(key, make(options)) })
  }
  return service
}

// ---------------------------------------------------------------------------
// Effect's persistence
// ---------------------------------------------------------------------------

/**
 * Effect's `KeyValueStore` (`effect/persistence`) on a byte bucket, so
 * `Persistence.layerKvs`, `PersistedCache`, `KeyValueStore.toSchemaStore`
 * and everything else built on it keep their data in NATS.
 *
 * Keys: Effect's keys are any string (`Persistence` writes
 * `<storeId>:<key>`), NATS keys only `A-Z a-z 0-9 - / _ = .`. A key is split
 * at each `:` into segments that become the NATS key's tokens (`:` is `.`);
 * in a segment `A-Z a-z 0-9 _ - /` stay as they are and every other
 * character is `=XX` for each byte of its UTF-8 encoding (`a b` is `a=20b`,
 * `é` is `=C3=A9`, `.` is `=2E`, `=` is `=3D`); an empty segment is `=` (the
 * empty key is `=`, `users:` is `users.=`). So `users:42` is the NATS key
 * `users.42`: readable in `nats kv ls`, and `clearPrefix("users:")` (as
 * `Persistence`'s `clear` calls it) lists only the keys under `users.>` on
 * the server instead of every key of the bucket (20 times faster with 10,000
 * keys); a prefix that ends inside a segment is matched on the decoded keys
 * under its whole segments. Keys of the bucket that are not in this form
 * (written by other clients) are not part of the store. Encoded keys are
 * longer than Effect's: NATS takes keys of about 3,900 characters.
 *
 * Values: stored as they are, a string as its UTF-8 bytes, so other NATS
 * clients read them; `get` reads a value as UTF-8 text and `getUint8Array`
 * as bytes, as `KeyValueStore.layerFileSystem` does.
 *
 * `keys`, `size` and `isEmpty` list the keys on the server, as `keys` does.
 * `remove`, `clear` and `clearPrefix` delete (a `DEL` marker, as `delete`);
 * `modify` and `modifyUint8Array` are a compare-and-set on the key's
 * revision, applying the function again to the newer value when another
 * writer came first, so concurrent modifications are never lost.
 * Failures are `KeyValueStoreError`s whose `cause` is the `KeyValueError`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const toKeyValueStore: (bucket: Bucket) => KeyValueStore.KeyValueStore = Stores.toKeyValueStore

/**
 * Effect's `KeyValueStore` on the bucket, created or opened as `layer` does
 * (see `toKeyValueStore` for keys and values).
 *
 * ```ts
 * const PersistenceLive = Persistence.layerKvs.pipe(
 *   Layer.provide(KeyValue.layerKeyValueStore({ bucket: "cache", ttl: "1 day" })),
 *   Layer.provide(NatsClient.layerConfig())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerKeyValueStore = (
  options: KeyValueOptions
): Layer.Layer<KeyValueStore.KeyValueStore, KeyValueError, NatsClient.NatsClient> =>
  Layer.effect(KeyValueStore.KeyValueStore, Effect.map(Buckets.make(options), Stores.toKeyValueStore))

// ---------------------------------------------------------------------------
// Watchers
// ---------------------------------------------------------------------------

/**
 * A change of a key as a watcher's handler receives it: `subject` is the key, `params` its `{param}` tokens.
 *
 * @since 0.1.0
 * @category models
 */
export interface WatchMessage extends NatsMessage.Message {
  readonly bucket: string
  readonly key: string
  readonly revision: number
  readonly operation: Operation
  /** When the server stored it. */
  readonly created: Date
  /** How many changes the server had left to deliver after this one. */
  readonly delta: number
}

/**
 * Options of a KV `watcher`: the keys, the Schema of the values, and what comes before the changes.
 *
 * @since 0.1.0
 * @category options
 */
export interface WatcherOptions<S extends ValueSchema | undefined = undefined> {
  /** Values decoded from JSON through this Schema's JSON codec; without it, the bytes. */
  readonly schema?: S
  /**
   * What comes before the changes: the value of each key when the layer is
   * built (`"lastValue"`, the default; deleted keys left out; a key changed
   * while the watch starts comes with those changes instead), every message still
   * stored (`"history"`), or nothing (`"updatesOnly"`).
   */
  readonly include?: "lastValue" | "history" | "updatesOnly" | undefined
  /** Leave delete and purge markers out. */
  readonly ignoreDeletes?: boolean | undefined
  /** Handlers running at once; default 1, which handles the changes in revision order. */
  readonly concurrency?: number | undefined
  /** Default: `<bucket>:<keys>`. */
  readonly name?: string | undefined
  /** What it does, for the app's AsyncAPI document (`NatsBroker.asyncApi`). */
  readonly description?: string | undefined
}

/**
 * A watcher's value: the Schema's type, or bytes; `undefined` for a delete or a purge.
 *
 * @since 0.1.0
 * @category models
 */
export type WatchedValue<S extends ValueSchema | undefined> = (S extends ValueSchema ? S["Type"] : Uint8Array) | undefined

/**
 * A subscriber to the changes of `keys` in `bucket` (FastStream's
 * `kv_watch`): `keys` is a key or a filter (`flags.*`, `cfg.>`), with
 * `{param}` tokens for the key's parts (`flags.{name}`). The handler gets
 * the value (decoded by `schema` when given; `undefined` for a delete or a
 * purge) and the change (`WatchMessage`, also `NatsMessage`), and can use
 * the bucket as `KeyValue`. The bucket is opened (created when missing) and
 * the watch started when the layer is built, so before `afterStartup` runs;
 * with one handler at a time (the default) changes are handled in revision
 * order. After a reconnect (a restarted server included) the watch resumes
 * after the last change it received. A value the Schema does not decode is
 * logged and skipped; a failing handler is logged and the watcher goes on.
 *
 * ```ts
 * const FlagWatcher = KeyValue.watcher("config", "flags.{name}", { schema: Schema.Boolean }, (on, message) =>
 *   Effect.log(`${message.params.name} is ${on === undefined ? "gone" : on ? "on" : "off"}`))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const watcher = <S extends ValueSchema | undefined = undefined, E = never, R = never>(
  bucket: string,
  keys: string,
  options: WatcherOptions<S>,
  handler: (value: WatchedValue<S>, message: WatchMessage) => Effect.Effect<unknown, E, R>
): Layer.Layer<never, KeyValueError, NatsClient.NatsClient | NatsBroker.NatsBroker | Exclude<R, KeyValue | NatsMessage.NatsMessage>> =>
  Layer.unwrap(Effect.gen(function*() {
    const store = yield* Buckets.make({ bucket })
    // One consumer, created (and reading) when the layer is built: changes made once it
    // is built (by `afterStartup`) are seen, and none is missed while its first read
    // waits (older servers, 2.9.10 among them, move a lagging consumer past them on a purge).
    // What the bucket held until now is told apart by its revision.
    const now = (yield* store.status()).streamInfo.state.lastSeq
    const include = options.include ?? "lastValue"
    const watch = (filter: string) =>
      store.openWatch({ key: filter, include: include === "updatesOnly" ? { afterRevision: now } : include })
    // Deleted keys are not values the bucket held; deletes after that are changes, unless ignored.
    const skip = (entry: Entry) =>
      entry.operation !== "PUT" && (options.ignoreDeletes === true || (include === "lastValue" && entry.revision <= now))
    const decodeValue = options.schema === undefined
      ? (data: Uint8Array) => Result.succeed(data)
      : watchDecoder(options.schema)
    return NatsBroker.watcher({
      keys,
      where: `in the KV bucket "${bucket}"`,
      name: options.name ?? `${bucket}:${keys}`,
      description: options.description ?? `Changes of ${keys} in the KV bucket "${bucket}"`,
      // The subjects the bucket stores its changes under; values are JSON through their Schema, else bytes.
      document: {
        address: `$KV.${bucket}.${keys}`,
        schema: options.schema,
        contentType: options.schema === undefined ? undefined : "application/json",
        extensions: { "x-nats-kv": { bucket, keys, include } }
      },
      concurrency: options.concurrency,
      source: watch,
      skip,
      position: (filter) => ({
        stream: Wire.streamName(bucket),
        subjects: [Wire.keySubject(bucket, filter)],
        sequenceOf: (entry: Entry) => entry.revision,
        start: include === "updatesOnly" ? now : 0
      }),
      subjectOf: (entry: Entry) => entry.key,
      toMessage: (entry, base): WatchMessage => ({
        ...base,
        data: entry.value,
        bucket,
        key: entry.key,
        revision: entry.revision,
        operation: entry.operation,
        created: entry.created,
        delta: entry.delta
      }),
      decode: (message): Result.Result<WatchedValue<S>, string> =>
        message.operation === "PUT" ? decodeValue(message.data) : Result.succeed(undefined)
    }, (value, message) => Effect.provideService(handler(value, message), KeyValue, store))
  })) as Layer.Layer<never, KeyValueError, NatsClient.NatsClient | NatsBroker.NatsBroker | Exclude<R, KeyValue | NatsMessage.NatsMessage>>

const watchDecoder = (schema: ValueSchema) => {
  const decode = Schema.decodeUnknownExit(Typed.jsonCodec(schema))
  return (data: Uint8Array): Result.Result<any, string> => {
    const exit = decode(Typed.textDecoder.decode(data))
    return Exit.isSuccess(exit) ? Result.succeed(exit.value) : Result.fail(Typed.issueOf(exit.cause))
  }
}
