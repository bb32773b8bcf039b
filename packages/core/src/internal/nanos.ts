/**
 * JetStream's durations are nanoseconds on the wire.
 */
import { Duration, Option } from "effect"

/** Duration input to the nanoseconds the API expects; infinite means "no limit" (0). */
export const toNanos = (input: Duration.Input): number => {
  const nanos = Duration.toNanos(input)
  return Option.isSome(nanos) ? Number(nanos.value) : 0
}

export const fromNanos = (nanos: number | undefined): Duration.Duration =>
  nanos === undefined || nanos <= 0 ? Duration.zero : Duration.nanos(BigInt(Math.trunc(nanos)))
