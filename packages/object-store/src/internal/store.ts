/**
 * The object store on the `NatsClient` port: bucket creation, the put and get
 * pipelines and the meta operations. Runs unchanged on every adapter.
 */
import { NatsClient, NatsHeaders, NatsTracing as Tracing } from "@nats-effect/core"
import type { NatsError } from "@nats-effect/core"
import { Cause, Clock, Duration, Effect, Exit, Option, Schedule, type Scope, Stream } from "effect"
import { createHash } from "node:crypto"
import { rename, rm } from "node:fs/promises"
import type {
  Bucket,
  BucketStatus,
  ObjectInfo,
  ObjectMeta,
  ObjectStoreOptions,
  SweepOptions,
  SweepResult,
  WatchOptions
} from "../ObjectStore.ts"
import * as Errors from "../ObjectStoreError.ts"
import type { ObjectStoreError } from "../ObjectStoreError.ts"
import * as Files from "./files.ts"
import * as Nuid from "./nuid.ts"
import { Rechunker } from "./rechunk.ts"
import { failWhenStalled } from "./stall.ts"
import * as Wire from "./wire.ts"

const defaults = {
  publishWindow: 32,
  readAhead: 64,
  stallTimeout: Duration.seconds(20),
  // Far longer than a put pauses between two chunks.
  sweepOlderThan: Duration.hours(1)
}

/**
 * How the removal of chunks left behind is retried when the server is away:
 * at most 5 s apart (each attempt also waits for its own timeout), so it
 * happens within seconds of the server's return, and for 10 minutes at most.
 */
const leftoverRetry = Schedule.min([Schedule.exponential("500 millis"), Schedule.spaced("5 seconds")]).pipe(
  Schedule.upTo({ duration: "10 minutes" })
)

/** Links are not created to links, but a meta written by hand could loop. */
const maxLinkDepth = 8

/** How often a read-modify-write of a meta is retried when another writer got in between. */
const conflictRetries = 16

interface Tuning {
  readonly chunkSize: number
  readonly publishWindow: number
  readonly readAhead: number
  readonly stallTimeout: Duration.Duration
}

type Client = NatsClient.NatsClient["Service"]
type StoredInfo = Omit<ObjectInfo, "revision">

const fail = (reason: Errors.ObjectStoreErrorReason) => Effect.fail(Errors.fromReason(reason))

/**
 * The reason a `NatsError` means here: a missing stream is a missing bucket,
 * a refused store a full bucket, a sealed stream a sealed bucket.
 */
const fromNatsError = (bucket: string, name = "") => (error: NatsError.NatsError): ObjectStoreError => {
  const reason = error.reason
  switch (reason._tag) {
    case "StreamNotFound":
    case "NoResponders":
      return Errors.fromReason(
        new Errors.BucketNotFound({ bucket, message: `bucket ${bucket} not found: no stream ${Wire.streamName(bucket)}` })
      )
    case "StreamSealed":
      return Errors.fromReason(new Errors.BucketSealed({ bucket, message: `bucket ${bucket} is sealed` }))
    case "StorageLimitExceeded":
      // A chunk over the stream's maxMsgSize is not a full bucket.
      if (reason.limit === "message size") break
      return Errors.fromReason(
        new Errors.BucketFull({ bucket, name, message: `bucket ${bucket} is full: ${reason.message}` })
      )
  }
  return Errors.fromReason(error)
}

/** The server answered a publish with an error: the message was not stored. */
const refusedByServer = (cause: Cause.Cause<NatsError.NatsError>): boolean => {
  const error = Cause.findErrorOption(cause)
  if (Option.isNone(error)) return false
  const tag = error.value.reason._tag
  return tag !== "TimeoutError" && tag !== "ConnectionError" && tag !== "UnknownError"
}

/** Whether an operation failed because the server could not be reached. */
const failedWithServerAway = (exit: Exit.Exit<unknown, unknown>): boolean => {
  if (Exit.isSuccess(exit)) return false
  const error = Cause.findErrorOption(exit.cause)
  return Option.isSome(error) && Errors.isObjectStoreError(error.value) && error.value.reason._tag === "NatsError" &&
    error.value.reason.isRetryable
}

const isConflict = (error: ObjectStoreError): boolean =>
  error.reason._tag === "NatsError" && error.reason.reason._tag === "WrongLastSequence"

const retryOnConflict = <A, R>(effect: Effect.Effect<A, ObjectStoreError, R>) =>
  Effect.retry(effect, { while: isConflict, times: conflictRetries })

