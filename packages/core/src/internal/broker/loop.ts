/**
 * The run loop every subscriber kind runs on: core subscriptions, JetStream
 * consumers (one message or a batch at a time) and watches. The loop owns
 * the scopes, the pump from the source into a buffer (admission), the
 * workers, the source's end and shutdown; a kind supplies its source, what
 * it admits, how a worker takes its work, how the work is handled, and what
 * it does with what is left at shutdown.
 *
 * Workers handle inline, so no fiber is forked per message: one worker takes
 * all that is buffered at once and handles it in order; several take one
 * each, in no order.
 *
 * Shutdown (the layer's scope closes): stop taking (the pump and the idle
 * workers are interrupted, the source is closed so nothing more comes),
 * wait for the busy workers to finish their work up to the graceful timeout,
 * then interrupt them; then the leftovers and the kind's last step.
 */
import { Cause, Context, Deferred, Duration, Effect, Exit, Fiber, Option, Queue, References, Scope, Stream } from "effect"
import { ConnectionError, fromReason, isNatsError, type NatsError } from "../../NatsError.ts"
import { RunTimer } from "./metrics.ts"

/**
 * Where the subscribers built under `NatsBroker.launch` report that they
 * stopped for good, so that the app ends with the reason; unset elsewhere.
 */
export const StoppedForGood = Context.Reference<Deferred.Deferred<never, NatsError> | undefined>(
  "@nats-effect/core/NatsBroker/StoppedForGood",
  { defaultValue: () => undefined }
)

/**
 * The shutdown of an app run by `NatsBroker.launch`, said in two lines:
 * `stopping: N subscriber(s), waiting up to …` as the first subscriber
 * stops, and `stopped` (with the handlers interrupted, if any) at the end.
 */
export class Shutdown {
  private subscribers = 0
  private gracefulTimeout = Duration.zero
  private interrupted = 0
  private announced = false

  started(gracefulTimeout: Duration.Duration): void {
    this.subscribers++
    this.gracefulTimeout = gracefulTimeout
  }

  /** Logs `stopping: …` once, when the first subscriber stops. */
  readonly stopping: Effect.Effect<void> = Effect.suspend(() => {
    if (this.announced) return Effect.void
    this.announced = true
    return Effect.logInfo(
      `stopping: ${this.subscribers} subscriber(s), waiting up to ${Duration.format(this.gracefulTimeout)}`
    ).pipe(
      // The app's line, not the line of the subscriber that happens to stop first.
      Effect.provideService(References.CurrentLogAnnotations, {})
    )
  })

  interruptedHandlers(count: number): void {
    this.interrupted += count
  }

  /** Logs `stopped` once everything is released, if the subscribers were stopped. */
  readonly stopped: Effect.Effect<void> = Effect.suspend(() =>
    !this.announced
      ? Effect.void
      : Effect.logInfo(this.interrupted === 0 ? "stopped" : `stopped (${this.interrupted} handler(s) interrupted)`)
  )
}

/** The `Shutdown` of the app being run by `NatsBroker.launch`; unset elsewhere. */
export const CurrentShutdown = Context.Reference<Shutdown | undefined>(
  "@nats-effect/core/NatsBroker/Shutdown",
  { defaultValue: () => undefined }
)

/**
 * Messages a worker may handle in a row without running an Effect (handlers
 * that return a completed Effect) before it yields to the other fibers and
 * to I/O, as the runtime would after as many operations.
 */
const maxInlineRun = 1024

/** A subscriber's source, opened: what it has given and the workers have not finished. */
export interface Opened<I> {
  readonly inFlight: () => number
  /** Starts the pump and the workers; stops them, gracefully, when the current scope closes. */
  readonly start: <W>(workers: Workers<I, W>) => Effect.Effect<void, never, Scope.Scope>
}

