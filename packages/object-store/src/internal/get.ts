/**
 * The get pipeline: links followed to the object, its chunks read through
 * an ordered consumer that the reader paces, and size, chunk count and
 * digest checked at the end.
 */
import { NatsTracing as Tracing } from "@nats-effect/core"
import { Duration, Effect, Metric, Stream } from "effect"
import { createHash } from "node:crypto"
import type { ObjectInfo, TransferOptions } from "../ObjectStore.ts"
import * as Errors from "../ObjectStoreError.ts"
import type { ObjectStoreError } from "../ObjectStoreError.ts"
import { fail, fromNatsError, objectSpan, type StoreContext, validateName } from "./context.ts"
import { liveInfo } from "./meta.ts"
import * as Progress from "./progress.ts"
import type { ProgressReporter } from "./progress.ts"
import { failWhenStalled } from "./stall.ts"
import * as Wire from "./wire.ts"

/** Links are not created to links, but a meta written by hand could loop. */
const maxLinkDepth = 8

/**
 * The object whose content `name` stands for, following links, with the
 * bucket it was found in: its chunks are there, whatever its meta's
 * `bucket` says (as nats.go and nats.js read them).
 */
const resolveContent = (
  ctx: StoreContext,
  ofBucket: string,
  name: string,
  depth: number
): Effect.Effect<{ readonly bucket: string; readonly info: ObjectInfo }, ObjectStoreError> =>
  Effect.flatMap(liveInfo(ctx, ofBucket, name), (info) => {
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
    return resolveContent(ctx, link.bucket, link.name, depth + 1)
  })

/**
 * The chunks of `info`, stored in `ofBucket`, checked against its size, chunk
 * count and digest at the end, with their progress reported to `progress`.
 */
const content = <E, R>(
  ctx: StoreContext,
  ofBucket: string,
  info: ObjectInfo,
  progress: ProgressReporter<E, R> | undefined
): Stream.Stream<Uint8Array, ObjectStoreError | E, R> => {
  const { tuning } = ctx
  const name = info.name
  const badMeta = (message: string) => Errors.fromReason(new Errors.BadObjectMeta({ bucket: ofBucket, name, message }))
  const expected = info.digest === "" ? undefined : Wire.parseDigest(info.digest)
  if (info.digest !== "" && expected === undefined) {
    return Stream.fail(badMeta(`the digest ${JSON.stringify(info.digest)} is not a SHA-256 digest`))
  }
  if (info.chunks === 0) {
    if (info.size !== 0) return Stream.fail(badMeta(`the meta says ${info.size} bytes in no chunk`))
    return progress === undefined ? Stream.empty : Stream.fromEffectDrain(progress.end(0, 0))
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
  // Reported once the content is checked: the last call means a complete object.
  const ended = progress === undefined
    ? verify
    : Effect.andThen(verify, Effect.suspend(() => progress.end(size, received)))
  const chunks = ctx.js.ordered(Wire.streamName(ofBucket), {
    filterSubjects: [Wire.chunkSubject(ofBucket, info.nuid)],
    bufferMessages: tuning.readAhead
  }).pipe(
    Stream.mapError(fromNatsError(ofBucket, name)),
    failWhenStalled(tuning.stallTimeout, () =>
      stalled(
        `no chunk of ${JSON.stringify(name)} for ${
          Duration.format(tuning.stallTimeout)
        } after ${received} of ${info.chunks}`
      )),
    // Stop at the last chunk the meta counts, or earlier when the bucket holds no more.
    Stream.takeUntil((msg, index) => msg.pending === 0 || index + 1 >= info.chunks),
    Stream.map((msg) => {
      received++
      size += msg.data.length
      hash.update(msg.data)
      return msg.data
    })
  )
  const reported = progress === undefined
    ? chunks
    : Stream.mapArrayEffect(chunks, (pieces) => Effect.as(progress.update(size, received), pieces))
  // Counted once, when the reading ends, finished or not.
  return Stream.concat(reported, Stream.fromEffectDrain(ended)).pipe(
    Stream.ensuring(Effect.suspend(() => Metric.update(ctx.metrics.bytesGot, size)))
  )
}

/** The info of the object `name` stands for, and its content, checked as it is read. */
export const open = <E, R>(ctx: StoreContext, name: string, options: TransferOptions<E, R> | undefined) =>
  Effect.andThen(validateName(ctx.client, ctx.bucket, name), resolveContent(ctx, ctx.bucket, name, 0)).pipe(
    Effect.flatMap((found) =>
      Effect.map(Progress.reporter(options, found.info.size), (progress) => ({
        info: found.info,
        data: content(ctx, found.bucket, found.info, progress)
      }))
    )
  )

export const get = <E, R>(ctx: StoreContext, name: string, options?: TransferOptions<E, R>) =>
  Stream.unwrap(Effect.map(open(ctx, name, options), ({ data }) => data)).pipe(
    Tracing.streamWithSpan("ObjectStore.get", objectSpan(ctx.bucket, name, "consumer"))
  )

export const getBytes = (ctx: StoreContext, name: string) =>
  get<never, never>(ctx, name).pipe(
    Stream.runCollect,
    Effect.map((pieces) => new Uint8Array(Buffer.concat(pieces)))
  )
