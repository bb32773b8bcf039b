/**
 * A transfer's `onProgress`, called at most every 100 ms and once at the end.
 *
 * The transfer hands over its figures as it goes; until the interval has
 * passed that costs a read of the clock and returns `Effect.void`, so a
 * chunk makes no Effect of its own for the progress.
 */
import { Clock, Effect } from "effect"
import type { Progress, TransferOptions } from "../ObjectStore.ts"

/** At most one call per this many nanoseconds, besides the last one. */
const interval = 100_000_000n

export class ProgressReporter<E, R> {
  private readonly clock: Clock.Clock
  private readonly onProgress: (progress: Progress) => Effect.Effect<void, E, R>
  private readonly total: number | undefined
  private nextAt: bigint

  constructor(
    clock: Clock.Clock,
    onProgress: (progress: Progress) => Effect.Effect<void, E, R>,
    total: number | undefined
  ) {
    this.clock = clock
    this.onProgress = onProgress
    this.total = total
    this.nextAt = clock.monotonicTimeNanosUnsafe() + interval
  }

  /** Calls `onProgress` with these figures if 100 ms have passed since the last call (or the start). */
  update(bytes: number, chunks: number): Effect.Effect<void, E, R> {
    const now = this.clock.monotonicTimeNanosUnsafe()
    if (now < this.nextAt) return Effect.void
    this.nextAt = now + interval
    return this.onProgress(this.progress(bytes, chunks))
  }

  /** Calls `onProgress` with the final figures. */
  end(bytes: number, chunks: number): Effect.Effect<void, E, R> {
    return this.onProgress(this.progress(bytes, chunks))
  }

  private progress(bytes: number, chunks: number): Progress {
    return this.total === undefined ? { bytes, chunks } : { bytes, total: this.total, chunks }
  }
}

/** The reporter of a transfer of `total` bytes (when known), by the fiber's Clock; none without `onProgress`. */
export const reporter = <E, R>(
  options: TransferOptions<E, R> | undefined,
  total: number | undefined
): Effect.Effect<ProgressReporter<E, R> | undefined> => {
  const onProgress = options?.onProgress
  return onProgress === undefined
    ? Effect.succeed(undefined)
    : Clock.clockWith((clock) => Effect.succeed(new ProgressReporter(clock, onProgress, total)))
}
