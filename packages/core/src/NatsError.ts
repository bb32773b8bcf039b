/**
 * The one error of `@nats-effect/core`: a `NatsError` whose `reason` says what
 * went wrong, in the style of Effect's `SqlError`. Both adapters (nats.js and
 * in-memory) fail with the same reasons for the same conditions.
 *
 * @since 0.1.0
 * @module
 */
import { Predicate, Schema } from "effect"

const TypeId = "~@nats-effect/core/NatsError" as const

/**
 * The server could not be reached, or the connection is closed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionError extends Schema.TaggedError<ConnectionError>("@nats-effect/core/ConnectionError")(
  "ConnectionError",
  { message: Schema.String, cause: Schema.optional(Schema.Defect()) }
) {
  /** The server may be back, or another one reachable. */
  get isRetryable(): boolean {
    return true
  }
}

/**
 * The server rejected the credentials (user/password, token, nkey, creds).
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthenticationError extends Schema.TaggedError<AuthenticationError>(
  "@nats-effect/core/AuthenticationError"
)("AuthenticationError", { message: Schema.String, cause: Schema.optional(Schema.Defect()) }) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The server refused an operation the credentials are not permitted
 * (publish or subscribe permissions): the client is known, the subject is not
 * allowed to it.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthorizationError extends Schema.TaggedError<AuthorizationError>(
  "@nats-effect/core/AuthorizationError"
)("AuthorizationError", {
  subject: Schema.optional(Schema.String),
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * An operation did not complete in time.
 *
 * @since 0.1.0
 * @category errors
 */
export class TimeoutError extends Schema.TaggedError<TimeoutError>("@nats-effect/core/TimeoutError")(
  "TimeoutError",
  { operation: Schema.String, subject: Schema.optional(Schema.String), message: Schema.String }
) {
  get isRetryable(): boolean {
    return true
  }
}

/**
 * A request found nobody subscribed to its subject.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoResponders extends Schema.TaggedError<NoResponders>("@nats-effect/core/NoResponders")(
  "NoResponders",
  { subject: Schema.String, message: Schema.String }
) {
  /** A responder (or the stream) may be there on the next attempt. */
  get isRetryable(): boolean {
    return true
  }
}

/**
 * A message is larger than the server's `max_payload`.
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>("@nats-effect/core/PayloadTooLarge")(
  "PayloadTooLarge",
  { size: Schema.Number, maxPayload: Schema.Number, message: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A subject (or queue name) that NATS does not accept.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidSubject extends Schema.TaggedError<InvalidSubject>("@nats-effect/core/InvalidSubject")(
  "InvalidSubject",
  { subject: Schema.String, message: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A server URL whose scheme is not one NATS speaks: `nats`, `tls`, `ws` or
 * `wss` (`http://host:4222` would otherwise connect as if it were
 * `nats://`). `url` is the URL without its user info.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidUrl extends Schema.TaggedError<InvalidUrl>("@nats-effect/core/InvalidUrl")(
  "InvalidUrl",
  { url: Schema.String, message: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A stream or consumer name that NATS does not accept: empty, with
 * whitespace, `.`, `*`, `>`, `/` or `\\`, or too long for the API subjects
 * it goes into (the server's `max_control_line`).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidName extends Schema.TaggedError<InvalidName>("@nats-effect/core/InvalidName")(
  "InvalidName",
  { kind: Schema.Literals(["stream", "consumer"]), name: Schema.String, message: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * JetStream is not enabled on the server or account.
 *
 * @since 0.1.0
 * @category errors
 */
export class JetStreamNotEnabled extends Schema.TaggedError<JetStreamNotEnabled>(
  "@nats-effect/core/JetStreamNotEnabled"
)("JetStreamNotEnabled", { message: Schema.String }) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The named stream does not exist (JetStream error code 10059).
 *
 * @since 0.1.0
 * @category errors
 */