/** Refuses a name the grammar or the server's protocol line does not allow, before anything is sent. */
const validateName = (client: Client, bucket: string, name: string) => {
  const problem = Wire.objectNameProblem(bucket, name, client.server.maxControlLine)
  return problem === undefined ? Effect.void : fail(new Errors.InvalidObjectName({ bucket, name, message: problem }))
}

const validateBucketName = (client: Client, bucket: string) => {
  const problem = Wire.bucketNameProblem(bucket, client.server.maxControlLine)
  return problem === undefined ? Effect.void : fail(new Errors.InvalidBucketName({ bucket, message: problem }))
}

const positiveInteger = (option: string, value: number | undefined, fallback: number) =>
  value === undefined
    ? Effect.succeed(fallback)
    : Number.isSafeInteger(value) && value > 0
    ? Effect.succeed(value)
    : fail(new Errors.InvalidOption({ option, message: `${option} must be a positive integer, got ${value}` }))

const duration = (
  option: string,
  input: Duration.Input | undefined,
  fallback: Duration.Duration,
  allowZero: boolean
) =>
  input === undefined ? Effect.succeed(fallback) : Option.match(Duration.fromInput(input), {
    onNone: () => fail(new Errors.InvalidOption({ option, message: `${option} is not a duration: ${String(input)}` })),
    onSome: (value) =>
      Duration.isGreaterThan(value, Duration.zero) || (allowZero && Duration.isZero(value))
        ? Effect.succeed(value)
        : fail(
          new Errors.InvalidOption({
            option,
            message: `${option} must be ${allowZero ? "zero or longer" : "longer than zero"}`
          })
        )
  })

const requireFeature = (client: Client, feature: string) =>
  NatsClient.serverAtLeast(client.server, 2, 10) ? Effect.void : fail(
    new Errors.FeatureNotSupported({
      feature,
      requiredVersion: "2.10.0",
      serverVersion: client.server.version,
      message: `bucket ${feature} needs nats-server 2.10.0 or later, the server is ${client.server.version}`
    })
  )

/** The stream of a bucket, as every client creates it (ADR-20). */
const streamConfig = (options: ObjectStoreOptions): NatsClient.StreamConfig => ({
  name: Wire.streamName(options.bucket),
  subjects: Wire.streamSubjects(options.bucket),
  description: options.description,
  allowRollup: true,
  allowDirect: true,
  discard: "new",
  maxBytes: options.maxBytes === undefined || options.maxBytes === 0 ? -1 : options.maxBytes,
  maxAge: options.ttl,
  storage: options.storage ?? "file",
  replicas: options.replicas ?? 1,
  placement: options.placement,
  metadata: options.metadata,
  compression: options.compression === true ? "s2" : undefined
})

/** A resolved configuration as one to send back: what 2.9 servers do not know is left out when unset. */
const toStreamConfig = (config: NatsClient.StreamConfigResolved): NatsClient.StreamConfig => ({
  ...config,
  compression: config.compression === "s2" ? "s2" : undefined
})

const toStatus = (bucket: string, info: NatsClient.StreamInfo): BucketStatus => ({
  bucket,
  description: info.config.description,
  ttl: info.config.maxAge,
  storage: info.config.storage,
  replicas: info.config.replicas,
  sealed: info.config.sealed,
  size: info.state.bytes,
  backingStore: "JetStream",
  metadata: info.config.metadata,
  compressed: info.config.compression === "s2",
  streamInfo: info
})

const openOrCreate = (client: Client, options: ObjectStoreOptions) => {
  const config = streamConfig(options)
  const create = client.jetstream.streams.add(config).pipe(
    // Another process created it between our look-up and our add.
    Effect.catchIf(
      (error) => error.reason._tag === "StreamExists",
      () => client.jetstream.streams.info(config.name)
    )
  )
  return client.jetstream.streams.info(config.name).pipe(
    Effect.catchIf((error) => error.reason._tag === "StreamNotFound", () => create),
    Effect.mapError(fromNatsError(options.bucket))
  )
}

