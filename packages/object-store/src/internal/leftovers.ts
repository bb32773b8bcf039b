/**
 * Chunks no object references: those of a put that failed, of an object
 * replaced. Their removal here, and the record of the puts in flight that
 * `sweep` must spare.
 */
import { Effect, Schedule } from "effect"
import type { ObjectInfo } from "../ObjectStore.ts"
import type { StoreContext } from "./context.ts"
import * as Wire from "./wire.ts"

/**
 * How the removal of chunks left behind is retried when the server is away:
 * at most 5 s apart (each attempt also waits for its own timeout), so it
 * happens within seconds of the server's return, and for 10 minutes at most.
 */
const leftoverRetry = Schedule.min([Schedule.exponential("500 millis"), Schedule.spaced("5 seconds")]).pipe(
  Schedule.upTo({ duration: "10 minutes" })
)

/** The nuids of a store's puts in flight, which `sweep` never touches. */
export class PutsInFlight {
  private readonly inFlight = new Set<string>()
  /** Per sweep running: the nuids of every put in flight since it began. */
  private readonly sweepsRunning = new Set<Set<string>>()

  readonly started = (nuid: string) =>
    Effect.sync(() => {
      this.inFlight.add(nuid)
      for (const spared of this.sweepsRunning) spared.add(nuid)
    })

  readonly ended = (nuid: string) => Effect.sync(() => this.inFlight.delete(nuid))

  /** Runs `use` with the nuids of every put in flight while it runs, those started meanwhile included. */
  readonly sparing = <A, E, R>(use: (spared: ReadonlySet<string>) => Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        const spared = new Set(this.inFlight)
        this.sweepsRunning.add(spared)
        return spared
      }),
      use,
      (spared) => Effect.sync(() => this.sweepsRunning.delete(spared))
    )
}

/**
 * Removes the chunks under `nuid` that `what` left behind, without failing.
 * When the server cannot be reached (the usual reason a put fails: a
 * retryable `NatsError`), keeps trying in the background, in the store's
 * scope, for a bounded time; a refusal (permissions, JetStream off) would
 * be refused again, so those chunks are left to `sweep`. `serverAway` (the
 * put failed for that reason) skips the attempt now.
 */
export const removeLeftovers = (
  ctx: StoreContext,
  nuid: string,
  what: string,
  serverAway = false
): Effect.Effect<void> => {
  const removal = ctx.js.streams.purge(ctx.stream, { filter: Wire.chunkSubject(ctx.bucket, nuid) })
  const inBackground = Effect.logWarning(`object store: cannot remove the chunks of ${what} now, retrying`).pipe(
    Effect.andThen(Effect.forkIn(
      removal.pipe(
        Effect.retry({ schedule: leftoverRetry, while: (error) => error.isRetryable }),
        Effect.matchEffect({
          onSuccess: ({ purged }) => Effect.logInfo(`object store: removed the ${purged} chunks of ${what}`),
          onFailure: (error) =>
            Effect.logWarning(`object store: gave up removing the chunks of ${what}; sweep removes them`, error)
        })
      ),
      ctx.scope
    )),
    Effect.asVoid
  )
  const now = removal.pipe(
    Effect.matchEffect({
      onSuccess: () => Effect.void,
      onFailure: (error) =>
        error.isRetryable
          ? inBackground
          : Effect.logWarning(`object store: the chunks of ${what} were not removed; sweep removes them`, error)
    })
  )
  return (serverAway ? inBackground : now).pipe(
    Effect.annotateLogs({ "nats.object_store.bucket": ctx.bucket, "nats.object_store.nuid": nuid })
  )
}

/** Removes the chunks of an object that was replaced: the put succeeded whatever happens here. */
export const purgeReplaced = (ctx: StoreContext, previous: ObjectInfo, nuid: string) =>
  previous.deleted || previous.nuid === "" || previous.nuid === nuid ||
    previous.options?.link !== undefined
    ? Effect.void
    : removeLeftovers(ctx, previous.nuid, `the replaced ${JSON.stringify(previous.name)}`)
