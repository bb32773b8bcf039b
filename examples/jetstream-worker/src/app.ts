/**
 * A JetStream work queue: jobs published to `jobs.resize` are stored in the
 * stream `JOBS` (retention `workqueue`: a job leaves the stream once it is
 * acknowledged) and handled by the durable consumer `resizer`. A job that
 * fails is retried after the `backoff` delays; after its last delivery
 * (`maxDeliver`) it goes to the dead-letter subject `jobs.dead`, with the
 * `nats-effect-dead-letter-*` headers saying where it came from and why.
 *
 * The jobs of the demo: `cat.png` and `dog.png` succeed, `flaky.png` fails on
 * its first delivery and succeeds on its retry, `broken.png` always fails
 * and ends in the dead letters.
 *
 * As a demo it stops once every job is done or dead-lettered: `run`
 * completes with what happened to each. It leaves no stream behind: it
 * removes `JOBS` when it stops if it created it, and says so; a `JOBS` that
 * was there before is left, and it says that.
 */
import { NatsBroker, NatsClient, NatsError, NatsHeaders } from "@nats-effect/core"
import { type Cause, Context, Deferred, Duration, Effect, Layer, Ref, Schema } from "effect"

export const stream = "JOBS"
export const jobsSubject = "jobs.resize"
export const deadLetterSubject = "jobs.dead"
export const jobs = ["cat.png", "flaky.png", "broken.png", "dog.png"] as const

/** A job the worker cannot do: it is retried, then dead-lettered. */
export class ResizeFailed extends Schema.TaggedError<ResizeFailed>()("ResizeFailed", {
  image: Schema.String,
  message: Schema.String
}) {}

/** One delivery of a job to the worker. */
export interface Attempt {
  readonly image: string
  readonly deliveryCount: number
  /** Milliseconds since the first delivery of that job. */
  readonly sinceFirst: number
}

/** A job in the dead letters, as its headers describe it. */
export interface DeadLetter {
  readonly image: string
  readonly deliveryCount: string | undefined
  readonly errorTag: string | undefined
  readonly errorMessage: string | undefined
}

export interface Outcome {
  /** The jobs done, in the order they were done (several at once: in no particular order). */
  readonly done: ReadonlyArray<string>
  readonly deadLetters: ReadonlyArray<DeadLetter>
  /** Every delivery, in order. */
  readonly attempts: ReadonlyArray<Attempt>
}

/** What the demo has seen so far; `finished` completes when every job is done or dead-lettered. */
export class Progress extends Context.Service<Progress, {
  readonly outcome: Ref.Ref<Outcome>
  readonly firstDelivery: Map<string, number>
  readonly finished: Deferred.Deferred<Outcome>
}>()("examples/jetstream-worker/Progress") {
  static readonly layer = Layer.effect(
    Progress,
    Effect.gen(function*() {
      return {
        outcome: yield* Ref.make<Outcome>({ done: [], deadLetters: [], attempts: [] }),
        firstDelivery: new Map(),
        finished: yield* Deferred.make<Outcome>()
      }
    })
  )
}

const record = (update: (outcome: Outcome) => Outcome) =>
  Effect.gen(function*() {
    const progress = yield* Progress
    const outcome = yield* Ref.updateAndGet(progress.outcome, update)
    if (outcome.done.length + outcome.deadLetters.length === jobs.length) {
      yield* Deferred.succeed(progress.finished, outcome)
    }
  })

/** The retry schedule: a delay before the second delivery, another before the third, the last. */
export interface RetryOptions {
  readonly backoff: readonly [Duration.Input, Duration.Input]
}

