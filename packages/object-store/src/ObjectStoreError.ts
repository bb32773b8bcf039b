/**
 * The one error of `@nats-effect/object-store`: an `ObjectStoreError` whose
 * `reason` says what went wrong, in the style of Effect's `SqlError`. Match on
 * `error.reason._tag`, or use
 * `Effect.catchReason("ObjectStoreError", "ObjectNotFound", ...)`.
 *
 * Failures of the NATS connection or of JetStream that have no meaning of their
 * own here keep the `NatsError` as the reason (its own `reason` says more).
 *
 * @since 0.1.0
 * @module
 */
import { NatsError } from "@nats-effect/core"
import { Predicate, Schema } from "effect"

const TypeId = "~@nats-effect/object-store/ObjectStoreError" as const

/**
 * No object of that name, or it was deleted.
 *
 * @since 0.1.0
 * @category errors
 */
export class ObjectNotFound extends Schema.TaggedError<ObjectNotFound>("@nats-effect/object-store/ObjectNotFound")(
  "ObjectNotFound",
  { bucket: Schema.String, name: Schema.String, message: Schema.String }
) {}

/**
 * An object of that name exists where the operation needs the name free (link, rename).
 *
 * @since 0.1.0
 * @category errors
 */
export class ObjectAlreadyExists extends Schema.TaggedError<ObjectAlreadyExists>(
  "@nats-effect/object-store/ObjectAlreadyExists"
)("ObjectAlreadyExists", { bucket: Schema.String, name: Schema.String, message: Schema.String }) {}

/**
 * The bytes read do not hash to the digest in the object's meta.
 *
 * @since 0.1.0
 * @category errors
 */
export class DigestMismatch extends Schema.TaggedError<DigestMismatch>("@nats-effect/object-store/DigestMismatch")(
  "DigestMismatch",
  { bucket: Schema.String, name: Schema.String, expected: Schema.String, actual: Schema.String, message: Schema.String }
) {}

/**
 * An object's meta cannot be used: it does not decode, has a digest in an
 * unknown format, or disagrees with the chunks read (size, chunk count).
 *
 * @since 0.1.0
 * @category errors
 */
export class BadObjectMeta extends Schema.TaggedError<BadObjectMeta>("@nats-effect/object-store/BadObjectMeta")(
  "BadObjectMeta",
  { bucket: Schema.String, name: Schema.String, message: Schema.String }
) {}

/**
 * A get received no chunk for longer than the stall timeout, or the stream holds fewer chunks than the meta says.
 *
 * @since 0.1.0
 * @category errors
 */
export class ObjectStalled extends Schema.TaggedError<ObjectStalled>("@nats-effect/object-store/ObjectStalled")(
  "ObjectStalled",
  { bucket: Schema.String, name: Schema.String, received: Schema.Number, chunks: Schema.Number, message: Schema.String }
) {}

/**
 * Bucket names are 1+ of `A-Z a-z 0-9 _ -` (ADR-6 `restricted-term`), short
 * enough to leave room for object names in the server's `max_control_line`.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidBucketName extends Schema.TaggedError<InvalidBucketName>(
  "@nats-effect/object-store/InvalidBucketName"
)("InvalidBucketName", { bucket: Schema.String, message: Schema.String }) {}

/**
 * Object names must not be empty, and must be short enough for their
 * subjects (the base64url of the name) to fit in the server's
 * `max_control_line`: about 2,900 bytes with the default 4,096.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidObjectName extends Schema.TaggedError<InvalidObjectName>(
  "@nats-effect/object-store/InvalidObjectName"
)("InvalidObjectName", { bucket: Schema.String, name: Schema.String, message: Schema.String }) {}

/**
 * An option of the store or of a call that cannot be used (for example a chunk size of 0).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOption extends Schema.TaggedError<InvalidOption>("@nats-effect/object-store/InvalidOption")(
  "InvalidOption",
  { option: Schema.String, message: Schema.String }
) {}

/**
 * The bucket (its stream `OBJ_<bucket>`) does not exist.
 *
 * @since 0.1.0
 * @category errors
 */
export class BucketNotFound extends Schema.TaggedError<BucketNotFound>("@nats-effect/object-store/BucketNotFound")(
  "BucketNotFound",
  { bucket: Schema.String, message: Schema.String }
) {}

