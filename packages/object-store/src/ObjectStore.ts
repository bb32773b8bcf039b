/**
 * `ObjectStore`: objects of any size in a JetStream bucket, streamed in chunks,
 * wire-compatible with the NATS object store (ADR-20) that nats.go, nats.js,
 * nats.py and the nats CLI read and write.
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const store = yield* ObjectStore.ObjectStore
 *   yield* store.putBytes("file", "File mock")
 *   const bytes = yield* store.getBytes("file")
 * }).pipe(Effect.provide(ObjectStore.layer({ bucket: "bucket" })))
 * ```
 *
 * A put re-cuts its stream into chunks, hashes them as they pass and publishes
 * them with a bounded number of acknowledgements in flight, so the source is
 * read only as fast as JetStream stores; the object's meta is written after
 * the last chunk is stored, and a put that fails or is interrupted leaves
 * nothing behind (when it failed because the server was away, once the server
 * is back). A get reads the chunks through an ordered consumer that the
 * reader paces, and checks size, chunk count and digest at the end; it
 * resumes where it was after a reconnect. `sweep` removes the chunks that
 * writers which died, in this process or another, left behind.
 *
 * An object name is any non-empty string whose base64url form fits in the
 * subjects it goes into within the server's `max_control_line`: up to about
 * 2,900 UTF-8 bytes with the default 4,096; a longer one is refused with
 * `InvalidObjectName` before anything is sent. When a tracer that records
 * spans is installed (`OtlpTracer.layer`, `NodeSdk`...), each operation runs
 * in a span (`ObjectStore.put`, `ObjectStore.get`, ...) with OpenTelemetry
 * messaging attributes; otherwise none is made. The bytes put and got are
 * counted per bucket (`bytesPut`, `bytesGot`).
 *
 * @since 0.1.0
 * @module
 */
import { NatsBroker, type NatsClient, type NatsMessage } from "@nats-effect/core"
import type { Duration, Metric, Scope } from "effect"
import { Config, Context, Effect, Layer, Result, Stream } from "effect"
import * as Metrics from "./internal/metrics.ts"
import * as Store from "./internal/store.ts"
import * as Wire from "./internal/wire.ts"
import type { ObjectStoreError } from "./ObjectStoreError.ts"

// ---------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------

/**
 * Where a link points: an object (`name` set) or a whole bucket (`name` absent).
 *
 * @since 0.1.0
 * @category models
 */
export interface ObjectLink {
  readonly bucket: string
  readonly name?: string | undefined
}

/**
 * Options stored with an object: a link, the chunk size it was written with.
 *
 * @since 0.1.0
 * @category options
 */
export interface ObjectOptions {
  /** Set on links; a link has no content of its own. */
  readonly link?: ObjectLink | undefined
  /** The chunk size the object was written with. */
  readonly maxChunkSize?: number | undefined
}

/**
 * What an object is, as its meta message records it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ObjectInfo {
  readonly name: string
  /** The bucket, as the meta records it (nats.js writes a link's target bucket here). */
  readonly bucket: string
  /** Identifies the object's chunk subject `$O.<bucket>.C.<nuid>`; `""` on links written by nats.js. */
  readonly nuid: string
  readonly size: number
  readonly chunks: number
  /** `SHA-256=` and the padded base64url SHA-256 of the content; `""` when none was recorded (links, deletions). */
  readonly digest: string
  /**
   * When the object was written: the `mtime` of the meta when the writer
   * recorded one (nats.js, nats.py, this library), otherwise (nats.go writes
   * the zero time) the time the server stored the meta.
   */
  readonly mtime: Date
  readonly deleted: boolean
  /** Sequence of the meta message in the bucket's stream. */
  readonly revision: number
  readonly description?: string | undefined
  readonly headers?: NatsClient.Headers | undefined
  readonly metadata?: Readonly<Record<string, string>> | undefined
  readonly options?: ObjectOptions | undefined
}

/**
 * What a writer says about an object.
 *
 * @since 0.1.0
 * @category models
 */
export interface ObjectMeta {
  readonly name: string
  readonly description?: string | undefined
  readonly headers?: NatsClient.HeadersInput | undefined
  readonly metadata?: Readonly<Record<string, string>> | undefined
  readonly options?: {
    /** Chunk size of this put (default: the store's `chunkSize`), at most the server's `max_payload`. */
    readonly maxChunkSize?: number | undefined
  } | undefined
}

