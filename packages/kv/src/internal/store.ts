/**
 * The key-value store on the `NatsClient` port: bucket creation and opening,
 * and the operations on a bucket. Runs unchanged on every adapter.
 */
import { NatsClient, NatsTracing } from "@nats-effect/core"
import type { NatsError } from "@nats-effect/core"
import { Clock, Duration, Effect, Metric, Option, Stream } from "effect"
import type { Bucket, BucketStatus, Entry, KeyValueOptions, PutOptions, WatchOptions } from "../KeyValue.ts"
import * as Errors from "../KeyValueError.ts"
import type { KeyValueError } from "../KeyValueError.ts"
import * as Metrics from "./metrics.ts"
import * as Wire from "./wire.ts"

type Client = NatsClient.NatsClient["Service"]

const fail = (reason: Errors.KeyValueErrorReason) => Effect.fail(Errors.fromReason(reason))

const defaultDuplicateWindow = Duration.minutes(2)
const defaultPurgeDeletesAge = Duration.minutes(30)
const empty = new Uint8Array(0)

/** A compare-and-set refused: the key's last revision is not the one expected. */
const isWrongLastSequence = (error: NatsError.NatsError): boolean => error.reason._tag === "WrongLastSequence"

/** The reason a `NatsError` means here: a missing stream is a missing bucket, a refused size a value too large. */
const fromNatsError = (bucket: string, key = "", value = { size: 0, maxSize: -1 }) =>
(error: NatsError.NatsError): KeyValueError => {
  const reason = error.reason
  switch (reason._tag) {
    case "StreamNotFound":
    case "NoResponders":
      return Errors.fromReason(
        new Errors.BucketNotFound({ bucket, message: `bucket ${bucket} not found: no stream ${Wire.streamName(bucket)}` })
      )
    case "PayloadTooLarge":
      return Errors.fromReason(
        new Errors.ValueTooLarge({
          bucket,
          key,
          size: value.size,
          maxSize: reason.maxPayload,
          message: `the value for ${key} is larger than the server's max_payload: ${reason.message}`
        })
      )
    case "FeatureNotSupported":
      return Errors.fromReason(
        new Errors.FeatureNotSupported({
          feature: reason.feature,
          requiredVersion: reason.requiredVersion,
          serverVersion: reason.serverVersion,
          message: reason.message
        })
      )
    case "JetStreamApiError":
      // JSMessageTTLDisabledErr: the bucket's stream does not allow message TTLs.
      if (reason.errCode === 10166) {
        return Errors.fromReason(
          new Errors.InvalidOption({
            option: "ttl",
            message: `bucket ${bucket} takes no per-key TTL (for ${key}): open it with limitMarkerTtl`
          })
        )
      }
      break
    case "StorageLimitExceeded":
      if (reason.limit === "message size") {
        return Errors.fromReason(
          new Errors.ValueTooLarge({
            bucket,
            key,
            size: value.size,
            maxSize: value.maxSize,
            message: `bucket ${bucket} refused the value for ${key} (${value.size} bytes): ${reason.message}`
          })
        )
      }
  }
  return Errors.fromReason(error)
}

const validateBucketName = (bucket: string) =>
  Wire.isValidBucketName(bucket) ? Effect.void : fail(
    new Errors.InvalidBucketName({
      bucket,
      message: `invalid bucket name ${JSON.stringify(bucket)}: use 1 or more of A-Z a-z 0-9 _ -`
    })
  )

const invalidOption = (option: string, message: string) => fail(new Errors.InvalidOption({ option, message }))

const requireFeature = (client: Client, feature: string, major: number, minor: number) =>
  NatsClient.serverAtLeast(client.server, major, minor) ? Effect.void : fail(
    new Errors.FeatureNotSupported({
      feature,
      requiredVersion: `${major}.${minor}.0`,
      serverVersion: client.server.version,
      message: `${feature} needs nats-server ${major}.${minor}.0 or later, the server is ${client.server.version}`
    })
  )