export const make = Effect.fnUntraced(function*(options: ObjectStoreOptions) {
  const client = yield* NatsClient.NatsClient
  yield* validateBucketName(client, options.bucket)
  const tuning: Tuning = {
    chunkSize: Math.min(
      yield* positiveInteger("chunkSize", options.chunkSize, Wire.defaultChunkSize),
      client.server.maxPayload
    ),
    publishWindow: yield* positiveInteger("publishWindow", options.publishWindow, defaults.publishWindow),
    readAhead: yield* positiveInteger("readAhead", options.readAhead, defaults.readAhead),
    stallTimeout: yield* duration("stallTimeout", options.stallTimeout, defaults.stallTimeout, false)
  }
  if (options.maxBytes !== undefined && !(Number.isSafeInteger(options.maxBytes) && options.maxBytes >= -1)) {
    return yield* fail(
      new Errors.InvalidOption({ option: "maxBytes", message: `maxBytes must be -1, 0 or a positive integer` })
    )
  }
  yield* positiveInteger("replicas", options.replicas, 1)
  if (options.metadata !== undefined) yield* requireFeature(client, "metadata")
  if (options.compression === true) yield* requireFeature(client, "compression")
  yield* openOrCreate(client, options)
  return makeBucket(client, options.bucket, tuning, yield* Effect.scope)
})