/**
 * How far a transfer is: what `onProgress` is given.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  /** Bytes so far: stored and acknowledged on a put, handed to the reader on a get. */
  readonly bytes: number
  /** The size when known: the object's on a get, the file's on `putFile`; absent on a `put` of a stream. */
  readonly total?: number | undefined
  /** Chunks so far. */
  readonly chunks: number
}

/**
 * Options of `put`, `putFile`, `get` and `getFile`.
 *
 * @since 0.1.0
 * @category options
 */
export interface TransferOptions<E = never, R = never> {
  /**
   * Called with the progress at most every 100 ms (by the `Clock`) and once
   * at the end with the final figures (on a get, once the content is
   * checked), in order, each call awaited before the transfer goes on. When
   * it fails, the transfer fails with its error (a put then stores nothing).
   */
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void, E, R>) | undefined
}

/**
 * Options of `watch`: history, deletions, only updates.
 *
 * @since 0.1.0
 * @category options
 */
export interface WatchOptions {
  /** Every meta message still in the stream, not only the latest per object. */
  readonly includeHistory?: boolean | undefined
  /** Leave deletions out. */
  readonly ignoreDeletes?: boolean | undefined
  /** Only changes made after the watch starts, not the current entries (overrides `includeHistory`). */
  readonly updatesOnly?: boolean | undefined
  /** Only changes after this revision (where an earlier watch left off; overrides the two above). */
  readonly afterRevision?: number | undefined
}

/**
 * Options of `sweep`: which unreferenced chunks it removes.
 *
 * @since 0.1.0
 * @category options
 */
export interface SweepOptions {
  /**
   * Only the chunks of a nuid whose newest chunk was stored at least this
   * long ago (by the client's clock): a put in flight elsewhere keeps writing
   * chunks, so it is spared. Default 1 hour. `0` sweeps every chunk no object references, which is
   * safe only while no other client puts to the bucket; the store's own puts
   * in flight are always spared.
   */
  readonly olderThan?: Duration.Input | undefined
}

/**
 * What `sweep` removed.
 *
 * @since 0.1.0
 * @category models
 */