/** Whether `input` is a duration of at least a second, the server's least TTL. */
const atLeastASecond = (input: Duration.Input): boolean =>
  Option.match(Duration.fromInput(input), {
    onNone: () => false,
    onSome: (duration) => Duration.isFinite(duration) && Duration.isGreaterThanOrEqualTo(duration, Duration.seconds(1))
  })

const validateOptions = Effect.fnUntraced(function*(client: Client, options: KeyValueOptions) {
  yield* validateBucketName(options.bucket)
  const { history, maxBytes, maxValueSize, replicas } = options
  if (history !== undefined && !(Number.isSafeInteger(history) && history >= 1 && history <= Wire.maxHistory)) {
    return yield* invalidOption("history", `history must be an integer from 1 to ${Wire.maxHistory}, got ${history}`)
  }
  for (const [option, value] of [["maxBytes", maxBytes], ["maxValueSize", maxValueSize]] as const) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= -1)) {
      return yield* invalidOption(option, `${option} must be -1, 0 or a positive integer, got ${value}`)
    }
  }
  if (replicas !== undefined && !(Number.isSafeInteger(replicas) && replicas >= 1)) {
    return yield* invalidOption("replicas", `replicas must be a positive integer, got ${replicas}`)
  }
  if (options.ttl !== undefined && Option.isNone(Duration.fromInput(options.ttl))) {
    return yield* invalidOption("ttl", `ttl is not a duration: ${String(options.ttl)}`)
  }
  if (options.limitMarkerTtl !== undefined && !atLeastASecond(options.limitMarkerTtl)) {
    return yield* invalidOption(
      "limitMarkerTtl",
      `limitMarkerTtl is a duration of at least 1 second, got ${String(options.limitMarkerTtl)}`
    )
  }
  if (options.metadata !== undefined) yield* requireFeature(client, "bucket metadata", 2, 10)
  if (options.compression !== undefined) yield* requireFeature(client, "bucket compression", 2, 10)
  if (options.limitMarkerTtl !== undefined) yield* requireFeature(client, "bucket limit markers", 2, 11)
})

const unlimited = (value: number | undefined): number | undefined =>
  value === undefined ? undefined : value === 0 ? -1 : value

/**
 * The stream settings each option given stands for, by option (ADR-8 as
 * nats.go writes it). A TTL shorter than the default duplicate window
 * shortens the window with it: the server refuses a window longer than the
 * stream's max age.
 */
const optionSettings = (options: KeyValueOptions): ReadonlyArray<readonly [string, Partial<NatsClient.StreamConfig>]> => {
  const out: Array<readonly [string, Partial<NatsClient.StreamConfig>]> = []
  if (options.description !== undefined) out.push(["description", { description: options.description }])
  if (options.history !== undefined) out.push(["history", { maxMsgsPerSubject: options.history }])
  if (options.ttl !== undefined) {
    const ttl = Duration.fromInputUnsafe(options.ttl)
    const shortTtl = Duration.isGreaterThan(ttl, Duration.zero) &&
      Duration.isLessThan(ttl, defaultDuplicateWindow)
    out.push(["ttl", { maxAge: ttl, duplicateWindow: shortTtl ? ttl : defaultDuplicateWindow }])
  }
  if (options.maxValueSize !== undefined) out.push(["maxValueSize", { maxMsgSize: unlimited(options.maxValueSize) }])
  if (options.maxBytes !== undefined) out.push(["maxBytes", { maxBytes: unlimited(options.maxBytes) }])
  if (options.storage !== undefined) out.push(["storage", { storage: options.storage }])
  if (options.replicas !== undefined) out.push(["replicas", { replicas: options.replicas }])
  if (options.metadata !== undefined) out.push(["metadata", { metadata: options.metadata }])
  if (options.compression !== undefined) out.push(["compression", { compression: options.compression ? "s2" : "none" }])
  if (options.limitMarkerTtl !== undefined) {
    out.push(["limitMarkerTtl", { allowMsgTtl: true, subjectDeleteMarkerTtl: options.limitMarkerTtl }])
  }
  return out
}

