/**
 * Listing a bucket's keys or entries to its end. The server's consumer
 * (nats.js) ends a listing with the last message that was pending when it
 * started; when that message is removed meanwhile (expired by the bucket's
 * TTL, a delete marker purged) the listing waits for it forever. One that
 * stalls is started again.
 */
import { Data, Effect, Stream } from "effect"

class Stalled extends Data.TaggedError("Stalled")<{ readonly message: string }> {}

const stalled = new Stalled({ message: "a listing of the bucket stalled, its last message removed meanwhile" })

export const listAll = <A, E, R>(listing: Stream.Stream<A, E, R>): Effect.Effect<Array<A>, E | Stalled, R> =>
  listing.pipe(
    Stream.timeoutOrElse({ duration: "2 seconds", orElse: () => Stream.fail(stalled) }),
    Stream.runCollect,
    Effect.retry({ times: 5, while: (error) => error === stalled })
  )
