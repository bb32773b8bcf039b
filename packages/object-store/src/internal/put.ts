/**
 * The put pipeline: the source re-cut into chunks and hashed as it passes,
 * the chunks published with a bounded window of acknowledgements, then the
 * meta written with compare-and-set. A put that fails leaves nothing behind.
 */
import { NatsTracing as Tracing } from "@nats-effect/core"
import type { NatsError } from "@nats-effect/core"
import { Cause, Effect, Exit, Metric, Option, Stream } from "effect"
import type { ObjectInfo, ObjectMeta, TransferOptions } from "../ObjectStore.ts"
import * as Errors from "../ObjectStoreError.ts"
import type { ObjectStoreError } from "../ObjectStoreError.ts"
import { fail, fromNatsError, objectSpan, positiveInteger, type StoreContext, validateName } from "./context.ts"
import { purgeReplaced, removeLeftovers } from "./leftovers.ts"
import { lastMeta, publishMeta, retryOnConflict, type StoredInfo } from "./meta.ts"
import * as Nuid from "./nuid.ts"
import * as Progress from "./progress.ts"
import { Rechunker } from "./rechunk.ts"
import * as Wire from "./wire.ts"

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

/** The chunk size of a put: the meta's `maxChunkSize`, else the store's, at most the server's `max_payload`. */
export const resolveChunkSize = (ctx: StoreContext, meta: string | ObjectMeta) => {
  const maxChunkSize = typeof meta === "string" ? undefined : meta.options?.maxChunkSize
  return maxChunkSize === undefined
    ? Effect.succeed(ctx.tuning.chunkSize)
    : Effect.map(
      positiveInteger("options.maxChunkSize", maxChunkSize, ctx.tuning.chunkSize),
      (size) => Math.min(size, ctx.client.server.maxPayload)
    )
}

/** Stores `data` as the object `metaInput`; `total`, when known, is the progress's. */
export const put = <E, R, E2 = never, R2 = never>(
  ctx: StoreContext,
  metaInput: string | ObjectMeta,
  data: Stream.Stream<Uint8Array, E, R>,
  options?: TransferOptions<E2, R2>,
  total?: number
): Effect.Effect<ObjectInfo, ObjectStoreError | E | E2, R | R2> => {
  const { bucket, js } = ctx
  const meta: ObjectMeta = typeof metaInput === "string" ? { name: metaInput } : metaInput
  return Effect.gen(function*() {
    yield* validateName(ctx.client, bucket, meta.name)
    if (meta.options !== undefined && "link" in meta.options) {
      return yield* fail(
        new Errors.LinkNotAllowed({
          bucket,
          name: meta.name,
          message: "link cannot be set when putting the object in bucket"
        })
      )
    }
    const chunkSize = yield* resolveChunkSize(ctx, meta)
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

    const published = data.pipe(
      Stream.mapAccumArray(() => rechunker, (state, pieces) => [state, state.push(pieces)], {
        onHalt: (state) => state.flush()
      }),
      Stream.mapEffect(publishChunk, { concurrency: ctx.tuning.publishWindow })
    )
    const progress = yield* Progress.reporter(options, total)
    let acknowledged = 0
    const upload = progress === undefined ? Stream.runDrain(published) : published.pipe(
      // Every chunk but the last is full, and the re-chunker has seen the
      // last one's bytes by the time it is acknowledged.
      Stream.runForEachArray((acks) => {
        acknowledged += acks.length
        return progress.update(Math.min(acknowledged * chunkSize, rechunker.size), acknowledged)
      }),
      Effect.andThen(Effect.suspend(() => progress.end(rechunker.size, rechunker.chunks)))
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
        const last = Option.getOrUndefined(yield* lastMeta(ctx, bucket, meta.name))
        // A meta we cannot read is replaced all the same; only its chunks stay.
        const previous = last === undefined ? undefined : Wire.decodeInfo(bucket, last)
        const stored = yield* publishMeta(ctx, complete, last?.seq ?? 0)
        committed = true
        if (typeof previous === "object") yield* purgeReplaced(ctx, previous, nuid)
        return stored
      })
      return Effect.uninterruptible(retryOnConflict(replace))
    })

    yield* ctx.putsInFlight.started(nuid)
    const stored = yield* upload.pipe(
      Effect.andThen(commit),
      Effect.onExit((exit) =>
        committed || maybeStored === 0
          ? Effect.void
          : removeLeftovers(ctx, nuid, `the failed put of ${JSON.stringify(meta.name)}`, failedWithServerAway(exit))
      ),
      Effect.ensuring(ctx.putsInFlight.ended(nuid))
    )
    yield* Metric.update(ctx.metrics.bytesPut, stored.size)
    yield* Tracing.annotateSpan({
      "nats.object_store.size": stored.size,
      "nats.object_store.chunks": stored.chunks
    })
    return stored
  }).pipe(
    Tracing.withSpan("ObjectStore.put", objectSpan(bucket, meta.name, "producer"))
  )
}

export const putBytes = (ctx: StoreContext, meta: string | ObjectMeta, data: Uint8Array | string) =>
  put(ctx, meta, Stream.succeed(typeof data === "string" ? Buffer.from(data, "utf8") : data))
