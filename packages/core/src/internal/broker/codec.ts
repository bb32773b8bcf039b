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
 *   tried too when the JSON reading is rejected, and the text (valid UTF-8)
 *   when the body is not JSON: `nats pub prices.get ACME` reaches a
 *   `Schema.String` subscriber, as it does a FastStream one.
 */
import type { SchemaIssue } from "effect"
import { Cause, type Exit, Result, Schema, SchemaParser } from "effect"
import type { Headers } from "../../NatsClient.ts"
import * as NatsHeaders from "../../NatsHeaders.ts"

// The wire names are public (NatsHeaders); the broker's modules read them here.
export const { ContentTypeHeader, ContentTypeJson, ContentTypeText, CorrelationIdHeader, ErrorHeader } = NatsHeaders
/** W3C trace context. */
export const TraceparentHeader = "traceparent"

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
    // FastStream's rule without a content-type: JSON when it fits, else the
    // bytes, else (a body that is not JSON) the text.
    if (contentType === undefined || contentType.length === 0) {
      if (!(value instanceof Uint8Array)) {
        const asBytes = decode(data)
        if (asBytes._tag === "Success") return asBytes.value
      }
      // `decodeUntyped` reads a body that is not JSON as its bytes, an empty one as `undefined`.
      if (value instanceof Uint8Array || value === undefined) {
        const asText = decodeText(decode, data)
        if (asText !== undefined && asText._tag === "Success") return asText.value
      }
    }
    return new DecodeFailure(issueMessage(exit.cause))
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

/** Decodes the body as text, if it is valid UTF-8. */
const decodeText = <A>(
  decode: (input: unknown) => Exit.Exit<A, SchemaIssue.Issue>,
  data: Uint8Array
): Exit.Exit<A, SchemaIssue.Issue> | undefined => {
  let text: string
  try {
    text = strictUtf8.decode(data)
  } catch {
    return undefined
  }
  return decode(text)
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
