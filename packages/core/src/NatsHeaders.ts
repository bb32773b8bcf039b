/**
 * Reading and building NATS headers.
 *
 * @since 0.1.0
 * @module
 */
import type { Headers, HeadersInput } from "./NatsClient.ts"

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