/**
 * The bucket reached its `maxBytes`: the put was refused and its chunks removed.
 *
 * @since 0.1.0
 * @category errors
 */
export class BucketFull extends Schema.TaggedError<BucketFull>("@nats-effect/object-store/BucketFull")(
  "BucketFull",
  { bucket: Schema.String, name: Schema.String, message: Schema.String }
) {}

/**
 * The bucket is sealed: it takes no more puts, deletes or meta updates.
 *
 * @since 0.1.0
 * @category errors
 */
export class BucketSealed extends Schema.TaggedError<BucketSealed>("@nats-effect/object-store/BucketSealed")(
  "BucketSealed",
  { bucket: Schema.String, message: Schema.String }
) {}

/**
 * The object is a link to a whole bucket, which has no content to get.
 *
 * @since 0.1.0
 * @category errors
 */
export class LinkIsBucket extends Schema.TaggedError<LinkIsBucket>("@nats-effect/object-store/LinkIsBucket")(
  "LinkIsBucket",
  { bucket: Schema.String, name: Schema.String, message: Schema.String }
) {}

/**
 * A link where none may be: set on a put, to a deleted object, or to another link.
 *
 * @since 0.1.0
 * @category errors
 */
export class LinkNotAllowed extends Schema.TaggedError<LinkNotAllowed>("@nats-effect/object-store/LinkNotAllowed")(
  "LinkNotAllowed",
  { bucket: Schema.String, name: Schema.String, message: Schema.String }
) {}

/**
 * The server is too old for an option asked for (bucket `metadata` and `compression` need 2.10).
 *
 * @since 0.1.0
 * @category errors
 */
export class FeatureNotSupported extends Schema.TaggedError<FeatureNotSupported>(
  "@nats-effect/object-store/FeatureNotSupported"
)("FeatureNotSupported", {
  feature: Schema.String,
  requiredVersion: Schema.String,
  serverVersion: Schema.String,
  message: Schema.String
}) {}

/**
 * Reading or writing a local file (`putFile`, `getFile`) failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class FileError extends Schema.TaggedError<FileError>("@nats-effect/object-store/FileError")(
  "FileError",
  { path: Schema.String, message: Schema.String, cause: Schema.optional(Schema.Defect()) }
) {}

/**
 * Every reason an `ObjectStoreError` can have, as a Schema.
 *
 * @since 0.1.0
 * @category errors
 */
export const ObjectStoreErrorReason = Schema.Union([
  ObjectNotFound,
  ObjectAlreadyExists,
  DigestMismatch,
  BadObjectMeta,
  ObjectStalled,
  InvalidBucketName,
  InvalidObjectName,
  InvalidOption,
  BucketNotFound,
  BucketFull,
  BucketSealed,
  LinkIsBucket,
  LinkNotAllowed,
  FeatureNotSupported,
  FileError,
  NatsError.NatsError
])
/**
 * What went wrong in an `ObjectStoreError`.
 *
 * @since 0.1.0
 * @category errors
 */
export type ObjectStoreErrorReason = typeof ObjectStoreErrorReason.Type

/**
 * The error of every object store operation. It prints as one line:
 * `ObjectStoreError: ObjectNotFound: ...`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ObjectStoreError extends Schema.TaggedError<ObjectStoreError>(
  "@nats-effect/object-store/ObjectStoreError"
)("ObjectStoreError", { reason: ObjectStoreErrorReason }) {
  readonly [TypeId] = TypeId
  constructor(props: { readonly reason: ObjectStoreErrorReason }, options?: Schema.MakeOptions) {
    super(props, options)
    NatsError.oneLineStack(this)
  }
  override get name(): string {
    return "ObjectStoreError"
  }
  override get message(): string {
    return `${this.reason._tag}: ${this.reason.message}`
  }
}

/**
 * Whether a value is an `ObjectStoreError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isObjectStoreError = (u: unknown): u is ObjectStoreError => Predicate.hasProperty(u, TypeId)

/**
 * Wraps a reason into an `ObjectStoreError`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromReason = (reason: ObjectStoreErrorReason): ObjectStoreError => new ObjectStoreError({ reason })
