/**
 * Log lines for events that come in floods (messages dropped past a
 * subscriber's pending limits, payloads that cannot be decoded). One line per
 * event would let a sender fill the log: the first `burst` events after a
 * quiet interval are logged in full by the caller, the others are only
 * counted, and one line with their count is logged at the end of each
 * interval (and when the scope closes), so the counts in the log add up to
 * the events.
 */
import { type Duration, Effect, type Scope } from "effect"

export interface LogThrottle {
  /**
   * Counts one event: `true` when the caller should log it in full, `false`
   * when it is counted in the next summary line.
   */
  readonly admit: () => boolean
  /** Counts `events` in the next summary line, none logged in full. */
  readonly suppress: (events: number) => void
}

export const make = (options: {
  /** Events logged in full after a quiet interval (one without suppressed events). */
  readonly burst: number
  readonly interval: Duration.Duration
  /** Logs the summary of `suppressed` events (at least one) of the interval that ended. */
  readonly summary: (suppressed: number) => Effect.Effect<void>
}): Effect.Effect<LogThrottle, never, Scope.Scope> =>
  Effect.gen(function*() {
    let admitted = 0
    let suppressed = 0
    const endInterval = Effect.suspend(() => {
      if (suppressed === 0) {
        // A quiet interval: the next events are logged in full again.
        admitted = 0
        return Effect.void
      }
      const count = suppressed
      suppressed = 0
      return options.summary(count)
    })
    yield* Effect.addFinalizer(() => endInterval)
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(options.interval), endInterval)))
    return {
      admit: () => {
        if (admitted < options.burst) {
          admitted++
          return true
        }
        suppressed++
        return false
      },
      suppress: (events) => {
        suppressed += events
      }
    }
  })
