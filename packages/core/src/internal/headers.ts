/**
 * Publish headers as a NATS client sends them: names checked and values
 * trimmed as nats.js does (so both adapters refuse the same headers), and
 * their size encoded on the wire (`NATS/1.0\r\n`, `Name: value\r\n` per
 * value, `\r\n`), which counts against max_payload and the stream limits.
 * On the hot path of every message with headers: one pass over each string.
 */
import type { Headers, HeadersInput } from "../NatsClient.ts"

export interface EncodedHeaders {
  /** `undefined` when there is no header. */
  readonly headers: Headers | undefined
  /** Bytes on the wire, 0 without headers. */
  readonly bytes: number
}

const none: EncodedHeaders = { headers: undefined, bytes: 0 }
const preambleBytes = "NATS/1.0\r\n".length + "\r\n".length
// ": " and "\r\n" around each value.
const lineBytes = 4

/** Bytes of a valid header name, or why it is not one. */
const nameBytes = (name: string): number | string => {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c === 58 || c < 33 || c > 126) return `'header' '${name[i]}' is not a valid character in a header name`
  }
  return name.length
}

const valueProblem = "'header' values cannot contain \\r or \\n"

/** Bytes of a (trimmed) value, or -1 when it holds a line break. */
const valueBytes = (value: string): number => {
  let ascii = true
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 10 || c === 13) return -1
    if (c > 127) ascii = false
  }
  return ascii ? value.length : Buffer.byteLength(value)
}

/**
 * `input` then `set` (which replace any value of the same name), checked and
 * measured; a string says why they cannot be sent.
 */
export const encode = (
  input: HeadersInput | undefined,
  set?: Readonly<Record<string, string>>
): EncodedHeaders | string => {
  if (input === undefined && set === undefined) return none
  const out: Record<string, Array<string>> = {}
  let bytes = preambleBytes
  let count = 0
  for (const name in input) {
    const value = input[name]!
    const values = typeof value === "string" ? [value] : value
    if (values.length === 0) continue
    const nameSize = nameBytes(name)
    if (typeof nameSize === "string") return nameSize
    const trimmed: Array<string> = []
    for (const v of values) {
      const t = v.trim()
      const size = valueBytes(t)
      if (size < 0) return valueProblem
      bytes += nameSize + size + lineBytes
      trimmed.push(t)
    }
    out[name] = trimmed
    count++
  }
  for (const name in set) {
    const nameSize = nameBytes(name)
    if (typeof nameSize === "string") return nameSize
    const previous = out[name]
    if (previous !== undefined) {
      for (const v of previous) bytes -= nameSize + valueBytes(v) + lineBytes
      count--
    }
    const t = set[name]!.trim()
    const size = valueBytes(t)
    if (size < 0) return valueProblem
    // Replaced values go last, as nats.js's `set` appends them.
    delete out[name]
    out[name] = [t]
    bytes += nameSize + size + lineBytes
    count++
  }
  return count === 0 ? none : { headers: out, bytes }
}
