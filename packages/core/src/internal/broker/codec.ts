/**
 * Payload encoding on the wire, with FastStream's NATS conventions so that a
 * FastStream service and a nats-effect service understand each other:
 *
 * - encode: `Uint8Array` as is (no content-type), `string` as UTF-8
 *   (`text/plain`), `undefined` as an empty body (no content-type), anything
 *   else as JSON (`application/json`). With a Schema the value is encoded
 *   first and the encoded value follows the same rules.
 * - decode by content-type: JSON for `application/json` (and `+json`), text
 *   for `text/*`, bytes otherwise; without a content-type, JSON when it
 *   parses, else the bytes (an empty body is `undefined`). With a Schema the
 *   decoded value goes through it; without a content-type, the raw bytes are
 *   tried too when the JSON reading is rejected.
 */
import type { SchemaIssue } from "effect"
import { Cause, Result, Schema, SchemaParser } from "effect"
import type { Headers } from "../../NatsClient.ts"
import * as NatsHeaders from "../../NatsHeaders.ts"

export const ContentTypeHeader = "content-type"
export const CorrelationIdHeader = "correlation_id"
/** Set on a reply that carries an error instead of a result; the value is the error's tag. */
export const ErrorHeader = "nats-effect-error"
/** W3C trace context. */
export const TraceparentHeader = "traceparent"

export const ContentTypeJson = "application/json"
export const ContentTypeText = "text/plain"

/**
 * A payload Schema: decoded and encoded synchronously, without services, so
 * the per-message path stays synchronous.
 */
export type PayloadSchema = Schema.Codec<any, any, never, never>

export interface Encoded {
  readonly data: Uint8Array
  readonly contentType: string | undefined
}

const textDecoder = new TextDecoder()
// Buffer.from encodes small strings several times faster than TextEncoder (a Buffer is a Uint8Array).
const encodeUtf8 = (text: string): Uint8Array => Buffer.from(text, "utf8")
const empty = new Uint8Array(0)

export const utf8 = (data: Uint8Array): string => textDecoder.decode(data)
export const fromUtf8 = encodeUtf8

const encodedEmpty: Encoded = { data: empty, contentType: undefined }

/** The default encoding of a value; fails with a reason when it is not representable. */
export const encodeValue = (value: unknown): Result.Result<Encoded, string> => {
  if (value instanceof Uint8Array) return Result.succeed({ data: value, contentType: undefined })
  if (typeof value === "string") return Result.succeed({ data: encodeUtf8(value), contentType: ContentTypeText })
  if (value === undefined) return Result.succeed(encodedEmpty)
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (cause) {
    return Result.fail(`cannot be encoded as JSON: ${cause instanceof Error ? cause.message : String(cause)}`)
  }
  if (json === undefined) return Result.fail(`a ${typeof value} cannot be encoded as JSON`)
  return Result.succeed({ data: encodeUtf8(json), contentType: ContentTypeJson })
}

export type Encoder = (value: unknown) => Result.Result<Encoded, string>

/** An encoder for a payload, through `schema` when given; compiled once. */
export const makeEncoder = (schema: PayloadSchema | undefined): Encoder => {
  if (schema === undefined) return encodeValue
  const encode = SchemaParser.encodeUnknownExit(schema)
  return (value) => {
    const exit = encode(value)
    return exit._tag === "Success" ? encodeValue(exit.value) : Result.fail(issueMessage(exit.cause))
  }
}

const encoders = new WeakMap<PayloadSchema, Encoder>()

/** `makeEncoder`, cached per Schema for call sites that receive the Schema per call. */
export const encoderFor = (schema: PayloadSchema | undefined): Encoder => {
  if (schema === undefined) return encodeValue
  let encoder = encoders.get(schema)
  if (encoder === undefined) {
    encoder = makeEncoder(schema)
    encoders.set(schema, encoder)
  }
  return encoder
}

const isJson = (contentType: string): boolean =>
  contentType.startsWith(ContentTypeJson) || contentType.includes("+json")

/**
 * Why a body could not be decoded. Decoders return it instead of a value
 * (rather than wrapping every value in a `Result`: this is the per-message path).
 */
export class DecodeFailure {
  readonly reason: string
  constructor(reason: string) {
    this.reason = reason
  }
}

const parseJson = (data: Uint8Array): unknown => {
  try {
    return JSON.parse(textDecoder.decode(data))
  } catch (cause) {
    return new DecodeFailure(`invalid JSON: ${cause instanceof Error ? cause.message : String(cause)}`)
  }
}

const decodeUntyped = (data: Uint8Array): unknown => {
  if (data.length === 0) return undefined
  const value = parseJson(data)
  return value instanceof DecodeFailure ? data : value
}

/** The default decoding of a body by its content-type. */
export const decodeValue = (data: Uint8Array, contentType: string | undefined): unknown => {
  if (contentType === undefined || contentType.length === 0) return decodeUntyped(data)
  if (isJson(contentType)) return parseJson(data)
  if (contentType.startsWith("text/")) return textDecoder.decode(data)
  return data
}

export type Decoder<A> = (data: Uint8Array, contentType: string | undefined) => A | DecodeFailure

/** A decoder for a payload, through `schema` when given; compiled once. */
export const makeDecoder = <A = unknown>(schema: Schema.Codec<A, any, never, never> | undefined): Decoder<A> => {
  if (schema === undefined) return decodeValue as Decoder<A>
  const decode = SchemaParser.decodeUnknownExit(schema)
  return (data, contentType): A | DecodeFailure => {
    const value = decodeValue(data, contentType)
    if (value instanceof DecodeFailure) return value
    const exit = decode(value)
    if (exit._tag === "Success") return exit.value
    // FastStream's rule without a content-type: JSON when it fits, else the bytes.
    if ((contentType === undefined || contentType.length === 0) && !(value instanceof Uint8Array)) {
      const asBytes = decode(data)
      if (asBytes._tag === "Success") return asBytes.value
    }
    return new DecodeFailure(issueMessage(exit.cause))
  }
}

const decoders = new WeakMap<PayloadSchema, Decoder<unknown>>()

/** `makeDecoder`, cached per Schema for call sites that receive the Schema per call. */
export const decoderFor = (schema: PayloadSchema | undefined): Decoder<unknown> => {
  if (schema === undefined) return decodeValue
  let decoder = decoders.get(schema)
  if (decoder === undefined) {
    decoder = makeDecoder(schema)
    decoders.set(schema, decoder)
  }
  return decoder
}

const issueMessage = (cause: Cause.Cause<SchemaIssue.Issue>): string => {
  const issue = Cause.findErrorOption(cause)
  return issue._tag === "Some" ? new Schema.SchemaError(issue.value).message : Cause.pretty(cause)
}

/** The content-type of received headers, if any. */
export const contentTypeOf = (headers: Headers | undefined): string | undefined =>
  headers === undefined ? undefined : NatsHeaders.get(headers, ContentTypeHeader)