export class StreamNotFound extends Schema.TaggedError<StreamNotFound>("@nats-effect/core/StreamNotFound")(
  "StreamNotFound",
  { stream: Schema.String, message: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The named consumer does not exist (JetStream error code 10014).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConsumerNotFound extends Schema.TaggedError<ConsumerNotFound>("@nats-effect/core/ConsumerNotFound")(
  "ConsumerNotFound",
  { stream: Schema.String, consumer: Schema.String, message: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A stream with this name exists with a different configuration (JetStream
 * error code 10058).
 *
 * @since 0.1.0
 * @category errors
 */
export class StreamExists extends Schema.TaggedError<StreamExists>("@nats-effect/core/StreamExists")(
  "StreamExists",
  { stream: Schema.String, message: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The stream is sealed: nothing can be stored, deleted or purged (JetStream error code 10109).
 *
 * @since 0.1.0
 * @category errors
 */
export class StreamSealed extends Schema.TaggedError<StreamSealed>("@nats-effect/core/StreamSealed")(
  "StreamSealed",
  { stream: Schema.String, message: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The stream refused a message because of one of its limits: it is full (its
 * `maxBytes` or `maxMsgs`, or `maxMsgsPerSubject`, with the discard-new
 * policy), or the message is larger than its `maxMsgSize`.
 *
 * @since 0.1.0
 * @category errors
 */
export class StorageLimitExceeded extends Schema.TaggedError<StorageLimitExceeded>(
  "@nats-effect/core/StorageLimitExceeded"
)("StorageLimitExceeded", {
  stream: Schema.String,
  limit: Schema.Literals(["bytes", "messages", "messages per subject", "message size"]),
  message: Schema.String
}) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The compare-and-set conflict: a publish expected another last sequence (of
 * the stream, or of its subject) than the stream has (JetStream error code
 * 10071). `current` is the stream's last sequence when the server says it.
 *
 * @since 0.1.0
 * @category errors
 */
export class WrongLastSequence extends Schema.TaggedError<WrongLastSequence>("@nats-effect/core/WrongLastSequence")(
  "WrongLastSequence",
  {
    subject: Schema.String,
    expected: Schema.optional(Schema.Number),
    current: Schema.optional(Schema.Number),
    message: Schema.String
  }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Any other publish expectation that failed: wrong stream or wrong last
 * message id (JetStream error codes 10060, 10070).
 *
 * @since 0.1.0
 * @category errors
 */
export class ExpectationFailed extends Schema.TaggedError<ExpectationFailed>("@nats-effect/core/ExpectationFailed")(
  "ExpectationFailed",
  { errCode: Schema.Number, message: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Any other error answered by the JetStream API, with the server's
 * `err_code` (for example 10047 "insufficient resources").
 *
 * @since 0.1.0
 * @category errors
 */
export class JetStreamApiError extends Schema.TaggedError<JetStreamApiError>("@nats-effect/core/JetStreamApiError")(
  "JetStreamApiError",
  { code: Schema.Number, errCode: Schema.Number, message: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A JetStream subscriber's consumer options the server would refuse or
 * silently change (a `backoff` without a `maxDeliver` above its length, an
 * `ackWait` other than the first `backoff` entry...), refused before the
 * consumer is created.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidConsumerConfig extends Schema.TaggedError<InvalidConsumerConfig>(
  "@nats-effect/core/InvalidConsumerConfig"
)("InvalidConsumerConfig", { stream: Schema.String, consumer: Schema.String, message: Schema.String }) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The server is older than what was asked for needs (per-message TTL and
 * consumer pause need nats-server 2.11; stream metadata, compression and
 * several filter subjects 2.10): refused before anything is sent, where an
 * older server would refuse the request or silently ignore the field.
 *
 * @since 0.2.0
 * @category errors
 */
export class FeatureNotSupported extends Schema.TaggedError<FeatureNotSupported>(
  "@nats-effect/core/FeatureNotSupported"
)("FeatureNotSupported", {
  feature: Schema.String,
  /** The first nats-server version that has it, `2.11.0`. */
  requiredVersion: Schema.String,
  /** The version of the server connected to. */
  serverVersion: Schema.String,
  message: Schema.String
}) {
  /** Not until the server is upgraded. */
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A payload could not be encoded for `subject` (for example by its Schema).
 *
 * @since 0.1.0
 * @category errors
 */
export class EncodeError extends Schema.TaggedError<EncodeError>("@nats-effect/core/EncodeError")(
  "EncodeError",
  { subject: Schema.String, message: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * A received payload could not be decoded (bad JSON, or rejected by its Schema).
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeError extends Schema.TaggedError<DecodeError>("@nats-effect/core/DecodeError")(
  "DecodeError",
  { subject: Schema.String, message: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * The responder answered a request with an error instead of a result (its
 * handler failed, or it could not decode the request). `error` is the tag the
 * responder reported.
 *
 * @since 0.1.0
 * @category errors
 */
export class RemoteError extends Schema.TaggedError<RemoteError>("@nats-effect/core/RemoteError")(
  "RemoteError",
  { subject: Schema.String, error: Schema.String, message: Schema.String }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Anything the adapter could not classify; `cause` keeps the original.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownError extends Schema.TaggedError<UnknownError>("@nats-effect/core/UnknownError")(
  "UnknownError",
  { message: Schema.String, cause: Schema.optional(Schema.Defect()) }
) {
  get isRetryable(): boolean {
    return false
  }
}

/**
 * Every reason a `NatsError` can have, as a Schema.
 *
 * @since 0.1.0
 * @category errors
 */
export const NatsErrorReason = Schema.Union([
  ConnectionError,
  AuthenticationError,
  AuthorizationError,
  TimeoutError,
  NoResponders,
  PayloadTooLarge,
  InvalidSubject,
  InvalidUrl,
  InvalidName,
  JetStreamNotEnabled,
  StreamNotFound,
  ConsumerNotFound,
  StreamExists,
  StreamSealed,
  StorageLimitExceeded,
  WrongLastSequence,
  ExpectationFailed,
  JetStreamApiError,
  InvalidConsumerConfig,
  FeatureNotSupported,
  EncodeError,
  DecodeError,
  RemoteError,
  UnknownError
])
/**
 * What went wrong in a `NatsError`.
 *
 * @since 0.1.0
 * @category errors
 */
export type NatsErrorReason = typeof NatsErrorReason.Type

/**
 * Makes an expected error print as one line, `name: message`, wherever a
 * stack is shown (`Cause.pretty`, so `NodeRuntime.runMain` and the loggers):
 * its stack would point into the library, not at anything a reader can fix.
 * For the error classes of packages built on this one; defects keep their
 * stack.
 *
 * @since 0.1.0
 * @category utils
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
 *
 * @since 0.1.0
 * @category errors
 */
export class NatsError extends Schema.TaggedError<NatsError>("@nats-effect/core/NatsError")("NatsError", {
  reason: NatsErrorReason
}) {
  readonly [TypeId] = TypeId
  // No `cause` (the reason is `reason`): Effect's printer follows `cause`
  // chains with their stacks, and an expected failure must print as one line.
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
  /**
   * Whether the same operation may succeed when tried again: timeouts, no
   * responders and lost connections are; invalid input, refused credentials
   * and permissions, and the stream's own answers are not.
   */
  get isRetryable(): boolean {
    return this.reason.isRetryable
  }
}

/**
 * Whether a value is a `NatsError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isNatsError = (u: unknown): u is NatsError => Predicate.hasProperty(u, TypeId)

/**
 * Wraps a reason into a `NatsError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromReason = (reason: NatsErrorReason): NatsError => new NatsError({ reason })
