/**
 * What every operation on a bucket shares: the client, the bucket's names,
 * the store's tuning and scope, and the rules for errors and input that the
 * put, get, meta and bucket modules all apply.
 */
import type { NatsClient, NatsError } from "@nats-effect/core"
import { Duration, Effect, type Metric, Option, type Scope, type Tracer } from "effect"
import * as Errors from "../ObjectStoreError.ts"
import type { ObjectStoreError } from "../ObjectStoreError.ts"
import type { PutsInFlight } from "./leftovers.ts"
import * as Wire from "./wire.ts"

export type Client = NatsClient.NatsClient["Service"]

export interface Tuning {
  readonly chunkSize: number
  readonly publishWindow: number
  readonly readAhead: number
  readonly stallTimeout: Duration.Duration
}

/** One opened bucket: what its operations are given. */
export interface StoreContext {
  readonly client: Client
  readonly js: Client["jetstream"]
  readonly bucket: string
  /** The bucket's stream, `OBJ_<bucket>`. */
  readonly stream: string
  readonly tuning: Tuning
  /** Where background work runs: the removal of a failed put's chunks. */
  readonly scope: Scope.Scope
  readonly putsInFlight: PutsInFlight
  /** The bucket's series of `nats.object_store.put.bytes` and `.get.bytes`. */
  readonly metrics: { readonly bytesPut: Metric.Counter<number>; readonly bytesGot: Metric.Counter<number> }
}

export const fail = (reason: Errors.ObjectStoreErrorReason) => Effect.fail(Errors.fromReason(reason))

/**
 * The reason a `NatsError` means here: a missing stream is a missing bucket,
 * a refused store a full bucket, a sealed stream a sealed bucket.
 */
export const fromNatsError = (bucket: string, name = "") => (error: NatsError.NatsError): ObjectStoreError => {
  const reason = error.reason
  switch (reason._tag) {
    case "StreamNotFound":
    case "NoResponders":
      return Errors.fromReason(
        new Errors.BucketNotFound({
          bucket,
          message: `bucket ${bucket} not found: no stream ${Wire.streamName(bucket)}`
        })
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

/** The span options of an operation on the object `name`, made only when a span is. */
export const objectSpan = (
  bucket: string,
  name: string,
  kind: Tracer.SpanKind
) =>
(): Tracer.SpanOptionsNoTrace => ({
  kind,
  attributes: {
    "messaging.system": "nats",
    "messaging.destination.name": Wire.metaSubject(bucket, name),
    "nats.object_store.bucket": bucket,
    "nats.object_store.object": name
  }
})

/** Refuses a name the grammar or the server's protocol line does not allow, before anything is sent. */
export const validateName = (client: Client, bucket: string, name: string) => {
  const problem = Wire.objectNameProblem(bucket, name, client.server.maxControlLine)
  return problem === undefined ? Effect.void : fail(new Errors.InvalidObjectName({ bucket, name, message: problem }))
}

export const validateBucketName = (client: Client, bucket: string) => {
  const problem = Wire.bucketNameProblem(bucket, client.server.maxControlLine)
  return problem === undefined ? Effect.void : fail(new Errors.InvalidBucketName({ bucket, message: problem }))
}

export const positiveInteger = (option: string, value: number | undefined, fallback: number) =>
  value === undefined
    ? Effect.succeed(fallback)
    : Number.isSafeInteger(value) && value > 0
    ? Effect.succeed(value)
    : fail(new Errors.InvalidOption({ option, message: `${option} must be a positive integer, got ${value}` }))

export const duration = (
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