/** The stream of a new bucket, as nats.go creates it. */
const streamConfig = (client: Client, options: KeyValueOptions): NatsClient.StreamConfig => {
  const config: NatsClient.StreamConfig = {
    name: Wire.streamName(options.bucket),
    subjects: [Wire.keySubject(options.bucket, Wire.allKeys)],
    maxMsgsPerSubject: 1,
    maxMsgs: -1,
    maxBytes: -1,
    maxMsgSize: -1,
    storage: "file",
    replicas: 1,
    allowRollup: true,
    denyDelete: true,
    discard: "new",
    duplicateWindow: defaultDuplicateWindow,
    // Direct get came with nats-server 2.9.
    allowDirect: NatsClient.serverAtLeast(client.server, 2, 9)
  }
  return Object.assign({}, config, ...optionSettings(options).map(([, settings]) => settings))
}

/** Whether the current configuration already has `settings`. */
const alreadySet = (current: NatsClient.StreamConfigResolved, settings: Partial<NatsClient.StreamConfig>): boolean =>
  Object.entries(settings).every(([field, value]) => {
    const actual = current[field as keyof NatsClient.StreamConfigResolved]
    if (Duration.isDuration(actual)) return Duration.equals(actual, Duration.fromInputUnsafe(value as Duration.Input))
    return JSON.stringify(actual) === JSON.stringify(value)
  })

/**
 * Applies to an existing bucket the options given that differ from its
 * configuration: all at once, or, when the server refuses that, each on its
 * own, logging those it refuses.
 */
const applyOptions = (client: Client, options: KeyValueOptions, info: NatsClient.StreamInfo) => {
  const name = Wire.streamName(options.bucket)
  const changes = optionSettings(options).filter(([, settings]) => !alreadySet(info.config, settings))
  if (changes.length === 0) return Effect.succeed(info)
  const update = (settings: ReadonlyArray<Partial<NatsClient.StreamConfig>>) =>
    client.jetstream.streams.update(Object.assign({ name, subjects: info.config.subjects }, ...settings))
  return update(changes.map(([, settings]) => settings)).pipe(
    Effect.catchIf(
      (error) => error.reason._tag !== "StreamNotFound",
      () =>
        Effect.forEach(changes, ([option, settings]) =>
          update([settings]).pipe(
            Effect.catchIf(
              (error) => error.reason._tag !== "StreamNotFound",
              (error) =>
                Effect.logWarning(
                  `key-value bucket ${options.bucket}: the server did not change ${option}: ${error.reason.message}`
                )
            )
          ), { discard: true }).pipe(Effect.andThen(client.jetstream.streams.info(name)))
    )
  )
}

const openOrCreate = (client: Client, options: KeyValueOptions) => {
  const config = streamConfig(client, options)
  const streams = client.jetstream.streams
  const create = streams.add(config).pipe(
    // Another process created it between our look-up and our add.
    Effect.catchIf(
      (error) => error.reason._tag === "StreamExists",
      () => Effect.flatMap(streams.info(config.name), (info) => applyOptions(client, options, info))
    )
  )
  return streams.info(config.name).pipe(
    Effect.flatMap((info) => applyOptions(client, options, info)),
    Effect.catchIf((error) => error.reason._tag === "StreamNotFound", () => create),
    Effect.mapError(fromNatsError(options.bucket))
  )
}

export const make = Effect.fnUntraced(function*(options: KeyValueOptions) {
  const client = yield* NatsClient.NatsClient
  yield* validateOptions(client, options)
  const info = yield* openOrCreate(client, options)
  return makeBucket(client, options.bucket, info.config.maxMsgSize)
})

const toStatus = (bucket: string, info: NatsClient.StreamInfo): BucketStatus => ({
  bucket,
  description: info.config.description,
  values: info.state.messages,
  history: info.config.maxMsgsPerSubject,
  ttl: info.config.maxAge,
  limitMarkerTtl: info.config.subjectDeleteMarkerTtl,
  maxValueSize: info.config.maxMsgSize,
  maxBytes: info.config.maxBytes,
  bytes: info.state.bytes,
  storage: info.config.storage,
  replicas: info.config.replicas,
  metadata: info.config.metadata,
  compressed: info.config.compression === "s2",
  backingStore: "JetStream",
  streamInfo: info
})

