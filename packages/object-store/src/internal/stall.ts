/**
 * Fails a stream whose upstream keeps a pull waiting for longer than a
 * timeout: time spent by a slow reader between pulls does not count.
 *
 * `Stream.timeoutOrElse` does this with a timer per pull; on the get path,
 * where a pull is one chunk, a watchdog that looks every quarter timeout is
 * much cheaper, at the price of firing between 1 and 1.25 timeouts late.
 */
import { Duration, Effect, Stream } from "effect"

export const failWhenStalled = <E2>(timeout: Duration.Duration, onStall: () => E2) =>
<A, E, R>(self: Stream.Stream<A, E, R>): Stream.Stream<A, E | E2, R> => {
  if (!Duration.isFinite(timeout)) return self
  const checkEvery = Duration.divideUnsafe(timeout, 4)
  return Stream.suspend(() => {
    let waiting = false
    // Counts pulls, so the watchdog can tell one long wait from several short ones.
    let pulls = 0
    const tracked = Stream.transformPull(self, (pull) =>
      Effect.succeed(
        Effect.suspend(() => {
          waiting = true
          pulls++
          return pull
        }).pipe(Effect.map((values) => {
          waiting = false
          return values
        }))
      ))
    const watchdog = Effect.gen(function*() {
      let seen = -1
      let checks = 0
      while (true) {
        yield* Effect.sleep(checkEvery)
        checks = waiting && pulls === seen ? checks + 1 : 0
        seen = pulls
        // The same pull was waiting at five checks in a row: for a timeout at least.
        if (checks >= 4) return yield* Effect.fail(onStall())
      }
    })
    return Stream.interruptWhen(tracked, watchdog)
  })
}