export interface SweepResult {
  /** Chunks removed. */
  readonly chunks: number
  /** Their content's size. */
  readonly bytes: number
  /** The nuids whose chunk subjects `$O.<bucket>.C.<nuid>` were emptied. */
  readonly nuids: ReadonlyArray<string>
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
  /** Objects older than this are removed; zero: kept forever. */
  readonly ttl: Duration.Duration
  readonly storage: NatsClient.StorageType
  readonly replicas: number
  readonly sealed: boolean
  /** Bytes stored by the bucket's stream. */
  readonly size: number
  readonly backingStore: "JetStream"
  readonly metadata: Readonly<Record<string, string>> | undefined
  readonly compressed: boolean
  readonly streamInfo: NatsClient.StreamInfo
}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/**
 * The operations on one bucket: the shape of `ObjectStore` and of every `ObjectStore.Service` class.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bucket {
  readonly bucket: string
  /**
   * Stores the stream's bytes under `meta`'s name, replacing any object of
   * that name once every chunk is stored. On failure or interruption nothing
   * changes: the chunks written so far are removed and no meta is written.
   * When the server cannot be reached to remove them (the usual reason a put
   * fails), the store keeps trying in the background, in its layer's scope,
   * for up to 10 minutes; `sweep` removes what is left after that.
   * The stream's `Uint8Array`s must not be modified after they are emitted.
   */
  readonly put: <E, R, E2 = never, R2 = never>(
    meta: string | ObjectMeta,
    data: Stream.Stream<Uint8Array, E, R>,
    options?: TransferOptions<E2, R2>
  ) => Effect.Effect<ObjectInfo, ObjectStoreError | E | E2, R | R2>
  /** `put` of bytes in memory; a string is stored as UTF-8. */
  readonly putBytes: (meta: string | ObjectMeta, data: Uint8Array | string) => Effect.Effect<ObjectInfo, ObjectStoreError>
  /** `put` of a local file, read as fast as the bucket stores it; the progress's `total` is the file's size. */
  readonly putFile: <E = never, R = never>(
    meta: string | ObjectMeta,
    path: string,
    options?: TransferOptions<E, R>
  ) => Effect.Effect<ObjectInfo, ObjectStoreError | E, R>
  /**
   * The object's content, following links. Pulled from the server as the
   * stream is read; fails at the end with `DigestMismatch` or `BadObjectMeta`
   * when the bytes do not match the meta, and with `ObjectStalled` when
   * chunks stop coming.
   */
  readonly get: <E = never, R = never>(
    name: string,
    options?: TransferOptions<E, R>
  ) => Stream.Stream<Uint8Array, ObjectStoreError | E, R>
  /** The whole content in memory. */
  readonly getBytes: (name: string) => Effect.Effect<Uint8Array, ObjectStoreError>
  /**
   * Writes the content to a local file: to a temporary file beside it,
   * renamed into place once the digest is checked, removed on failure. Each
   * chunk is written with a synchronous write as it arrives (cheaper than the
   * thread pool's round trips), so a slow file system holds the event loop
   * for its writes.
   */
  readonly getFile: <E = never, R = never>(
    name: string,
    path: string,
    options?: TransferOptions<E, R>
  ) => Effect.Effect<ObjectInfo, ObjectStoreError | E, R>
  /** The object's info (of the link itself for a link); `ObjectNotFound` when absent or deleted. */
  readonly info: (name: string) => Effect.Effect<ObjectInfo, ObjectStoreError>
  /** Every object that is not deleted. */
  readonly list: () => Effect.Effect<ReadonlyArray<ObjectInfo>, ObjectStoreError>
  /** Marks the object deleted and removes its chunks. */
  readonly delete: (name: string) => Effect.Effect<void, ObjectStoreError>
  /**
   * The current entries (unless `updatesOnly`), then every change, until
   * interrupted. Older servers (nats-server 2.9.10 among them; fixed by
   * nats-server pull request 3838, February 2023) move a consumer past the
   * metas it has not delivered yet whenever an object is written (each meta
   * is a rollup): a watch read more slowly than the bucket changes can miss
   * changes there. The watch keeps reading ahead (its buffer) to narrow that.
   */
  readonly watch: (options?: WatchOptions) => Stream.Stream<ObjectInfo, ObjectStoreError>
  /**
   * `watch`, with its consumer created now (not when the Stream is first
   * read) and deleted when the scope closes: what it delivers is fixed when
   * this returns, however late the Stream is read.
   */
  readonly openWatch: (
    options?: WatchOptions
  ) => Effect.Effect<Stream.Stream<ObjectInfo, ObjectStoreError>, ObjectStoreError, Scope.Scope>
  /**
   * Adds `name` as a link to an object: `target` names one in this bucket or
   * is the info of one in any bucket. Links to links and to deleted objects
   * are refused, and so is a name held by an object that is not a link.
   */
  readonly link: (name: string, target: ObjectInfo | string) => Effect.Effect<ObjectInfo, ObjectStoreError>
  /** Adds `name` as a link to the whole bucket `bucket`. */
  readonly linkBucket: (name: string, bucket: string) => Effect.Effect<ObjectInfo, ObjectStoreError>
  /**
   * Replaces the name, description, headers and metadata of an object (as
   * nats.go does: what `meta` leaves out is cleared), keeping its content and
   * options. A new name must not be taken by another object.
   */
  readonly updateMeta: (name: string, meta: ObjectMeta) => Effect.Effect<ObjectInfo, ObjectStoreError>
  /**
   * Removes the chunks no object references: those of puts that failed while
   * the server was away (the store retries their removal in the background,
   * for a while), of writers that died, of replaced or deleted objects whose
   * removal failed. A meta that does not decode still keeps its chunks.
   */
  readonly sweep: (options?: SweepOptions) => Effect.Effect<SweepResult, ObjectStoreError>
  readonly status: () => Effect.Effect<BucketStatus, ObjectStoreError>
  /** Makes the bucket read-only, for good. */
  readonly seal: () => Effect.Effect<BucketStatus, ObjectStoreError>
  /** Deletes the bucket and everything in it. */
  readonly destroy: () => Effect.Effect<void, ObjectStoreError>
}

/**
 * The object store of one bucket. Several buckets: see `Service`.
 *
 * @since 0.1.0
 * @category services
 */
export class ObjectStore extends Context.Service<ObjectStore, Bucket>()("@nats-effect/object-store/ObjectStore") {}

// ---------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------

/**
 * Options of a bucket: its name and the configuration of its stream when it is created.
 *
 * @since 0.1.0
 * @category options
 */
