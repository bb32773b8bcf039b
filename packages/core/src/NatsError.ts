/**
 * The one error of `@nats-effect/core`: a `NatsError` whose `reason` says what
 * went wrong, in the style of Effect's `SqlError`. Both adapters (nats.js and
 * in-memory) fail with the same reasons for the same conditions.
 *
 * @since 0.1.0
 */
import { Predicate, Schema } from "effect"

const TypeId = "~@nats-effect/core/NatsError" as const

/** The server could not be reached, or the connection is closed. */
export class ConnectionError extends Schema.TaggedError<ConnectionError>("@nats-effect/core/ConnectionError")(
  "ConnectionError",
  { message: Schema.String, cause: Schema.optional(Schema.Defect()) }
) {}

/** The server rejected the credentials (user/password, token, nkey, creds). */
export class AuthenticationError extends Schema.TaggedError<AuthenticationError>(
  "@nats-effect/core/AuthenticationError"
)("AuthenticationError", { message: Schema.String, cause: Schema.optional(Schema.Defect()) }) {}

/** An operation did not complete in time. */
export class TimeoutError extends Schema.TaggedError<TimeoutError>("@nats-effect/core/TimeoutError")(
  "TimeoutError",
  { operation: Schema.String, subject: Schema.optional(Schema.String), message: Schema.String }
) {}

/** A request found nobody subscribed to its subject. */
export class NoResponders extends Schema.TaggedError<NoResponders>("@nats-effect/core/NoResponders")(
  "NoResponders",
  { subject: Schema.String, message: Schema.String }
) {}

/** A message is larger than the server's `max_payload`. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>("@nats-effect/core/PayloadTooLarge")(
  "PayloadTooLarge",
  { size: Schema.Number, maxPayload: Schema.Number, message: Schema.String }
) {}

/** A subject (or queue name) that NATS does not accept. */
export class InvalidSubject extends Schema.TaggedError<InvalidSubject>("@nats-effect/core/InvalidSubject")(
  "InvalidSubject",
  { subject: Schema.String, message: Schema.String }
) {}

/** JetStream is not enabled on the server or account. */
export class JetStreamNotEnabled extends Schema.TaggedError<JetStreamNotEnabled>(
  "@nats-effect/core/JetStreamNotEnabled"
)("JetStreamNotEnabled", { message: Schema.String }) {}

/** The named stream does not exist (JetStream error code 10059). */
export class StreamNotFound extends Schema.TaggedError<StreamNotFound>("@nats-effect/core/StreamNotFound")(
  "StreamNotFound",
  { stream: Schema.String, message: Schema.String }
) {}

/** The named consumer does not exist (JetStream error code 10014). */
export class ConsumerNotFound extends Schema.TaggedError<ConsumerNotFound>("@nats-effect/core/ConsumerNotFound")(
  "ConsumerNotFound",
  { stream: Schema.String, consumer: Schema.String, message: Schema.String }
) {}

/**
 * A publish expectation failed: wrong last (subject) sequence, wrong stream
 * or wrong last message id (JetStream error codes 10071, 10060, 10070).
 */
export class ExpectationFailed extends Schema.TaggedError<ExpectationFailed>("@nats-effect/core/ExpectationFailed")(
  "ExpectationFailed",
  { errCode: Schema.Number, message: Schema.String }
) {}

/**
 * Any other error answered by the JetStream API, with the server's
 * `err_code` (for example 10047 "insufficient resources", 10054 "maximum
 * messages exceeded", 10109 "sealed").
 */
export class JetStreamApiError extends Schema.TaggedError<JetStreamApiError>("@nats-effect/core/JetStreamApiError")(
  "JetStreamApiError",
  { code: Schema.Number, errCode: Schema.Number, message: Schema.String }
) {}

/** A payload could not be encoded for `subject` (for example by its Schema). */
export class EncodeError extends Schema.TaggedError<EncodeError>("@nats-effect/core/EncodeError")(
  "EncodeError",
  { subject: Schema.String, message: Schema.String }
) {}

/** A received payload could not be decoded (bad JSON, or rejected by its Schema). */
export class DecodeError extends Schema.TaggedError<DecodeError>("@nats-effect/core/DecodeError")(
  "DecodeError",
  { subject: Schema.String, message: Schema.String }
) {}

/**
 * The responder answered a request with an error instead of a result (its
 * handler failed, or it could not decode the request). `error` is the tag the
 * responder reported.
 */
export class RemoteError extends Schema.TaggedError<RemoteError>("@nats-effect/core/RemoteError")(
  "RemoteError",
  { subject: Schema.String, error: Schema.String, message: Schema.String }
) {}

/** Anything the adapter could not classify; `cause` keeps the original. */
export class UnknownError extends Schema.TaggedError<UnknownError>("@nats-effect/core/UnknownError")(
  "UnknownError",
  { message: Schema.String, cause: Schema.optional(Schema.Defect()) }
) {}

export const NatsErrorReason = Schema.Union([
  ConnectionError,
  AuthenticationError,
  TimeoutError,
  NoResponders,
  PayloadTooLarge,
  InvalidSubject,
  JetStreamNotEnabled,
  StreamNotFound,
  ConsumerNotFound,
  ExpectationFailed,
  JetStreamApiError,
  EncodeError,
  DecodeError,
  RemoteError,
  UnknownError
])
export type NatsErrorReason = typeof NatsErrorReason.Type

/**
 * Makes an expected error print as one line, `name: message`, wherever a
 * stack is shown (`Cause.pretty`, so `NodeRuntime.runMain` and the loggers):
 * its stack would point into the library, not at anything a reader can fix.
 * For the error classes of packages built on this one; defects keep their
 * stack.
 */
export const oneLineStack = (error: Error): void => {
  Object.defineProperty(error, "stack", {
    value: `${error.name}: ${error.message}`,
    writable: true,
    configurable: true,
    enumerable: false
  })
}

/**
 * The error of every `NatsClient` operation. Match on `reason._tag`, or use
 * `Effect.catchReason("NatsError", "NoResponders", ...)`. It prints as one
 * line: `NatsError: ConnectionError: cannot connect to NATS at nats://127.0.0.1:4222: connection refused`.
 */
export class NatsError extends Schema.TaggedError<NatsError>("@nats-effect/core/NatsError")("NatsError", {
  reason: NatsErrorReason
}) {
  readonly [TypeId] = TypeId
  constructor(props: { readonly reason: NatsErrorReason }, options?: Schema.MakeOptions) {
    super(props, options)
    oneLineStack(this)
  }
  override get name(): string {
    return "NatsError"
  }
  override get message(): string {
    return `${this.reason._tag}: ${this.reason.message}`
  }
}

export const isNatsError = (u: unknown): u is NatsError => Predicate.hasProperty(u, TypeId)

/** Wraps a reason into a `NatsError`. */
export const fromReason = (reason: NatsErrorReason): NatsError => new NatsError({ reason })
