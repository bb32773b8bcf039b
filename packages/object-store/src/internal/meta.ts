/**
 * The objects' meta messages: reading them, writing them with
 * compare-and-set, and the operations made of nothing else (info, list,
 * watch, delete, links, updateMeta).
 */
import { NatsTracing as Tracing } from "@nats-effect/core"
import type { NatsClient, NatsError } from "@nats-effect/core"
import { Effect, Option, Stream } from "effect"
import type { ObjectInfo, ObjectMeta, WatchOptions } from "../ObjectStore.ts"
import * as Errors from "../ObjectStoreError.ts"
import type { ObjectStoreError } from "../ObjectStoreError.ts"
import { fail, fromNatsError, objectSpan, type StoreContext, validateBucketName, validateName } from "./context.ts"
import * as Nuid from "./nuid.ts"
import * as Wire from "./wire.ts"

/** An object's info as its meta message holds it: the revision is the message's sequence. */
export type StoredInfo = Omit<ObjectInfo, "revision">

/** How often a read-modify-write of a meta is retried when another writer got in between. */
const conflictRetries = 16

const isConflict = (error: ObjectStoreError): boolean =>
  error.reason._tag === "NatsError" && error.reason.reason._tag === "WrongLastSequence"

/** Runs a read-modify-write of a meta again when another writer got in between. */
export const retryOnConflict = <A, R>(effect: Effect.Effect<A, ObjectStoreError, R>) =>
  Effect.retry(effect, { while: isConflict, times: conflictRetries })

// ---------------------------------------------------------------------------
// Reading and writing
// ---------------------------------------------------------------------------

/** The last meta message of `name` in `ofBucket`, if any. */
export const lastMeta = (ctx: StoreContext, ofBucket: string, name: string) =>
  ctx.js.getMessage(Wire.streamName(ofBucket), { lastBySubject: Wire.metaSubject(ofBucket, name) }).pipe(
    Effect.mapError(fromNatsError(ofBucket, name))
  )