/** The operations on `bucket`, which exists; background work runs in `scope`. */
const makeBucket = (client: Client, bucket: string, tuning: Tuning, scope: Scope.Scope): Bucket => {
  const js = client.jetstream
  const stream = Wire.streamName(bucket)
  const spanAttributes = (name: string) => ({
    "messaging.system": "nats",
    "messaging.destination.name": Wire.metaSubject(bucket, name),
    "nats.object_store.bucket": bucket,
    "nats.object_store.object": name
  })

  // --- meta --------------------------------------------------------------

  /** The last meta message of `name` in `ofBucket`, if any. */
  const lastMeta = (ofBucket: string, name: string) =>
    js.getMessage(Wire.streamName(ofBucket), { lastBySubject: Wire.metaSubject(ofBucket, name) }).pipe(
      Effect.mapError(fromNatsError(ofBucket, name))
    )

  /** The last meta of `name` in `ofBucket`, deleted or not; `None` when there is none. */
  const readMeta = (ofBucket: string, name: string) =>
    lastMeta(ofBucket, name).pipe(
      Effect.flatMap(Option.match({
        onNone: () => Effect.succeedNone,
        onSome: (msg) => {
          const decoded = Wire.decodeInfo(ofBucket, msg)
          return typeof decoded === "string"
            ? fail(new Errors.BadObjectMeta({ bucket: ofBucket, name, message: decoded }))
            : Effect.succeed(Option.some(decoded))
        }
      }))
    )

  const notFound = (ofBucket: string, name: string, deleted: boolean) =>
    fail(
      new Errors.ObjectNotFound({
        bucket: ofBucket,
        name,
        message: `object ${JSON.stringify(name)} ${deleted ? "was deleted from" : "not found in"} bucket ${ofBucket}`
      })
    )

  /** The live (not deleted) meta of `name` in `ofBucket`. */
  const liveInfo = (ofBucket: string, name: string) =>
    readMeta(ofBucket, name).pipe(
      Effect.flatMap(Option.match({
        onNone: () => notFound(ofBucket, name, false),
        onSome: (info) => info.deleted ? notFound(ofBucket, name, true) : Effect.succeed(info)
      }))
    )

  /**
   * Publishes `info` as the meta of `info.name` with rollup, if the last meta
   * on that subject is still the one at `revision` (0: none).
   */
  const publishMeta = (info: StoredInfo, revision: number) =>
    js.publish(Wire.metaSubject(bucket, info.name), Wire.encodeInfo(info), {
      headers: Wire.rollupHeaders,
      expect: { lastSubjectSequence: revision }
    }).pipe(
      Effect.mapError(fromNatsError(bucket, info.name)),
      Effect.map((ack): ObjectInfo => ({ ...info, revision: ack.seq }))
    )

  const purge = (filter: string, name: string, options?: { readonly seq?: number }) =>
    js.streams.purge(stream, { filter, ...options }).pipe(Effect.mapError(fromNatsError(bucket, name)))

  // --- chunks left behind -----------------------------------------------

  /**
   * Removes the chunks under `nuid` that `what` left behind, without failing.
   * When the server cannot be reached (the usual reason a put fails: a
   * retryable `NatsError`), keeps trying in the background, in the store's
   * scope, for a bounded time; a refusal (permissions, JetStream off) would
   * be refused again, so those chunks are left to `sweep`. `serverAway` (the
   * put failed for that reason) skips the attempt now.
   */
  const removeLeftovers = (nuid: string, what: string, serverAway = false): Effect.Effect<void> => {
    const removal = js.streams.purge(stream, { filter: Wire.chunkSubject(bucket, nuid) })
    const inBackground = Effect.logWarning(`object store: cannot remove the chunks of ${what} now, retrying`).pipe(
      Effect.andThen(Effect.forkIn(
        removal.pipe(
          Effect.retry({ schedule: leftoverRetry, while: (error) => error.isRetryable }),
          Effect.matchEffect({
            onSuccess: ({ purged }) => Effect.logInfo(`object store: removed the ${purged} chunks of ${what}`),
            onFailure: (error) =>
              Effect.logWarning(`object store: gave up removing the chunks of ${what}; sweep removes them`, error)
          })
        ),
        scope
      )),
      Effect.asVoid
    )
    const now = removal.pipe(
      Effect.matchEffect({
        onSuccess: () => Effect.void,
        onFailure: (error) =>
          error.isRetryable
            ? inBackground
            : Effect.logWarning(`object store: the chunks of ${what} were not removed; sweep removes them`, error)
      })
    )
    return (serverAway ? inBackground : now).pipe(
      Effect.annotateLogs({ "nats.object_store.bucket": bucket, "nats.object_store.nuid": nuid })
    )
  }

  /** Removes the chunks of an object that was replaced: the put succeeded whatever happens here. */
  const purgeReplaced = (previous: ObjectInfo, nuid: string) =>
    previous.deleted || previous.nuid === "" || previous.nuid === nuid ||
      previous.options?.link !== undefined
      ? Effect.void
      : removeLeftovers(previous.nuid, `the replaced ${JSON.stringify(previous.name)}`)

  /** The nuids of this store's puts in flight, which `sweep` never touches. */
  const putsInFlight = new Set<string>()
  /** Per sweep running: the nuids of every put in flight since it began. */
  const sweepsRunning = new Set<Set<string>>()

  const putStarted = (nuid: string) =>
    Effect.sync(() => {
      putsInFlight.add(nuid)
      for (const spared of sweepsRunning) spared.add(nuid)
    })
  const putEnded = (nuid: string) => Effect.sync(() => putsInFlight.delete(nuid))

  // --- put ---------------------------------------------------------------

  const resolveChunkSize = (maxChunkSize: number | undefined) =>
    maxChunkSize === undefined
      ? Effect.succeed(tuning.chunkSize)
      : Effect.map(
        positiveInteger("options.maxChunkSize", maxChunkSize, tuning.chunkSize),
        (size) => Math.min(size, client.server.maxPayload)
      )

  const put = <E, R>(
    metaInput: string | ObjectMeta,
    data: Stream.Stream<Uint8Array, E, R>
  ): Effect.Effect<ObjectInfo, ObjectStoreError | E, R> => {
    const meta: ObjectMeta = typeof metaInput === "string" ? { name: metaInput } : metaInput
    return Effect.gen(function*() {
      yield* validateName(client, bucket, meta.name)
      if (meta.options !== undefined && "link" in meta.options) {
        return yield* fail(
          new Errors.LinkNotAllowed({
            bucket,
            name: meta.name,
            message: "link cannot be set when putting the object in bucket"
          })
        )
      }
      const chunkSize = yield* resolveChunkSize(meta.options?.maxChunkSize)
      const nuid = Nuid.next()
      const chunkSubject = Wire.chunkSubject(bucket, nuid)
      const rechunker = new Rechunker(chunkSize)
      const toBucketError = fromNatsError(bucket, meta.name)
      // Chunks that may be in the stream: acknowledged, or lost on the way
      // back (a chunk the server refused is not stored).
      let maybeStored = 0
      // Uninterruptible: an interrupted put waits for the chunks in flight, so
      // none is stored after the cleanup has purged the subject.
      const publishChunk = (chunk: Uint8Array) =>
        Effect.uninterruptible(js.publish(chunkSubject, chunk).pipe(
          Effect.onExit((exit) =>
            Exit.isSuccess(exit) || !refusedByServer(exit.cause)
              ? Effect.sync(() => {
                maybeStored++
              })
              : Effect.void
          ),
          Effect.mapError(toBucketError)
        ))

      const upload = data.pipe(
        Stream.mapAccumArray(() => rechunker, (state, pieces) => [state, state.push(pieces)], {
          onHalt: (state) => state.flush()
        }),
        Stream.mapEffect(publishChunk, { concurrency: tuning.publishWindow }),
        Stream.runDrain
      )

      // Without interruption: once the meta is stored the put has happened,
      // its chunks must stay, and the replaced object's chunks must go.
      let committed = false
      const commit = Effect.suspend(() => {
        const complete: StoredInfo = {
          ...Wire.metaFields(meta),
          options: { maxChunkSize: chunkSize },
          bucket,
          nuid,
          size: rechunker.size,
          chunks: rechunker.chunks,
          digest: Wire.formatDigest(rechunker.digest()),
          mtime: new Date(),
          deleted: false
        }
        const replace = Effect.gen(function*() {
          const last = Option.getOrUndefined(yield* lastMeta(bucket, meta.name))
          // A meta we cannot read is replaced all the same; only its chunks stay.
          const previous = last === undefined ? undefined : Wire.decodeInfo(bucket, last)
          const stored = yield* publishMeta(complete, last?.seq ?? 0)
          committed = true
          if (typeof previous === "object") yield* purgeReplaced(previous, nuid)
          return stored
        })
        return Effect.uninterruptible(retryOnConflict(replace))
      })

      yield* putStarted(nuid)
      const stored = yield* upload.pipe(
        Effect.andThen(commit),
        Effect.onExit((exit) =>
          committed || maybeStored === 0
            ? Effect.void
            : removeLeftovers(nuid, `the failed put of ${JSON.stringify(meta.name)}`, failedWithServerAway(exit))
        ),
        Effect.ensuring(putEnded(nuid))
      )
      yield* Tracing.annotateSpan({
        "nats.object_store.size": stored.size,
        "nats.object_store.chunks": stored.chunks
      })
      return stored
    }).pipe(
      Tracing.withSpan("ObjectStore.put", () => ({ kind: "producer", attributes: spanAttributes(meta.name) }))
    )
  }

  const putBytes = (meta: string | ObjectMeta, data: Uint8Array | string) =>
    put(meta, Stream.succeed(typeof data === "string" ? Buffer.from(data, "utf8") : data))

  const putFile = (meta: string | ObjectMeta, path: string) =>
    Effect.flatMap(
      resolveChunkSize(typeof meta === "string" ? undefined : meta.options?.maxChunkSize),
      (chunkSize) => put(meta, Files.readChunks(path, chunkSize))
    )

  // --- get ---------------------------------------------------------------

  /**
   * The object whose content `name` stands for, following links, with the
   * bucket it was found in: its chunks are there, whatever its meta's
   * `bucket` says (as nats.go and nats.js read them).
   */
  const resolveContent = (
    ofBucket: string,
    name: string,
    depth: number
  ): Effect.Effect<{ readonly bucket: string; readonly info: ObjectInfo }, ObjectStoreError> =>
    Effect.flatMap(liveInfo(ofBucket, name), (info) => {
      const link = info.options?.link
      if (link === undefined) return Effect.succeed({ bucket: ofBucket, info })
      if (link.name === undefined) {
        return fail(
          new Errors.LinkIsBucket({
            bucket: ofBucket,
            name,
            message: `object ${JSON.stringify(name)} is a link to the bucket ${link.bucket}, not to an object`
          })
        )
      }
      if (depth >= maxLinkDepth) {
        return fail(
          new Errors.BadObjectMeta({ bucket: ofBucket, name, message: `links nest more than ${maxLinkDepth} deep` })
        )
      }
      return resolveContent(link.bucket, link.name, depth + 1)
    })

  /** The chunks of `info`, stored in `ofBucket`, checked against its size, chunk count and digest at the end. */
  const content = (ofBucket: string, info: ObjectInfo): Stream.Stream<Uint8Array, ObjectStoreError> => {
    const name = info.name
    const badMeta = (message: string) => Errors.fromReason(new Errors.BadObjectMeta({ bucket: ofBucket, name, message }))
    const expected = info.digest === "" ? undefined : Wire.parseDigest(info.digest)
    if (info.digest !== "" && expected === undefined) {
      return Stream.fail(badMeta(`the digest ${JSON.stringify(info.digest)} is not a SHA-256 digest`))
    }
    if (info.chunks === 0) {
      return info.size === 0 ? Stream.empty : Stream.fail(badMeta(`the meta says ${info.size} bytes in no chunk`))
    }
    if (info.nuid === "") return Stream.fail(badMeta("the meta has no nuid, so no chunk subject"))
    const hash = createHash("sha256")
    let received = 0
    let size = 0
    const stalled = (message: string) =>
      Errors.fromReason(
        new Errors.ObjectStalled({ bucket: ofBucket, name, received, chunks: info.chunks, message })
      )
    const verify = Effect.suspend(() => {
      if (received < info.chunks) {
        return Effect.fail(
          stalled(`the bucket holds ${received} of the ${info.chunks} chunks of ${JSON.stringify(name)}`)
        )
      }
      if (size !== info.size) return Effect.fail(badMeta(`the meta says ${info.size} bytes, the chunks hold ${size}`))
      const actual = hash.digest()
      if (expected !== undefined && !Buffer.from(expected).equals(actual)) {
        return Effect.fail(
          Errors.fromReason(
            new Errors.DigestMismatch({
              bucket: ofBucket,
              name,
              expected: info.digest,
              actual: Wire.formatDigest(actual),
              message: `received a corrupt object ${JSON.stringify(name)}: digests do not match`
            })
          )
        )
      }
      return Tracing.annotateSpan({ "nats.object_store.size": size, "nats.object_store.chunks": received })
    })
    return js.ordered(Wire.streamName(ofBucket), {
      filterSubjects: [Wire.chunkSubject(ofBucket, info.nuid)],
      bufferMessages: tuning.readAhead
    }).pipe(
      Stream.mapError(fromNatsError(ofBucket, name)),
      failWhenStalled(tuning.stallTimeout, () =>
        stalled(
          `no chunk of ${JSON.stringify(name)} for ${Duration.format(tuning.stallTimeout)} after ${received} of ${info.chunks}`
        )),
      // Stop at the last chunk the meta counts, or earlier when the bucket holds no more.
      Stream.takeUntil((msg, index) => msg.pending === 0 || index + 1 >= info.chunks),
      Stream.map((msg) => {
        received++
        size += msg.data.length
        hash.update(msg.data)
        return msg.data
      }),
      Stream.concat(Stream.fromEffectDrain(verify))
    )
  }

  const open = (name: string) =>
    Effect.andThen(validateName(client, bucket, name), resolveContent(bucket, name, 0)).pipe(
      Effect.map((found) => ({ info: found.info, data: content(found.bucket, found.info) }))
    )

  const get = (name: string) =>
    Stream.unwrap(Effect.map(open(name), ({ data }) => data)).pipe(
      Tracing.streamWithSpan("ObjectStore.get", () => ({ kind: "consumer", attributes: spanAttributes(name) }))
    )

  const getBytes = (name: string) =>
    get(name).pipe(
      Stream.runCollect,
      Effect.map((pieces) => new Uint8Array(Buffer.concat(pieces)))
    )

  /**
   * Best effort: the get has failed, and that failure is what the caller
   * needs. A partial file that cannot be removed (its directory is gone or
   * not one) is logged, not turned into a defect over the failure.
   */
  const removePartial = (partial: string) =>
    Effect.tryPromise({ try: () => rm(partial, { force: true }), catch: Files.fileError(partial, "remove") }).pipe(
      Effect.ignore({ log: "Warn", message: `object store: cannot remove the partial file ${partial}` })
    )

  const getFile = (name: string, path: string) =>
    Effect.gen(function*() {
      const { data, info } = yield* open(name)
      // Written beside the destination and renamed into place once checked.
      const partial = `${path}.${Nuid.next()}.partial`
      yield* Files.writeStream(partial, data).pipe(
        Effect.andThen(Effect.tryPromise({ try: () => rename(partial, path), catch: Files.fileError(path, "write") })),
        Effect.onError(() => removePartial(partial))
      )
      return info
    }).pipe(
      Tracing.withSpan("ObjectStore.getFile", () => ({ kind: "consumer", attributes: spanAttributes(name) }))
    )

  // --- meta operations ---------------------------------------------------

  const info = (name: string) =>
    Effect.andThen(validateName(client, bucket, name), liveInfo(bucket, name)).pipe(
      Tracing.withSpan("ObjectStore.info", () => ({ kind: "client", attributes: spanAttributes(name) }))
    )

  /** The meta messages of the bucket, decoded; one that does not decode is logged and skipped. */
  const decodeMetas = (metas: Stream.Stream<NatsClient.StoredMsg, NatsError.NatsError>) =>
    metas.pipe(
      Stream.mapError(fromNatsError(bucket)),
      Stream.mapEffect((msg) => {
        const decoded = Wire.decodeInfo(bucket, msg)
        return typeof decoded === "string"
          ? Effect.as(Effect.logWarning(`object store: skipped a meta of bucket ${bucket}: ${decoded}`), undefined)
          : Effect.succeed(decoded)
      }),
      Stream.filter((info): info is ObjectInfo => info !== undefined)
    )

  const metaConsumer = (options: NatsClient.OrderedConsumerOptions): NatsClient.OrderedConsumerOptions => ({
    ...options,
    filterSubjects: [Wire.allMetaSubjects(bucket)]
  })

  const list = () =>
    decodeMetas(js.ordered(stream, metaConsumer({ deliver: "last_per_subject", untilCaughtUp: true }))).pipe(
      Stream.filter((info) => !info.deleted),
      Stream.runCollect,
      Tracing.withSpan("ObjectStore.list", () => ({
        kind: "client",
        attributes: { "nats.object_store.bucket": bucket }
      }))
    )

  const openWatch = (options: WatchOptions = {}) =>
    js.openOrdered(
      stream,
      metaConsumer({
        deliver: options.afterRevision !== undefined
          ? { startSequence: options.afterRevision + 1 }
          : options.updatesOnly
          ? "new"
          : options.includeHistory
          ? "all"
          : "last_per_subject"
      })
    ).pipe(
      Effect.mapError(fromNatsError(bucket)),
      Effect.map((metas) => decodeMetas(metas).pipe(Stream.filter((info) => !(options.ignoreDeletes && info.deleted))))
    )

  const watch = (options?: WatchOptions) => Stream.unwrap(openWatch(options))

  const remove = (name: string) =>
    Effect.andThen(
      validateName(client, bucket, name),
      retryOnConflict(Effect.gen(function*() {
        const current = yield* liveInfo(bucket, name)
        yield* publishMeta(
          { ...current, size: 0, chunks: 0, digest: "", mtime: new Date(), deleted: true },
          current.revision
        )
        if (current.nuid !== "" && current.options?.link === undefined) {
          yield* purge(Wire.chunkSubject(bucket, current.nuid), name)
        }
      }))
    ).pipe(Tracing.withSpan("ObjectStore.delete", () => ({ kind: "client", attributes: spanAttributes(name) })))

  /** Writes a link named `name`, unless an object that is not a link holds the name. */
  const writeLink = (name: string, link: { readonly bucket: string; readonly name?: string }) =>
    retryOnConflict(Effect.gen(function*() {
      const current = Option.getOrUndefined(yield* readMeta(bucket, name))
      if (current !== undefined && !current.deleted && current.options?.link === undefined) {
        return yield* fail(
          new Errors.ObjectAlreadyExists({
            bucket,
            name,
            message: `an object already exists with the name ${JSON.stringify(name)} in bucket ${bucket}`
          })
        )
      }
      return yield* publishMeta(
        {
          name,
          options: { link },
          bucket,
          nuid: Nuid.next(),
          size: 0,
          chunks: 0,
          digest: "",
          mtime: new Date(),
          deleted: false
        },
        current?.revision ?? 0
      )
    }))

  const linkNotAllowed = (name: string, message: string) =>
    fail(new Errors.LinkNotAllowed({ bucket, name, message }))

  const link = (name: string, target: ObjectInfo | string) =>
    Effect.gen(function*() {
      yield* validateName(client, bucket, name)
      const to = typeof target === "string" ? yield* info(target) : target
      if (to.deleted) return yield* linkNotAllowed(name, `not allowed to link to the deleted object ${to.name}`)
      if (to.options?.link !== undefined) {
        return yield* linkNotAllowed(name, `not allowed to link to another link (${to.name})`)
      }
      return yield* writeLink(name, { bucket: to.bucket, name: to.name })
    }).pipe(Tracing.withSpan("ObjectStore.link", () => ({ kind: "client", attributes: spanAttributes(name) })))

  const linkBucket = (name: string, targetBucket: string) =>
    Effect.gen(function*() {
      yield* validateName(client, bucket, name)
      yield* validateBucketName(client, targetBucket)
      return yield* writeLink(name, { bucket: targetBucket })
    }).pipe(
      Tracing.withSpan("ObjectStore.linkBucket", () => ({ kind: "client", attributes: spanAttributes(name) }))
    )

  const updateMeta = (name: string, meta: ObjectMeta) =>
    Effect.gen(function*() {
      yield* validateName(client, bucket, name)
      yield* validateName(client, bucket, meta.name)
      return yield* retryOnConflict(Effect.gen(function*() {
        const current = yield* liveInfo(bucket, name)
        const { description: _d, headers: _h, metadata: _m, revision: _r, ...kept } = current
        const next: StoredInfo = { ...kept, ...Wire.metaFields(meta) }
        if (meta.name === name) return yield* publishMeta(next, current.revision)
        const taken = Option.getOrUndefined(yield* readMeta(bucket, meta.name))
        if (taken !== undefined && !taken.deleted) {
          return yield* fail(
            new Errors.ObjectAlreadyExists({
              bucket,
              name: meta.name,
              message: `cannot rename ${JSON.stringify(name)}: an object named ${JSON.stringify(meta.name)} exists`
            })
          )
        }
        const renamed = yield* publishMeta(next, taken?.revision ?? 0)
        // Only up to the meta renamed: a put of the old name meanwhile stays.
        yield* purge(Wire.metaSubject(bucket, name), name, { seq: current.revision + 1 })
        return renamed
      }))
    }).pipe(
      Tracing.withSpan("ObjectStore.updateMeta", () => ({ kind: "client", attributes: spanAttributes(name) }))
    )

  // --- sweep -------------------------------------------------------------

  const readUntilCaughtUp = (options: NatsClient.OrderedConsumerOptions) =>
    js.ordered(stream, { ...options, untilCaughtUp: true }).pipe(Stream.mapError(fromNatsError(bucket)))

  /** The newest chunk of every chunk subject, without its content. */
  const newestChunks = readUntilCaughtUp({
    filterSubjects: [Wire.allChunkSubjects(bucket)],
    deliver: "last_per_subject",
    headersOnly: true
  }).pipe(Stream.runCollect)

  /** The nuids of objects not deleted, and of metas that do not decode but name one. */
  const referencedNuids = readUntilCaughtUp({
    filterSubjects: [Wire.allMetaSubjects(bucket)],
    deliver: "last_per_subject"
  }).pipe(
    Stream.runFold(() => new Set<string>(), (nuids, msg) => {
      const info = Wire.decodeInfo(bucket, msg)
      const nuid = typeof info === "string" ? Wire.undecodedNuid(msg) : info.deleted ? undefined : info.nuid
      if (nuid !== undefined && nuid !== "") nuids.add(nuid)
      return nuids
    })
  )

  /**
   * Removes the chunks on `subject` up to `lastSeq`, the newest one seen, and
   * counts them; a chunk stored since is neither removed nor counted.
   */
  const removeChunksUpTo = (subject: string, lastSeq: number) =>
    readUntilCaughtUp({ filterSubjects: [subject], headersOnly: true }).pipe(
      Stream.takeWhile((msg) => msg.seq <= lastSeq),
      Stream.runFold(() => ({ chunks: 0, bytes: 0 }), (removed, msg) => ({
        chunks: removed.chunks + 1,
        bytes: removed.bytes + Number(NatsHeaders.get(msg.headers, "Nats-Msg-Size") ?? msg.data.length)
      })),
      Effect.tap(() => purge(subject, "", { seq: lastSeq + 1 }))
    )

  const sweep = (options: SweepOptions = {}) =>
    Effect.gen(function*() {
      const olderThan = yield* duration("olderThan", options.olderThan, defaults.sweepOlderThan, true)
      return yield* Effect.acquireUseRelease(
        Effect.sync(() => {
          const spared = new Set(putsInFlight)
          sweepsRunning.add(spared)
          return spared
        }),
        (spared) =>
          Effect.gen(function*() {
            const cutoff = (yield* Clock.currentTimeMillis) - Duration.toMillis(olderThan)
            // Chunks before metas: an object stored in between is seen with its meta.
            const newest = yield* newestChunks
            const referenced = yield* referencedNuids
            const result = { chunks: 0, bytes: 0, nuids: new Array<string>() }
            for (const msg of newest) {
              const nuid = Wire.chunkNuid(bucket, msg.subject)
              if (referenced.has(nuid) || spared.has(nuid) || msg.time.getTime() > cutoff) continue
              const removed = yield* removeChunksUpTo(msg.subject, msg.seq)
              result.chunks += removed.chunks
              result.bytes += removed.bytes
              result.nuids.push(nuid)
            }
            yield* Tracing.annotateSpan({
              "nats.object_store.chunks": result.chunks,
              "nats.object_store.size": result.bytes
            })
            return result satisfies SweepResult
          }),
        (spared) => Effect.sync(() => sweepsRunning.delete(spared))
      )
    }).pipe(
      Tracing.withSpan("ObjectStore.sweep", () => ({
        kind: "client",
        attributes: { "nats.object_store.bucket": bucket }
      }))
    )

  // --- bucket ------------------------------------------------------------

  const streamInfo = js.streams.info(stream).pipe(Effect.mapError(fromNatsError(bucket)))

  const status = () => Effect.map(streamInfo, (info) => toStatus(bucket, info))

  const seal = () =>
    streamInfo.pipe(
      Effect.flatMap((info) =>
        js.streams.update({ ...toStreamConfig(info.config), sealed: true }).pipe(
          Effect.mapError(fromNatsError(bucket))
        )
      ),
      Effect.map((info) => toStatus(bucket, info))
    )

  const destroy = () => js.streams.delete(stream).pipe(Effect.mapError(fromNatsError(bucket)))

  return {
    bucket,
    put,
    putBytes,
    putFile,
    get,
    getBytes,
    getFile,
    info,
    list,
    delete: remove,
    watch,
    openWatch,
    link,
    linkBucket,
    updateMeta,
    sweep,
    status,
    seal,
    destroy
  }
}
