/**
 * Per-message TTLs as the `Nats-TTL` header carries them: what the port
 * writes (nats.go's words: a Go duration of whole seconds, `1h0m0s`, or
 * `never`) and what nats-server reads (`parseMessageTTL`: a Go duration of at
 * least a second, whole seconds counted, or a number of seconds).
 */
import { Duration, Option } from "effect"

export const header = "Nats-TTL"

/** Never expires, not even at the stream's max age. */
export const never = -1

/** Whole seconds as Go's `time.Duration.String()` writes them. */
export const format = (seconds: number): string => {
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`
}

/** The header's value for a TTL, or `undefined` when it is under a second (the server refuses it). */
export const toHeader = (input: Duration.Input): string | undefined => {
  const duration = Duration.fromInput(input)
  if (Option.isNone(duration)) return undefined
  if (!Duration.isFinite(duration.value)) return "never"
  const seconds = Math.floor(Duration.toSeconds(duration.value))
  return seconds >= 1 ? format(seconds) : undefined
}

const unitNanos: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  "µs": 1e3,
  "μs": 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9
}
const goDuration = /^(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h)/

/** Nanoseconds of a Go duration (`1m30s`, `1.5h`), or `undefined` when it is not one. */
const parseGoDuration = (text: string): number | undefined => {
  let rest = text.startsWith("+") ? text.slice(1) : text
  if (rest === "") return undefined
  let nanos = 0
  while (rest !== "") {
    const match = goDuration.exec(rest)
    if (match === null) return undefined
    const unit = /[a-zµμ]+$/.exec(match[0])![0]
    nanos += parseFloat(match[0].slice(0, -unit.length)) * unitNanos[unit]!
    rest = rest.slice(match[0].length)
  }
  return nanos
}

/**
 * The TTL a header value asks for, as nats-server reads it: seconds (`never`
 * is `never`), or `undefined` when the server refuses it as invalid.
 */
export const parse = (value: string): number | undefined => {
  if (value.toLowerCase() === "never") return never
  const nanos = parseGoDuration(value)
  if (nanos !== undefined) return nanos < 1e9 ? undefined : Math.trunc(nanos / 1e9)
  return /^\d+$/.test(value) ? Number(value) : undefined
}
