/**
 * The object store on the `NatsClient` port: the options checked, the bucket
 * opened, and its operations gathered from their modules (put, get, meta,
 * bucket, files). Runs unchanged on every adapter.
 */
import { NatsClient } from "@nats-effect/core"
import { Duration, Effect } from "effect"
import type { Bucket, ObjectStoreOptions } from "../ObjectStore.ts"
import * as Errors from "../ObjectStoreError.ts"
import * as Buckets from "./bucket.ts"
import { duration, fail, positiveInteger, type StoreContext, type Tuning, validateBucketName } from "./context.ts"
import * as Files from "./files.ts"
import * as Get from "./get.ts"
import { PutsInFlight } from "./leftovers.ts"
import * as Meta from "./meta.ts"
import * as Metrics from "./metrics.ts"
import * as Put from "./put.ts"
import * as Wire from "./wire.ts"

const defaults = {
  publishWindow: 32,
  readAhead: 64,
  stallTimeout: Duration.seconds(20)
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
  if (options.metadata !== undefined) yield* Buckets.requireFeature(client, "metadata")
  if (options.compression === true) yield* Buckets.requireFeature(client, "compression")
  yield* Buckets.openOrCreate(client, options)
  return makeBucket({
    client,
    js: client.jetstream,
    bucket: options.bucket,
    stream: Wire.streamName(options.bucket),
    tuning,
    scope: yield* Effect.scope,
    putsInFlight: new PutsInFlight(),
    metrics: { bytesPut: Metrics.bytesPut(options.bucket), bytesGot: Metrics.bytesGot(options.bucket) }
  })
})

/** The operations on the bucket of `ctx`, which exists. */
const makeBucket = (ctx: StoreContext): Bucket => ({
  bucket: ctx.bucket,
  put: (meta, data, options) => Put.put(ctx, meta, data, options),
  putBytes: (meta, data) => Put.putBytes(ctx, meta, data),
  putFile: (meta, path, options) => Files.putFile(ctx, meta, path, options),
  get: (name, options) => Get.get(ctx, name, options),
  getBytes: (name) => Get.getBytes(ctx, name),
  getFile: (name, path, options) => Files.getFile(ctx, name, path, options),
  info: (name) => Meta.info(ctx, name),
  list: () => Meta.list(ctx),
  delete: (name) => Meta.remove(ctx, name),
  watch: (options) => Meta.watch(ctx, options),
  openWatch: (options) => Meta.openWatch(ctx, options),
  link: (name, target) => Meta.link(ctx, name, target),
  linkBucket: (name, bucket) => Meta.linkBucket(ctx, name, bucket),
  updateMeta: (name, meta) => Meta.updateMeta(ctx, name, meta),
  sweep: (options) => Buckets.sweep(ctx, options),
  status: () => Buckets.status(ctx),
  seal: () => Buckets.seal(ctx),
  destroy: () => Buckets.destroy(ctx)
})
