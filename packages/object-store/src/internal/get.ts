/**
 * The get pipeline: links followed to the object, its chunks read through
 * an ordered consumer that the reader paces, and size, chunk count and
 * digest checked at the end.
 */
import { NatsTracing as Tracing } from "@nats-effect/core"
import { Duration, Effect, Stream } from "effect"
import { createHash } from "node:crypto"
import type { ObjectInfo } from "../ObjectStore.ts"
import * as Errors from "../ObjectStoreError.ts"
import type { ObjectStoreError } from "../ObjectStoreError.ts"
import { fail, fromNatsError, objectSpan, type StoreContext, validateName } from "./context.ts"
import { liveInfo } from "./meta.ts"
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

/** The chunks of `info`, stored in `ofBucket`, checked against its size, chunk count and digest at the end. */
const content = (
  ctx: StoreContext,
  ofBucket: string,
  info: ObjectInfo
): Stream.Stream<Uint8Array, ObjectStoreError> => {
  const { tuning } = ctx
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
  return ctx.js.ordered(Wire.streamName(ofBucket), {
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
    }),
    Stream.concat(Stream.fromEffectDrain(verify))
  )
}

/** The info of the object `name` stands for, and its content, checked as it is read. */
export const open = (ctx: StoreContext, name: string) =>
  Effect.andThen(validateName(ctx.client, ctx.bucket, name), resolveContent(ctx, ctx.bucket, name, 0)).pipe(
    Effect.map((found) => ({ info: found.info, data: content(ctx, found.bucket, found.info) }))
  )

export const get = (ctx: StoreContext, name: string) =>
  Stream.unwrap(Effect.map(open(ctx, name), ({ data }) => data)).pipe(
    Tracing.streamWithSpan("ObjectStore.get", objectSpan(ctx.bucket, name, "consumer"))
  )

export const getBytes = (ctx: StoreContext, name: string) =>
  get(ctx, name).pipe(
    Stream.runCollect,
    Effect.map((pieces) => new Uint8Array(Buffer.concat(pieces)))
  )
