/**
 * Reading and building NATS headers.
 *
 * @since 0.1.0
 * @module
 */
import type { Headers, HeadersInput } from "./NatsClient.ts"

/**
 * How a payload is encoded, after FastStream's conventions: `application/json`,
 * `text/plain`, or none for bytes (or, from other clients, JSON when it
 * parses).
 *
 * @since 0.2.0
 * @category constants
 */
export const ContentTypeHeader = "content-type"

/**
 * The content type of JSON payloads.
 *
 * @since 0.2.0
 * @category constants
 */
export const ContentTypeJson = "application/json"

/**
 * The content type of text payloads (UTF-8).
 *
 * @since 0.2.0
 * @category constants
 */
export const ContentTypeText = "text/plain"

/**
 * The id that ties a reply, and whatever a handler publishes, to the message
 * it answers (FastStream's name).
 *
 * @since 0.2.0
 * @category constants
 */
export const CorrelationIdHeader = "correlation_id"

/**
 * Set on a reply that carries an error instead of a result: its value is the
 * error's tag, and the body the error's message as text.
 *
 * @since 0.2.0
 * @category constants
 */
export const ErrorHeader = "nats-effect-error"

/**
 * The first value of a header: the exact key first, then any key that
 * matches it ignoring case.
 *
 * @since 0.1.0
 * @category utils
 */
export const get = (headers: Headers | undefined, name: string): string | undefined => {
  if (headers === undefined) return undefined
  const exact = headers[name]
  if (exact !== undefined) return exact[0]
  const lower = name.toLowerCase()
  for (const key in headers) {
    if (key.toLowerCase() === lower) return headers[key]![0]
  }
  return undefined
}

/**
 * Every value of a header, matched as by `get`.
 *
 * @since 0.1.0
 * @category utils
 */
export const getAll = (headers: Headers | undefined, name: string): ReadonlyArray<string> => {
  if (headers === undefined) return []
  const exact = headers[name]
  if (exact !== undefined) return exact
  const lower = name.toLowerCase()
  for (const key in headers) {
    if (key.toLowerCase() === lower) return headers[key]!
  }
  return []
}

/**
 * Normalises publish headers into received form (arrays of values).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromInput = (input: HeadersInput): Headers => {
  const out: Record<string, ReadonlyArray<string>> = {}
  for (const key in input) {
    const value = input[key]!
    out[key] = typeof value === "string" ? [value] : value
  }
  return out
}
