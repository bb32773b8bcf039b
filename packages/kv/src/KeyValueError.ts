/**
 * The one error of `@nats-effect/kv`: a `KeyValueError` whose `reason` says
 * what went wrong, in the style of Effect's `SqlError`. Match on
 * `error.reason._tag`, or use
 * `Effect.catchReason("KeyValueError", "WrongRevision", ...)`.
 *
 * Failures of the NATS connection or of JetStream that have no meaning of their
 * own here keep the `NatsError` as the reason (its own `reason` says more).
 *
 * @since 0.1.0
 * @module
 */
import { NatsError } from "@nats-effect/core"
import { Predicate, Schema } from "effect"

const TypeId = "~@nats-effect/kv/KeyValueError" as const

/**
 * The bucket (its stream `KV_<bucket>`) does not exist.
 *
 * @since 0.1.0
 * @category errors
 */
export class BucketNotFound extends Schema.TaggedError<BucketNotFound>("@nats-effect/kv/BucketNotFound")(
  "BucketNotFound",
  { bucket: Schema.String, message: Schema.String }
) {}

/**
 * Bucket names are 1+ of `A-Z a-z 0-9 _ -`.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidBucketName extends Schema.TaggedError<InvalidBucketName>("@nats-effect/kv/InvalidBucketName")(
  "InvalidBucketName",
  { bucket: Schema.String, message: Schema.String }
) {}

/**
 * A key (or a key filter) NATS does not accept: `[-/_=.a-zA-Z0-9]+`, no empty token, no leading or trailing dot.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidKey extends Schema.TaggedError<InvalidKey>("@nats-effect/kv/InvalidKey")(
  "InvalidKey",
  { bucket: Schema.String, key: Schema.String, message: Schema.String }
) {}

/**
 * `create` found a live value under the key; `revision` is its revision.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyExists extends Schema.TaggedError<KeyExists>("@nats-effect/kv/KeyExists")(
  "KeyExists",
  { bucket: Schema.String, key: Schema.String, revision: Schema.Number, message: Schema.String }
) {}

/**
 * A compare-and-set (`update`, or `delete`/`purge` with a revision) found the
 * key at another revision: `current` (0 when the key has no message).
 *
 * @since 0.1.0
 * @category errors
 */
export class WrongRevision extends Schema.TaggedError<WrongRevision>("@nats-effect/kv/WrongRevision")(
  "WrongRevision",
  {
    bucket: Schema.String,
    key: Schema.String,
    expected: Schema.Number,
    current: Schema.Number,
    message: Schema.String
  }
) {}

/**
 * The value is larger than the bucket's `maxValueSize` or the server's `max_payload`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ValueTooLarge extends Schema.TaggedError<ValueTooLarge>("@nats-effect/kv/ValueTooLarge")(
  "ValueTooLarge",
  { bucket: Schema.String, key: Schema.String, size: Schema.Number, maxSize: Schema.Number, message: Schema.String }
) {}

/**
 * A value that cannot be used with the bucket's Schema: a stored value that
 * does not decode (`revision` is its revision), or a value given to a put that
 * does not encode (`revision` 0).
 *
 * @since 0.1.0
 * @category errors
 */
export class BadValue extends Schema.TaggedError<BadValue>("@nats-effect/kv/BadValue")(
  "BadValue",
  { bucket: Schema.String, key: Schema.String, revision: Schema.Number, message: Schema.String }
) {}

/**
 * An option that cannot be used (for example a history of 0 or more than 64, or a revision of 0).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOption extends Schema.TaggedError<InvalidOption>("@nats-effect/kv/InvalidOption")(
  "InvalidOption",
  { option: Schema.String, message: Schema.String }
) {}

/**
 * The server is too old for what was asked (several key filters, bucket
 * `metadata` and `compression` need nats-server 2.10; `limitMarkerTtl` and
 * per-key TTLs 2.11), refused before anything is sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class FeatureNotSupported extends Schema.TaggedError<FeatureNotSupported>(
  "@nats-effect/kv/FeatureNotSupported"
)("FeatureNotSupported", {
  feature: Schema.String,
  requiredVersion: Schema.String,
  serverVersion: Schema.String,
  message: Schema.String
}) {}

/**
 * Every reason a `KeyValueError` can have, as a Schema.
 *
 * @since 0.1.0
 * @category errors
 */
export const KeyValueErrorReason = Schema.Union([
  BucketNotFound,
  InvalidBucketName,
  InvalidKey,
  KeyExists,
  WrongRevision,
  ValueTooLarge,
  BadValue,
  InvalidOption,
  FeatureNotSupported,
  NatsError.NatsError
])
/**
 * What went wrong in a `KeyValueError`.
 *
 * @since 0.1.0
 * @category errors
 */
export type KeyValueErrorReason = typeof KeyValueErrorReason.Type

/**
 * The error of every key-value operation.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyValueError extends Schema.TaggedError<KeyValueError>("@nats-effect/kv/KeyValueError")(
  "KeyValueError",
  { reason: KeyValueErrorReason }
) {
  readonly [TypeId] = TypeId
  override get message(): string {
    return `${this.reason._tag}: ${this.reason.message}`
  }
}

/**
 * Whether a value is a `KeyValueError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isKeyValueError = (u: unknown): u is KeyValueError => Predicate.hasProperty(u, TypeId)

/**
 * Wraps a reason into a `KeyValueError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromReason = (reason: KeyValueErrorReason): KeyValueError => new KeyValueError({ reason })
