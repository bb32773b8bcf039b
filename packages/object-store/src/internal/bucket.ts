/**
 * The bucket as a whole: its stream, created as every client creates it
 * (ADR-20), its status, sealing and destruction, and the sweep of the
 * chunks no object references.
 */
import { NatsClient, NatsHeaders, NatsTracing as Tracing } from "@nats-effect/core"
import { Clock, Duration, Effect, Stream } from "effect"
import type { BucketStatus, ObjectStoreOptions, SweepOptions, SweepResult } from "../ObjectStore.ts"
import * as Errors from "../ObjectStoreError.ts"
import { type Client, duration, fail, fromNatsError, type StoreContext } from "./context.ts"
import { purge } from "./meta.ts"
import * as Wire from "./wire.ts"

/** Far longer than a put pauses between two chunks. */
const defaultSweepOlderThan = Duration.hours(1)

export const requireFeature = (client: Client, feature: string) =>
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

/** Opens the bucket's stream, creating it when it does not exist (an existing one is left as it is). */
export const openOrCreate = (client: Client, options: ObjectStoreOptions) => {
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

const streamInfo = (ctx: StoreContext) =>
  ctx.js.streams.info(ctx.stream).pipe(Effect.mapError(fromNatsError(ctx.bucket)))

export const status = (ctx: StoreContext) => Effect.map(streamInfo(ctx), (info) => toStatus(ctx.bucket, info))

export const seal = (ctx: StoreContext) =>
  streamInfo(ctx).pipe(
    Effect.flatMap((info) =>
      ctx.js.streams.update({ ...toStreamConfig(info.config), sealed: true }).pipe(
        Effect.mapError(fromNatsError(ctx.bucket))
      )
    ),
    Effect.map((info) => toStatus(ctx.bucket, info))
  )

export const destroy = (ctx: StoreContext) =>
  ctx.js.streams.delete(ctx.stream).pipe(Effect.mapError(fromNatsError(ctx.bucket)))

// ---------------------------------------------------------------------------
// Sweep
// ---------------------------------------------------------------------------

const readUntilCaughtUp = (ctx: StoreContext, options: NatsClient.OrderedConsumerOptions) =>
  ctx.js.ordered(ctx.stream, { ...options, untilCaughtUp: true }).pipe(Stream.mapError(fromNatsError(ctx.bucket)))

/** The newest chunk of every chunk subject, without its content. */
const newestChunks = (ctx: StoreContext) =>
  readUntilCaughtUp(ctx, {
    filterSubjects: [Wire.allChunkSubjects(ctx.bucket)],
    deliver: "last_per_subject",
    headersOnly: true
  }).pipe(Stream.runCollect)

/** The nuids of objects not deleted, and of metas that do not decode but name one. */
const referencedNuids = (ctx: StoreContext) =>
  readUntilCaughtUp(ctx, {
    filterSubjects: [Wire.allMetaSubjects(ctx.bucket)],
    deliver: "last_per_subject"
  }).pipe(
    Stream.runFold(() => new Set<string>(), (nuids, msg) => {
      const info = Wire.decodeInfo(ctx.bucket, msg)
      const nuid = typeof info === "string" ? Wire.undecodedNuid(msg) : info.deleted ? undefined : info.nuid
      if (nuid !== undefined && nuid !== "") nuids.add(nuid)
      return nuids
    })
  )

/**
 * Removes the chunks on `subject` up to `lastSeq`, the newest one seen, and
 * counts them; a chunk stored since is neither removed nor counted.
 */
const removeChunksUpTo = (ctx: StoreContext, subject: string, lastSeq: number) =>
  readUntilCaughtUp(ctx, { filterSubjects: [subject], headersOnly: true }).pipe(
    Stream.takeWhile((msg) => msg.seq <= lastSeq),
    Stream.runFold(() => ({ chunks: 0, bytes: 0 }), (removed, msg) => ({
      chunks: removed.chunks + 1,
      bytes: removed.bytes + Number(NatsHeaders.get(msg.headers, "Nats-Msg-Size") ?? msg.data.length)
    })),
    Effect.tap(() => purge(ctx, subject, "", { seq: lastSeq + 1 }))
  )

export const sweep = (ctx: StoreContext, options: SweepOptions = {}) =>
  Effect.gen(function*() {
    const olderThan = yield* duration("olderThan", options.olderThan, defaultSweepOlderThan, true)
    return yield* ctx.putsInFlight.sparing((spared) =>
      Effect.gen(function*() {
        const cutoff = (yield* Clock.currentTimeMillis) - Duration.toMillis(olderThan)
        // Chunks before metas: an object stored in between is seen with its meta.
        const newest = yield* newestChunks(ctx)
        const referenced = yield* referencedNuids(ctx)
        const result = { chunks: 0, bytes: 0, nuids: new Array<string>() }
        for (const msg of newest) {
          const nuid = Wire.chunkNuid(ctx.bucket, msg.subject)
          if (referenced.has(nuid) || spared.has(nuid) || msg.time.getTime() > cutoff) continue
          const removed = yield* removeChunksUpTo(ctx, msg.subject, msg.seq)
          result.chunks += removed.chunks
          result.bytes += removed.bytes
          result.nuids.push(nuid)
        }
        yield* Tracing.annotateSpan({
          "nats.object_store.chunks": result.chunks,
          "nats.object_store.size": result.bytes
        })
        return result satisfies SweepResult
      })
    )
  }).pipe(
    Tracing.withSpan("ObjectStore.sweep", () => ({
      kind: "client",
      attributes: { "nats.object_store.bucket": ctx.bucket }
    }))
  )