export interface SourceSpec<I, E> {
  /** Opened in a scope of its own, closed when the subscriber stops taking. */
  readonly open: Effect.Effect<Stream.Stream<I, unknown>, E, Scope.Scope>
  /** Why the subscriber stopped for good when the source ends while it is not stopping. */
  readonly ended: string
  /** Whether an item the source gives goes to the workers (otherwise dropped, or passed over). */
  readonly admit?: ((item: I) => boolean) | undefined
  /** A bounded buffer pulls the source only as fast as the workers take. Default: unbounded. */
  readonly capacity?: number | undefined
}

export interface Workers<I, W> {
  readonly name: string
  readonly concurrency: number
  readonly gracefulTimeout: Duration.Duration
  /** How a worker takes its next work from the buffer. */
  readonly take: (buffer: Queue.Dequeue<I, Cause.Done>) => Effect.Effect<ReadonlyArray<W>, Cause.Done>
  /** How many of the source's items a work is (a batch: several). Default 1. */
  readonly size?: ((work: W) => number) | undefined
  /** `run`: the worker's clock, for the handlers done when they return. */
  readonly handle: (work: W, run: RunTimer) => Effect.Effect<void>
  /** After a work is handled. */
  readonly finished?: ((work: W) => void) | undefined
  /** A work whose handler was interrupted at shutdown. */
  readonly onAbandoned: (work: W) => Effect.Effect<void>
  /** At shutdown, once the workers are done: what is left in the buffer. */
  readonly leftovers?: ((items: ReadonlyArray<I>) => Effect.Effect<void>) | undefined
  /** At shutdown, last. */
  readonly afterStop?: Effect.Effect<void> | undefined
}

/**
 * What a subscriber does when its source ends: unless it is stopping, it has
 * stopped for good, so it says why and, under `NatsBroker.launch`, ends the
 * app with the reason.
 */
const onSourceEnd = (
  isStopping: () => boolean,
  stoppedForGood: Deferred.Deferred<never, NatsError> | undefined,
  ended: string
) =>
(cause: Cause.Cause<unknown>): Effect.Effect<void> => {
  if (isStopping()) return Effect.logDebug("subscription ended")
  const failure = Option.filter(Cause.findErrorOption(cause), (error) => !Cause.isDone(error))
  // A watch's source fails with its own errors (a `KeyValueError`): logged as they are, the app ends with `ended`.
  const reason = Option.isSome(failure) && isNatsError(failure.value)
    ? failure.value
    : fromReason(new ConnectionError({ message: ended }))
  const logged = Effect.logError(
    "the subscription failed; this subscriber stops for good",
    Option.isSome(failure) ? cause : Cause.fail(reason)
  )
  return stoppedForGood === undefined ? logged : Effect.andThen(logged, Deferred.fail(stoppedForGood, reason))
}