const utf8 = (value: Uint8Array | string): Uint8Array => typeof value === "string" ? Buffer.from(value, "utf8") : value

/** The operations on `bucket`, which exists; `maxValueSize` is its stream's `max_msg_size` (-1: none). */
const makeBucket = (client: Client, bucket: string, maxValueSize: number): Bucket => {
  const js = client.jetstream
  const stream = Wire.streamName(bucket)
  const maxSize = maxValueSize > 0 ? Math.min(maxValueSize, client.server.maxPayload) : client.server.maxPayload

  const validateKey = (key: string) => {
    const problem = Wire.keyProblem(bucket, key, client.server.maxControlLine)
    return problem === undefined ? Effect.void : fail(
      new Errors.InvalidKey({ bucket, key, message: `invalid key ${JSON.stringify(key)}: ${problem}` })
    )
  }

  /** Key filters as subjects; several need nats-server 2.10. */
  const filterSubjects = (filters: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      for (const filter of filters) {
        const problem = Wire.filterProblem(bucket, filter, client.server.maxControlLine)
        if (problem !== undefined) {
          return yield* fail(
            new Errors.InvalidKey({ bucket, key: filter, message: `invalid key filter ${JSON.stringify(filter)}: ${problem}` })
          )
        }
      }
      if (filters.length > 1) yield* requireFeature(client, "watching or listing several key filters", 2, 10)
      return filters.map((filter) => Wire.keySubject(bucket, filter))
    })

  /** The last message of the key, marker or value. */
  const lastEntry = (key: string) =>
    js.getMessage(stream, { lastBySubject: Wire.keySubject(bucket, key) }).pipe(
      Effect.map(Option.map((msg) => Wire.toEntry(bucket, msg))),
      Effect.mapError(fromNatsError(bucket, key))
    )

  const currentRevision = (key: string) =>
    Effect.map(lastEntry(key), Option.match({ onNone: () => 0, onSome: (entry) => entry.revision }))

  /**
   * Publishes on the key; with `revision`, only if the key's last message is
   * still at it (0: the key has none), else `WrongRevision`.
   */
  const write = (
    key: string,
    data: Uint8Array,
    options: {
      readonly headers?: NatsClient.HeadersInput
      readonly revision?: number | undefined
      readonly ttl?: Duration.Input | undefined
    }
  ) => {
    const { revision } = options
    return js.publish(Wire.keySubject(bucket, key), data, {
      headers: options.headers,
      expect: revision === undefined ? undefined : { lastSubjectSequence: revision },
      ttl: options.ttl
    }).pipe(
      Effect.map((ack) => ack.seq),
      Effect.catch((error) =>
        revision !== undefined && isWrongLastSequence(error)
          ? Effect.flatMap(currentRevision(key), (current) =>
            fail(
              new Errors.WrongRevision({
                bucket,
                key,
                expected: revision,
                current,
                message: `${key} in bucket ${bucket} is at revision ${current}, not ${revision}`
              })
            ))
          : Effect.fail(fromNatsError(bucket, key, { size: data.length, maxSize })(error))
      )
    )
  }

  // The hot paths (put, get) compose their steps directly: a generator per
  // call cost get as much as everything else it does on top of the port.
  const writeValue = (key: string, value: Uint8Array | string, revision?: number, ttl?: Duration.Input) => {
    const data = utf8(value)
    return Effect.andThen(
      validateKey(key),
      data.length > maxSize
        ? fail(
          new Errors.ValueTooLarge({
            bucket,
            key,
            size: data.length,
            maxSize,
            message: `the value for ${key} is ${data.length} bytes, bucket ${bucket} takes at most ${maxSize}`
          })
        )
        : write(key, data, { revision, ttl })
    )
  }

  const isWrongRevision = (error: KeyValueError) => error.reason._tag === "WrongRevision"

  const keyExists = (key: string, revision: number) =>
    fail(
      new Errors.KeyExists({ bucket, key, revision, message: `${key} already has a value in bucket ${bucket}` })
    )

  const create = (key: string, value: Uint8Array | string, options?: PutOptions): Effect.Effect<number, KeyValueError> =>
    writeValue(key, value, 0, options?.ttl).pipe(
      // The key has a message: a deleted, purged or expired key is created over its marker.
      Effect.catchIf(isWrongRevision, () =>
        Effect.flatMap(lastEntry(key), (last) => {
          if (Option.isNone(last)) return create(key, value, options)
          if (last.value.operation === "PUT") return keyExists(key, last.value.revision)
          return writeValue(key, value, last.value.revision, options?.ttl).pipe(
            Effect.catchIf(isWrongRevision, (error) =>
              keyExists(key, error.reason._tag === "WrongRevision" ? error.reason.current : 0))
          )
        }))
    )

  const get = (key: string, options?: { readonly revision?: number | undefined }) => {
    const subject = Wire.keySubject(bucket, key)
    const revision = options?.revision
    if (revision !== undefined && !(Number.isSafeInteger(revision) && revision > 0)) {
      return Effect.andThen(
        validateKey(key),
        invalidOption("revision", `a revision is a positive integer, got ${revision}`)
      )
    }
    return Effect.andThen(
      validateKey(key),
      js.getMessage(stream, revision === undefined ? { lastBySubject: subject } : { seq: revision }).pipe(
        Effect.mapError(fromNatsError(bucket, key)),
        Effect.map((found) =>
          Option.filter(
            Option.map(found, (msg) => Wire.toEntry(bucket, msg)),
            (entry) => entry.operation === "PUT" && Wire.keySubject(bucket, entry.key) === subject
          )
        )
      )
    )
  }

  const mark = (operation: "DEL" | "PURGE") => (key: string, options?: { readonly revision?: number | undefined }) =>
    Effect.andThen(
      validateKey(key),
      write(key, empty, { headers: Wire.markerHeaders[operation], revision: options?.revision })
    ).pipe(Effect.asVoid)

  /** Stored messages of the bucket matching `filters`, as entries, from a consumer created now. */
  const openEntries = (filters: ReadonlyArray<string>, options: NatsClient.OrderedConsumerOptions) =>
    Effect.flatMap(filterSubjects(filters), (subjects) =>
      js.openOrdered(stream, { ...options, filterSubjects: subjects }).pipe(
        Effect.mapError(fromNatsError(bucket)),
        Effect.map((messages) =>
          messages.pipe(
            Stream.mapError(fromNatsError(bucket)),
            Stream.map((msg) => Wire.toEntry(bucket, msg))
          )
        )
      ))

  const entries = (filters: ReadonlyArray<string>, options: NatsClient.OrderedConsumerOptions) =>
    Stream.unwrap(openEntries(filters, options))

  const asFilters = (filter: string | ReadonlyArray<string> | undefined): ReadonlyArray<string> =>
    filter === undefined ? [Wire.allKeys] : typeof filter === "string" ? [filter] : filter

  const keys = (filter?: string | ReadonlyArray<string>) =>
    entries(asFilters(filter), { deliver: "last_per_subject", headersOnly: true, untilCaughtUp: true }).pipe(
      Stream.filter((entry) => entry.operation === "PUT"),
      Stream.map((entry) => entry.key)
    )

  const history = (key: string) => entries([key], { deliver: "all", untilCaughtUp: true })

  const openWatch = (options: WatchOptions = {}) =>
    Effect.map(
      openEntries(asFilters(options.key), {
        deliver: typeof options.include === "object"
          ? { startSequence: options.include.afterRevision + 1 }
          : options.include === "history"
          ? "all"
          : options.include === "updatesOnly"
          ? "new"
          : "last_per_subject"
      }),
      Stream.filter((entry) => !(options.ignoreDeletes && entry.operation !== "PUT"))
    )

  const streamInfo = js.streams.info(stream).pipe(Effect.mapError(fromNatsError(bucket)))

  const purgeDeletes = (options?: { readonly olderThan?: Duration.Input | undefined }) =>
    Effect.gen(function*() {
      const olderThan = options?.olderThan === undefined
        ? defaultPurgeDeletesAge
        : Duration.fromInputUnsafe(options.olderThan)
      const now = yield* Clock.currentTimeMillis
      const markers = yield* entries([Wire.allKeys], { deliver: "last_per_subject", headersOnly: true, untilCaughtUp: true })
        .pipe(Stream.filter((entry) => entry.operation !== "PUT"), Stream.runCollect)
      yield* Effect.forEach(markers, (marker: Entry) => {
        const recent = Duration.isGreaterThan(olderThan, Duration.zero) &&
          marker.created.getTime() > now - Duration.toMillis(olderThan)
        return js.streams.purge(stream, { filter: Wire.keySubject(bucket, marker.key), keep: recent ? 1 : 0 })
      }, { discard: true }).pipe(Effect.mapError(fromNatsError(bucket)))
    })

  /** Spans in the OpenTelemetry messaging conventions, as the object store's. */
  const spanAttributes = (key: string | ReadonlyArray<string> | undefined) => {
    const keys = asFilters(key)
    return {
      "messaging.system": "nats",
      "messaging.destination.name": keys.map((k) => Wire.keySubject(bucket, k)).join(" "),
      "nats.kv.bucket": bucket,
      ...(key === undefined ? {} : { "nats.kv.key": keys.join(" ") })
    }
  }
  // Each operation counted in its series of `nats.kv.operations`, built once here.
  const traced = <Args extends [string, ...Array<any>], A>(
    name: Metrics.Operation,
    kind: "client" | "producer",
    operation: (...args: Args) => Effect.Effect<A, KeyValueError>
  ) => {
    const counted = Metric.update(Metrics.operations(bucket, name), 1)
    return (...args: Args) =>
      Effect.andThen(counted, operation(...args)).pipe(
        NatsTracing.withSpan(`KeyValue.${name}`, () => ({ kind, attributes: spanAttributes(args[0]) }))
      )
  }
  const watchCounted = Metric.update(Metrics.operations(bucket, "watch"), 1)
  const tracedOpenWatch = (options?: WatchOptions) =>
    Effect.map(Effect.andThen(watchCounted, openWatch(options)), (changes) =>
      changes.pipe(
        NatsTracing.streamWithSpan("KeyValue.watch", () => ({ kind: "consumer", attributes: spanAttributes(options?.key) }))
      ))
  const tracedStream = <Args extends Array<any>, A>(
    name: Metrics.Operation,
    operation: (...args: Args) => Stream.Stream<A, KeyValueError>,
    keyOf: (...args: Args) => string | ReadonlyArray<string> | undefined
  ) => {
    const counted = Metric.update(Metrics.operations(bucket, name), 1)
    return (...args: Args) =>
      Stream.unwrap(Effect.as(counted, operation(...args))).pipe(
        NatsTracing.streamWithSpan(`KeyValue.${name}`, () => ({ kind: "consumer", attributes: spanAttributes(keyOf(...args)) }))
      )
  }
  return {
    bucket,
    get: traced("get", "client", get),
    put: traced(
      "put",
      "producer",
      (key: string, value: Uint8Array | string, options?: PutOptions) => writeValue(key, value, undefined, options?.ttl)
    ),
    create: traced("create", "producer", create),
    update: traced(
      "update",
      "producer",
      (key: string, value: Uint8Array | string, revision: number) => writeValue(key, value, revision)
    ),
    delete: traced("delete", "producer", mark("DEL")),
    purge: traced("purge", "producer", mark("PURGE")),
    keys: tracedStream("keys", keys, (filter) => filter),
    history: tracedStream("history", history, (key) => key),
    watch: (options?: WatchOptions) => Stream.unwrap(tracedOpenWatch(options)),
    openWatch: tracedOpenWatch,
    status: () => Effect.map(streamInfo, (info) => toStatus(bucket, info)),
    destroy: () => js.streams.delete(stream).pipe(Effect.mapError(fromNatsError(bucket))),
    purgeDeletes
  }
}