/** The last meta of `name` in `ofBucket`, deleted or not; `None` when there is none. */
export const readMeta = (ctx: StoreContext, ofBucket: string, name: string) =>
  lastMeta(ctx, ofBucket, name).pipe(
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
export const liveInfo = (ctx: StoreContext, ofBucket: string, name: string) =>
  readMeta(ctx, ofBucket, name).pipe(
    Effect.flatMap(Option.match({
      onNone: () => notFound(ofBucket, name, false),
      onSome: (info) => info.deleted ? notFound(ofBucket, name, true) : Effect.succeed(info)
    }))
  )

/**
 * Publishes `info` as the meta of `info.name` with rollup, if the last meta
 * on that subject is still the one at `revision` (0: none).
 */
export const publishMeta = (ctx: StoreContext, info: StoredInfo, revision: number) =>
  ctx.js.publish(Wire.metaSubject(ctx.bucket, info.name), Wire.encodeInfo(info), {
    headers: Wire.rollupHeaders,
    expect: { lastSubjectSequence: revision }
  }).pipe(
    Effect.mapError(fromNatsError(ctx.bucket, info.name)),
    Effect.map((ack): ObjectInfo => ({ ...info, revision: ack.seq }))
  )

/** Purges the bucket's messages on `filter` (below `seq` when given). */
export const purge = (ctx: StoreContext, filter: string, name: string, options?: { readonly seq?: number }) =>
  ctx.js.streams.purge(ctx.stream, { filter, ...options }).pipe(Effect.mapError(fromNatsError(ctx.bucket, name)))

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

export const info = (ctx: StoreContext, name: string) =>
  Effect.andThen(validateName(ctx.client, ctx.bucket, name), liveInfo(ctx, ctx.bucket, name)).pipe(
    Tracing.withSpan("ObjectStore.info", objectSpan(ctx.bucket, name, "client"))
  )

/** The meta messages of the bucket, decoded; one that does not decode is logged and skipped. */
const decodeMetas = (ctx: StoreContext, metas: Stream.Stream<NatsClient.StoredMsg, NatsError.NatsError>) =>
  metas.pipe(
    Stream.mapError(fromNatsError(ctx.bucket)),
    Stream.mapEffect((msg) => {
      const decoded = Wire.decodeInfo(ctx.bucket, msg)
      return typeof decoded === "string"
        ? Effect.as(Effect.logWarning(`object store: skipped a meta of bucket ${ctx.bucket}: ${decoded}`), undefined)
        : Effect.succeed(decoded)
    }),
    Stream.filter((info): info is ObjectInfo => info !== undefined)
  )

const metaConsumer = (
  ctx: StoreContext,
  options: NatsClient.OrderedConsumerOptions
): NatsClient.OrderedConsumerOptions => ({
  ...options,
  filterSubjects: [Wire.allMetaSubjects(ctx.bucket)]
})

export const list = (ctx: StoreContext) =>
  decodeMetas(ctx, ctx.js.ordered(ctx.stream, metaConsumer(ctx, { deliver: "last_per_subject", untilCaughtUp: true })))
    .pipe(
      Stream.filter((info) => !info.deleted),
      Stream.runCollect,
      Tracing.withSpan("ObjectStore.list", () => ({
        kind: "client",
        attributes: { "nats.object_store.bucket": ctx.bucket }
      }))
    )

export const openWatch = (ctx: StoreContext, options: WatchOptions = {}) =>
  ctx.js.openOrdered(
    ctx.stream,
    metaConsumer(ctx, {
      deliver: options.afterRevision !== undefined
        ? { startSequence: options.afterRevision + 1 }
        : options.updatesOnly
        ? "new"
        : options.includeHistory
        ? "all"
        : "last_per_subject"
    })
  ).pipe(
    Effect.mapError(fromNatsError(ctx.bucket)),
    Effect.map((metas) =>
      decodeMetas(ctx, metas).pipe(Stream.filter((info) => !(options.ignoreDeletes && info.deleted)))
    )
  )

export const watch = (ctx: StoreContext, options?: WatchOptions) => Stream.unwrap(openWatch(ctx, options))

export const remove = (ctx: StoreContext, name: string) =>
  Effect.andThen(
    validateName(ctx.client, ctx.bucket, name),
    retryOnConflict(Effect.gen(function*() {
      const current = yield* liveInfo(ctx, ctx.bucket, name)
      yield* publishMeta(
        ctx,
        { ...current, size: 0, chunks: 0, digest: "", mtime: new Date(), deleted: true },
        current.revision
      )
      if (current.nuid !== "" && current.options?.link === undefined) {
        yield* purge(ctx, Wire.chunkSubject(ctx.bucket, current.nuid), name)
      }
    }))
  ).pipe(Tracing.withSpan("ObjectStore.delete", objectSpan(ctx.bucket, name, "client")))

/** Writes a link named `name`, unless an object that is not a link holds the name. */
const writeLink = (ctx: StoreContext, name: string, link: { readonly bucket: string; readonly name?: string }) =>
  retryOnConflict(Effect.gen(function*() {
    const bucket = ctx.bucket
    const current = Option.getOrUndefined(yield* readMeta(ctx, bucket, name))
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
      ctx,
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

const linkNotAllowed = (ctx: StoreContext, name: string, message: string) =>
  fail(new Errors.LinkNotAllowed({ bucket: ctx.bucket, name, message }))

export const link = (ctx: StoreContext, name: string, target: ObjectInfo | string) =>
  Effect.gen(function*() {
    yield* validateName(ctx.client, ctx.bucket, name)
    const to = typeof target === "string" ? yield* info(ctx, target) : target
    if (to.deleted) return yield* linkNotAllowed(ctx, name, `not allowed to link to the deleted object ${to.name}`)
    if (to.options?.link !== undefined) {
      return yield* linkNotAllowed(ctx, name, `not allowed to link to another link (${to.name})`)
    }
    return yield* writeLink(ctx, name, { bucket: to.bucket, name: to.name })
  }).pipe(Tracing.withSpan("ObjectStore.link", objectSpan(ctx.bucket, name, "client")))

export const linkBucket = (ctx: StoreContext, name: string, targetBucket: string) =>
  Effect.gen(function*() {
    yield* validateName(ctx.client, ctx.bucket, name)
    yield* validateBucketName(ctx.client, targetBucket)
    return yield* writeLink(ctx, name, { bucket: targetBucket })
  }).pipe(
    Tracing.withSpan("ObjectStore.linkBucket", objectSpan(ctx.bucket, name, "client"))
  )

export const updateMeta = (ctx: StoreContext, name: string, meta: ObjectMeta) =>
  Effect.gen(function*() {
    const bucket = ctx.bucket
    yield* validateName(ctx.client, bucket, name)
    yield* validateName(ctx.client, bucket, meta.name)
    return yield* retryOnConflict(Effect.gen(function*() {
      const current = yield* liveInfo(ctx, bucket, name)
      const { description: _d, headers: _h, metadata: _m, revision: _r, ...kept } = current
      const next: StoredInfo = { ...kept, ...Wire.metaFields(meta) }
      if (meta.name === name) return yield* publishMeta(ctx, next, current.revision)
      const taken = Option.getOrUndefined(yield* readMeta(ctx, bucket, meta.name))
      if (taken !== undefined && !taken.deleted) {
        return yield* fail(
          new Errors.ObjectAlreadyExists({
            bucket,
            name: meta.name,
            message: `cannot rename ${JSON.stringify(name)}: an object named ${JSON.stringify(meta.name)} exists`
          })
        )
      }
      const renamed = yield* publishMeta(ctx, next, taken?.revision ?? 0)
      // Only up to the meta renamed: a put of the old name meanwhile stays.
      yield* purge(ctx, Wire.metaSubject(bucket, name), name, { seq: current.revision + 1 })
      return renamed
    }))
  }).pipe(
    Tracing.withSpan("ObjectStore.updateMeta", objectSpan(ctx.bucket, name, "client"))
  )