export interface ObjectStoreOptions {
  /** `A-Z a-z 0-9 _ -`; the stream is `OBJ_<bucket>`. */
  readonly bucket: string
  readonly description?: string | undefined
  /** Objects older than this are removed by the server (stream `max_age`). */
  readonly ttl?: Duration.Input | undefined
  /** Limit of the bucket's size; a put that would exceed it fails with `BucketFull`. Default: unlimited. */
  readonly maxBytes?: number | undefined
  /** Default "file". */
  readonly storage?: NatsClient.StorageType | undefined
  /** Default 1. */
  readonly replicas?: number | undefined
  readonly placement?: NatsClient.Placement | undefined
  /** Bucket metadata; needs nats-server 2.10. */
  readonly metadata?: Readonly<Record<string, string>> | undefined
  /** S2 compression of the stored chunks; needs nats-server 2.10. */
  readonly compression?: boolean | undefined
  /** Default 128 KiB; never more than the server's `max_payload`. */
  readonly chunkSize?: number | undefined
  /** How many chunk acknowledgements a put waits for at once. Default 32 (4 MiB of 128 KiB chunks in flight). */
  readonly publishWindow?: number | undefined
  /** How many chunks a get buffers ahead of its reader. Default 64 (8 MiB of 128 KiB chunks). */
  readonly readAhead?: number | undefined
  /** A get that receives no chunk for this long fails with `ObjectStalled`. Default 20 seconds. */
  readonly stallTimeout?: Duration.Input | undefined
}

/**
 * Opens the bucket, creating its stream when it does not exist (an existing
 * bucket's configuration is left as it is, as nats.js does). The scope bounds
 * the store's background work: the removal of a failed put's chunks.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: ObjectStoreOptions
) => Effect.Effect<Bucket, ObjectStoreError, NatsClient.NatsClient | Scope.Scope> = Store.make

/**
 * The counter `nats.object_store.put.bytes` of `bucket` (attribute
 * `nats.object_store.bucket`): the bytes of the objects its puts stored,
 * counted once per put when the object is committed. Read it with
 * `Metric.value(ObjectStore.bytesPut("bucket"))` or in `Metric.snapshot`.
 *
 * @since 0.1.0
 * @category observability
 */
export const bytesPut: (bucket: string) => Metric.Counter<number> = Metrics.bytesPut

/**
 * The counter `nats.object_store.get.bytes` of `bucket`: the bytes its gets
 * read from the bucket, counted once per get when its reading ends (a get
 * stopped early counts what it had read, read-ahead included).
 *
 * @since 0.1.0
 * @category observability
 */
export const bytesGot: (bucket: string) => Metric.Counter<number> = Metrics.bytesGot

/**
 * `ObjectStore` for one bucket, created or opened when the layer is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: ObjectStoreOptions
): Layer.Layer<ObjectStore, ObjectStoreError, NatsClient.NatsClient> => Layer.effect(ObjectStore, make(options))

/**
 * `layer` with its options read from `Config`: each field a value or a `Config`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Wrap<ObjectStoreOptions>
): Layer.Layer<ObjectStore, ObjectStoreError | Config.ConfigError, NatsClient.NatsClient> =>
  Layer.effect(ObjectStore, Effect.flatMap(Config.unwrap(options), make))

/**
 * A class made by `Service`: its own service key, with the layer of its bucket.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServiceClass<Self, Identifier extends string> extends Context.ServiceClass<Self, Identifier, Bucket> {
  readonly options: ObjectStoreOptions
  /** Creates or opens the bucket. */
  readonly layer: Layer.Layer<Self, ObjectStoreError, NatsClient.NatsClient>
}

/**
 * Declares a bucket as a service of its own, for applications with several
 * buckets: handlers `yield*` the class, never look a bucket up by name.
 *
 * ```ts
 * class Images extends ObjectStore.Service<Images>()("app/Images", { bucket: "images" }) {}
 * class Reports extends ObjectStore.Service<Reports>()("app/Reports", { bucket: "reports", ttl: "7 days" }) {}
 *
 * const handler = Effect.gen(function*() {
 *   const images = yield* Images        // the same operations as ObjectStore.ObjectStore
 *   const reports = yield* Reports
 *   yield* reports.put("cat-thumbnail.png", images.get("cat.png").pipe(Stream.map(thumbnail)))
 * })
 *
 * handler.pipe(Effect.provide(Layer.mergeAll(Images.layer, Reports.layer)))
 * ```
 *
 * The identifier is the service's key and must be unique in the application.
 *
 * @since 0.1.0
 * @category constructors
 */
export const Service = <Self>() =>
<const Identifier extends string>(
  identifier: Identifier,
  options: ObjectStoreOptions
): ServiceClass<Self, Identifier> => {
  const key = Context.Service<Self, Bucket>()(identifier)
  // A subclass shares the key's string identity, so this layer provides it.
  return Object.assign(key, { options, layer: Layer.effect(key, make(options)) })
}

