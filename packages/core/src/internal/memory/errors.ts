/**
 * The errors the in-memory JetStream answers, with nats-server 2.15's HTTP-like
 * `code`, `err_code` and description (`server/errors.json`), turned into
 * `NatsError` reasons by the same function the nats.js adapter uses for the
 * server's answers, so both adapters fail alike.
 */
import * as NatsError from "../../NatsError.ts"
import { type ErrorContext, fromApiError } from "../apiErrors.ts"

export type { ErrorContext }

/** `[code, err_code, description]` of the JetStream API errors we answer. */
export const Api = {
  ConsumerNotFound: [404, 10014, "consumer not found"],
  ConsumerCreate: [500, 10012, "{err}"],
  ConsumerInvalidPolicy: [400, 10094, "{err}"],
  ConsumerOverlappingSubjectFilters: [400, 10138, "consumer subject filters cannot overlap"],
  ConsumerMaxDeliverBackoff: [400, 10116, "max deliver is required to be > length of backoff values"],
  ConsumerDescriptionTooLong: [400, 10107, "consumer description is too long, maximum allowed is 4096"],
  ConsumerPullRequiresAck: [400, 10084, "consumer in pull mode requires ack policy"],
  ConsumerWorkQueueExplicitAck: [400, 10098, "workqueue stream requires explicit ack"],
  ConsumerWorkQueueMultipleUnfiltered: [400, 10099, "multiple non-filtered consumers not allowed on workqueue stream"],
  ConsumerWorkQueueNotUnique: [400, 10100, "filtered consumer not unique on workqueue stream"],
  ConsumerWorkQueueDeliverAll: [400, 10101, "consumer must be deliver all on workqueue stream"],
  StreamNotFound: [404, 10059, "stream not found"],
  StreamNameExists: [400, 10058, "stream name already in use with a different configuration"],
  StreamSubjectOverlap: [400, 10065, "subjects overlap with an existing stream"],
  StreamInvalidConfig: [500, 10052, "{err}"],
  StreamReplicasNotSupported: [500, 10074, "replicas > 1 not supported in non-clustered mode"],
  StreamSealed: [400, 10109, "invalid operation on sealed stream"],
  StreamPurgeFailed: [500, 10110, "{err}"],
  StreamRollupFailed: [500, 10111, "{err}"],
  StreamMessageExceedsMaximum: [400, 10054, "message size exceeds maximum allowed"],
  StreamHeaderExceedsMaximum: [400, 10097, "header size exceeds maximum allowed of 64k"],
  StreamStoreFailed: [503, 10077, "{err}"],
  StreamNotMatch: [400, 10060, "expected stream does not match"],
  StreamWrongLastSequence: [400, 10071, "wrong last sequence: {seq}"],
  StreamWrongLastMsgId: [400, 10070, "wrong last msg ID: {id}"],
  MessageTtlInvalid: [400, 10165, "invalid per-message TTL"],
  MessageTtlDisabled: [400, 10166, "per-message TTL is disabled"],
  StreamGeneral: [500, 10051, "{err}"]
} as const satisfies Record<string, readonly [number, number, string]>

export type ApiErrorName = keyof typeof Api

/** An error as the server answers it (`{ code, err_code, description }`). */
export interface ApiError {
  readonly code: number
  readonly errCode: number
  readonly description: string
}

/** The server's error `name`, `{err}`, `{seq}` and `{id}` in its description filled from `args`. */
export const apiError = (name: ApiErrorName, args: Readonly<Record<string, string | number>> = {}): ApiError => {
  const [code, errCode, template] = Api[name]
  return { code, errCode, description: template.replace(/\{(\w+)\}/g, (_, key: string) => String(args[key] ?? "")) }
}

/** The `NatsError` a client gets for an API error answered to `context`'s operation. */
export const toNatsError = (error: ApiError, context: ErrorContext): NatsError.NatsError =>
  fromApiError(error.code, error.errCode, error.description, context)

/** The `NatsError` for the server's error `name` (see `apiError`). */
export const api = (
  name: ApiErrorName,
  context: ErrorContext,
  args: Readonly<Record<string, string | number>> = {}
): NatsError.NatsError => toNatsError(apiError(name, args), context)

export const streamNotFound = (stream: string, operation: string): NatsError.NatsError =>
  api("StreamNotFound", { operation, stream })

export const consumerNotFound = (stream: string, consumer: string, operation: string): NatsError.NatsError =>
  api("ConsumerNotFound", { operation, stream, consumer })