/** Opens the source; `start` then runs the pump and the workers. */
export const open = <I, E>(spec: SourceSpec<I, E>): Effect.Effect<Opened<I>, E, Scope.Scope> =>
  Effect.gen(function*() {
    const layerScope = yield* Effect.scope
    const sourceScope = yield* Scope.fork(layerScope)
    const pull = yield* Effect.flatMap(spec.open, Stream.toPull).pipe(Scope.provide(sourceScope))
    const stoppedForGood = yield* StoppedForGood
    const shutdown = yield* CurrentShutdown
    let inFlight = 0

    const start = <W>(workers: Workers<I, W>): Effect.Effect<void, never, Scope.Scope> =>
      Effect.gen(function*() {
        const { concurrency, handle, take } = workers
        const size = workers.size ?? (() => 1)
        const workersScope = yield* Scope.fork(layerScope)
        const buffer = spec.capacity === undefined
          ? yield* Queue.unbounded<I, Cause.Done>()
          : yield* Queue.bounded<I, Cause.Done>(spec.capacity)
        let stopping = false
        const admit = spec.admit
        const admitted = (chunk: ReadonlyArray<I>): ReadonlyArray<I> => {
          if (admit === undefined) {
            inFlight += chunk.length
            return chunk
          }
          // Counted one by one: `admit` may read `inFlight` (pending limits).
          const out: Array<I> = []
          for (let i = 0; i < chunk.length; i++) {
            if (!admit(chunk[i]!)) continue
            out.push(chunk[i]!)
            inFlight++
          }
          return out
        }
        // Idle workers take what came in this turn of the event loop, not the next; a bounded
        // buffer takes one at a time, so the source is pulled only as fast as they take.
        const offer = (chunk: ReadonlyArray<I>): Effect.Effect<unknown> => {
          const items = admitted(chunk)
          if (spec.capacity !== undefined) return Effect.forEach(items, (item) => Queue.offer(buffer, item), { discard: true })
          Queue.offerAllUnsafe(buffer, items)
          return Queue.flush(buffer)
        }
        const pump = yield* Effect.forkIn(
          Effect.forever(Effect.flatMap(pull, offer)).pipe(
            Effect.catchCause(onSourceEnd(() => stopping, stoppedForGood, spec.ended)),
            Effect.ensuring(Queue.end(buffer))
          ),
          workersScope
        )

        shutdown?.started(workers.gracefulTimeout)
        // What each worker is handling, if anything: a worker is busy while its slot is set.
        const handling: Array<W | undefined> = Array.from({ length: concurrency }, () => undefined)
        const worker = (index: number) =>
          Effect.gen(function*() {
            const run = new RunTimer()
            let inline = 0
            while (!stopping) {
              handling[index] = undefined
              // The run of messages handled at once ends whenever the worker may wait or yield.
              run.end()
              const works = yield* take(buffer)
              for (let i = 0; i < works.length; i++) {
                if (stopping) {
                  run.end()
                  return
                }
                const work = works[i]!
                handling[index] = work
                const handled = handle(work, run)
                if (handled !== Effect.void) {
                  inline = 0
                  run.end()
                  yield* handled
                } else if (++inline === maxInlineRun) {
                  inline = 0
                  run.end()
                  yield* Effect.yieldNow
                }
                inFlight -= size(work)
                workers.finished?.(work)
              }
            }
            run.end()
            handling[index] = undefined
          }).pipe(Effect.catchCause(() => Effect.void)) // the end of the source: its pump reported why
        const fibers: Array<Fiber.Fiber<void>> = []
        for (let index = 0; index < concurrency; index++) fibers.push(yield* Effect.forkIn(worker(index), workersScope))

        const stop = Effect.gen(function*() {
          if (shutdown !== undefined) yield* shutdown.stopping
          stopping = true
          yield* Fiber.interrupt(pump)
          const busy = fibers.filter((_, index) => handling[index] !== undefined)
          yield* Fiber.interruptAll(fibers.filter((_, index) => handling[index] === undefined))
          yield* Scope.close(sourceScope, Exit.void)
          if (busy.length > 0) {
            const finished = yield* Effect.timeoutOption(Fiber.awaitAll(busy), workers.gracefulTimeout)
            if (Option.isNone(finished)) {
              yield* Effect.logWarning(
                `${busy.length} handler(s) still running after the graceful timeout of ` +
                  `${Duration.format(workers.gracefulTimeout)}; interrupting them`
              )
              yield* Fiber.interruptAll(busy)
              shutdown?.interruptedHandlers(busy.length)
              for (const work of handling) {
                if (work !== undefined) yield* workers.onAbandoned(work)
              }
            }
          }
          if (workers.leftovers !== undefined) yield* workers.leftovers(yield* Queue.clear(buffer))
          if (workers.afterStop !== undefined) yield* workers.afterStop
        }).pipe(Effect.annotateLogs({ subscriber: workers.name }))
        yield* Effect.addFinalizer(() => stop)
      })

    return { inFlight: () => inFlight, start }
  })