// ---------------------------------------------------------------------------
// Watchers
// ---------------------------------------------------------------------------

/**
 * A change of an object as a watcher's handler receives it: `subject` is the object's name.
 *
 * @since 0.1.0
 * @category models
 */
export interface WatchMessage extends NatsMessage.Message {
  readonly bucket: string
  readonly info: ObjectInfo
}

/**
 * Options of an object `watcher`: history, deletions, and its handler's description.
 *
 * @since 0.1.0
 * @category options
 */
export interface WatcherOptions {
  /**
   * Before the changes, every meta message still stored rather than the
   * latest of each object when the layer is built (without it, deleted
   * objects are left out of those; an object changed while the watch starts
   * comes with those changes instead).
   */
  readonly includeHistory?: boolean | undefined
  /** Leave deletions out. */
  readonly ignoreDeletes?: boolean | undefined
  /** Handlers running at once; default 1, which handles the changes in revision order. */
  readonly concurrency?: number | undefined
  /** Default: `<bucket>:>`. */
  readonly name?: string | undefined
  /** What it does, for the app's AsyncAPI document (`NatsBroker.asyncApi`). */
  readonly description?: string | undefined
}

/**
 * A subscriber to the objects of `bucket` (FastStream's `obj_watch`): the
 * handler gets the `ObjectInfo` of each new, changed or deleted object
 * (`deleted: true`), with the change as `WatchMessage` (also `NatsMessage`),
 * and can read the object through the bucket as `ObjectStore`. The bucket is
 * opened (created when missing) and the watch started when the layer is
 * built, so before `afterStartup` runs; with one handler at a time (the
 * default) changes are handled in revision order. After a reconnect (a
 * restarted server included) the watch resumes after the last change it
 * received. A failing handler is logged and the watcher goes on.
 *
 * ```ts
 * const Uploads = ObjectStore.watcher("uploads", {}, (info) =>
 *   Effect.gen(function*() {
 *     const os = yield* ObjectStore.ObjectStore
 *     if (!info.deleted) yield* Effect.log(`${info.name}: ${(yield* os.getBytes(info.name)).length} bytes`)
 *   }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const watcher = <E = never, R = never>(
  bucket: string,
  options: WatcherOptions,
  handler: (info: ObjectInfo, message: WatchMessage) => Effect.Effect<unknown, E, R>
): Layer.Layer<
  never,
  ObjectStoreError,
  NatsClient.NatsClient | NatsBroker.NatsBroker | Exclude<R, ObjectStore | NatsMessage.NatsMessage>
> =>
  Layer.unwrap(Effect.gen(function*() {
    const store = yield* make({ bucket })
    // One consumer, created (and reading) when the layer is built: changes made once it
    // is built (by `afterStartup`) are seen, and none is missed while its first read
    // waits (older servers, 2.9.10 among them, move a lagging consumer past them on a rollup).
    // What the bucket held until now is told apart by its revision.
    const now = (yield* store.status()).streamInfo.state.lastSeq
    const watch = store.openWatch({ includeHistory: options.includeHistory })
    // Deleted objects are not objects the bucket held; deletions after that are changes, unless ignored.
    const skip = (info: ObjectInfo) =>
      info.deleted && (options.ignoreDeletes === true || (options.includeHistory !== true && info.revision <= now))
    return NatsBroker.watcher({
      keys: ">",
      where: `in the object store "${bucket}"`,
      name: options.name ?? `${bucket}:>`,
      description: options.description ??
        `Changes of the objects in the bucket "${bucket}": their meta messages ({name} is the object's name, base64url-encoded)`,
      document: {
        address: `$O.${bucket}.M.{name}`,
        schema: Wire.MetaJson,
        extensions: { "x-nats-object-store": { bucket } }
      },
      concurrency: options.concurrency,
      source: () => watch,
      skip,
      position: () => ({
        stream: Wire.streamName(bucket),
        subjects: [Wire.allMetaSubjects(bucket)],
        sequenceOf: (info: ObjectInfo) => info.revision,
        start: 0
      }),
      subjectOf: (info: ObjectInfo) => info.name,
      toMessage: (info, base): WatchMessage => ({ ...base, bucket, info }),
      decode: (message) => Result.succeed(message.info)
    }, (info, message) => Effect.provideService(handler(info, message), ObjectStore, store))
  })) as Layer.Layer<
    never,
    ObjectStoreError,
    NatsClient.NatsClient | NatsBroker.NatsBroker | Exclude<R, ObjectStore | NatsMessage.NatsMessage>
  >