/** The worker: `flaky.png` fails on its first delivery, `broken.png` on every one. */
export const Worker = (options: RetryOptions) =>
  NatsBroker.subscriber(
    jobsSubject,
    {
      stream: { name: stream, retention: "workqueue", subjects: [jobsSubject] },
      durable: "resizer",
      // A job waiting for its retry does not hold up the others.
      concurrency: 4,
      schema: Schema.String,
      backoff: options.backoff,
      maxDeliver: options.backoff.length + 1,
      deadLetter: deadLetterSubject
    },
    (image, message) =>
      Effect.gen(function*() {
        const progress = yield* Progress
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        if (!progress.firstDelivery.has(image)) progress.firstDelivery.set(image, now)
        const attempt = { image, deliveryCount: message.deliveryCount, sinceFirst: now - progress.firstDelivery.get(image)! }
        yield* record((outcome) => ({ ...outcome, attempts: [...outcome.attempts, attempt] }))
        if (image === "broken.png" || (image === "flaky.png" && message.deliveryCount === 1)) {
          return yield* new ResizeFailed({ image, message: `could not read ${image}` })
        }
        yield* Effect.log(`resized ${image}`)
        yield* record((outcome) => ({ ...outcome, done: [...outcome.done, image] }))
      })
  )

/** Reads the dead letters (a core NATS subject: no stream captures it). */
export const DeadLetters = NatsBroker.subscriber(deadLetterSubject, { schema: Schema.String }, (image, message) => {
  const header = (key: string) => NatsHeaders.get(message.headers, key)
  const letter: DeadLetter = {
    image,
    deliveryCount: header(NatsBroker.DeadLetterHeaders.deliveryCount),
    errorTag: header(NatsBroker.DeadLetterHeaders.errorTag),
    errorMessage: header(NatsBroker.DeadLetterHeaders.errorMessage)
  }
  return Effect.andThen(
    Effect.logWarning(`dead letter: ${image} after ${letter.deliveryCount} deliveries (${letter.errorMessage})`),
    record((outcome) => ({ ...outcome, deadLetters: [...outcome.deadLetters, letter] }))
  )
})

/** After every subscriber is live: publish the jobs through JetStream. */
export const PublishJobs: Effect.Effect<void, NatsError.NatsError, NatsBroker.NatsBroker> = Effect.forEach(
  jobs,
  (image) => NatsBroker.publish(jobsSubject, image, { stream }),
  { discard: true }
)

/**
 * Removes the stream `JOBS` when the app stops if it was not there when it
 * started (the worker declares it), so that a run against a real server
 * leaves it as it was. Built before the worker, released after it.
 */
export const DemoStream: Layer.Layer<never, NatsError.NatsError, NatsClient.NatsClient> = Layer.effectDiscard(
  Effect.gen(function*() {
    const nats = yield* NatsClient.NatsClient
    const existed = yield* nats.jetstream.streams.info(stream).pipe(
      Effect.as(true),
      Effect.catchReason("NatsError", "StreamNotFound", () => Effect.succeed(false))
    )
    yield* Effect.addFinalizer(() =>
      existed
        ? Effect.log(`left the stream "${stream}", which was there before`)
        : nats.jetstream.streams.delete(stream).pipe(
          Effect.andThen(Effect.log(`removed the stream "${stream}" it created`)),
          Effect.catchCause((cause) => Effect.logWarning(`could not remove the stream "${stream}" it created`, cause))
        )
    )
  })
)

/** The application on a NATS client; it also provides `Progress`, to wait for the jobs. */
export const App = <E>(
  nats: Layer.Layer<NatsClient.NatsClient, E>,
  options: RetryOptions
): Layer.Layer<Progress, E | NatsError.NatsError> =>
  Layer.mergeAll(Worker(options), DeadLetters).pipe(
    NatsBroker.afterStartup(PublishJobs),
    Layer.provide(NatsBroker.layer),
    Layer.provideMerge(Progress.layer),
    Layer.provide(DemoStream),
    Layer.provide(nats)
  )

/** The demo's retry schedule: short, so that it ends in about a second. */
export const demoRetries: RetryOptions = { backoff: ["200 millis", "500 millis"] }

/** Starts the app, waits until every job is done or dead-lettered, and stops the app. */
export const run = <E>(
  nats: Layer.Layer<NatsClient.NatsClient, E>,
  options: RetryOptions = demoRetries
): Effect.Effect<Outcome, E | NatsError.NatsError | Cause.TimeoutError> =>
  Effect.flatMap(Progress, (progress) => Deferred.await(progress.finished)).pipe(
    Effect.timeout("30 seconds"),
    Effect.provide(App(nats, options))
  )
