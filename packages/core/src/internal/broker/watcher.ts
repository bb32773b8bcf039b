/**
 * Watchers: subscribers whose messages come from a Stream the caller builds
 * (a KV bucket's or an object store's watch), handled by the per-message
 * path of core subscribers (`Subscriber.makeDispatcher`) with its worker
 * pool (`Subscriber.startWorkers`).
 *
 * The source is pulled as the handlers take its items, so a slow handler
 * pushes back on it (a watch is an ordered consumer: nothing is dropped).
 * Shutdown: stop taking, close the source, let the handlers in flight
 * finish within the graceful timeout.
 */
import { Cause, Effect, Exit, Fiber, Queue, Scope, Stream } from "effect"
import type { Message } from "../../NatsMessage.ts"
import * as Codec from "./codec.ts"
import * as Correlation from "./correlation.ts"
import * as Subject from "./subject.ts"
import * as Subscriber from "./subscriber.ts"

/** A watch's stream, the subjects it reads there, each item's sequence, and the sequence it starts after. */
export interface WatchPosition<I> {
  readonly stream: string
  readonly subjects: ReadonlyArray<string>
  readonly sequenceOf: (item: I) => number
  readonly start: number
}

export interface WatcherConfig<I, A, M extends Message, EO> {
  readonly name: string
  /** The keys watched, `{param}`s included; a message's `params` come from its `subject`. */
  readonly template: Subject.SubjectTemplate
  /** What the live line says after `listening on <keys>`. */
  readonly where: string
  readonly concurrency: number
  /** Opened when the watcher starts, in a scope closed when it stops taking. */
  readonly source: Effect.Effect<Stream.Stream<I, unknown>, EO, Scope.Scope>
  /** Items read from the source and passed over (not handled). */
  readonly skip: ((item: I) => boolean) | undefined
  /** Where the source reads, to tell observers how far it has read. */
  readonly position: WatchPosition<I> | undefined
  /** The item as the handler's message, given the fields every message has. */
  readonly toMessage: (item: I, base: Message) => M
  readonly subjectOf: (item: I) => string
  readonly decode: (message: M) => A | Codec.DecodeFailure
  readonly handler: (value: A, message: M) => Effect.Effect<unknown, unknown, unknown>
}

const noHeaders = Object.freeze({})
const noData = new Uint8Array(0)

/** Opens the source and starts the workers; returns once the source is open. Released with the current scope. */
export const run = Effect.fnUntraced(function*<I, A, M extends Message, EO>(
  runtime: Subscriber.BrokerRuntime,
  config: WatcherConfig<I, A, M, EO>
) {
  const { concurrency, name, template } = config
  const layerScope = yield* Effect.scope
  const sourceScope = yield* Scope.fork(layerScope)
  const workersScope = yield* Scope.fork(layerScope)
  const pull = yield* Effect.flatMap(config.source, Stream.toPull).pipe(Scope.provide(sourceScope))
  const { position, skip } = config
  // Read from the source and not finished with; the sequence of the last item read.
  let inFlight = 0
  let read = position?.start ?? 0
  const dispatcher = yield* Subscriber.makeDispatcher<A, M>(runtime, {
    name,
    template,
    queue: undefined,
    decode: (_data, _contentType, message) => config.decode(message),
    encodeReply: Codec.makeEncoder(undefined)
  }, config.where, {
    source: position === undefined
      ? { _tag: "Unknown" }
      : { _tag: "Watch", stream: position.stream, subjects: position.subjects, position: () => read },
    inFlight: () => inFlight
  })
  const admit = (item: I): boolean => {
    if (position !== undefined) read = Math.max(read, position.sequenceOf(item))
    if (skip?.(item) === true) return false
    inFlight++
    return true
  }

  let stopping = false
  // Bounded by the workers: the pump offers the next chunk once the last one is taken.
  const buffer = yield* Queue.bounded<I, Cause.Done>(1)
  const onWatchEnd = Subscriber.onSourceEnd(
    () => stopping,
    yield* Subscriber.StoppedForGood,
    `the watch of ${template.subject} ${config.where} ended`
  )
  const pump = yield* Effect.forkIn(
    Effect.forever(
      Effect.flatMap(pull, (chunk) =>
        Effect.forEach(chunk, (item) => admit(item) ? Queue.offer(buffer, item) : Effect.void, { discard: true }))
    ).pipe(
      Effect.catchCause(onWatchEnd),
      Effect.ensuring(Queue.end(buffer))
    ),
    workersScope
  )

  const toMessage = (item: I): M => {
    const subject = config.subjectOf(item)
    return config.toMessage(item, {
      subject,
      params: Subject.extract(template, subject),
      headers: noHeaders,
      reply: undefined,
      correlationId: Correlation.next(),
      data: noData,
      contentType: undefined,
      subscriber: name
    })
  }
  const stop = yield* Subscriber.startWorkers<M>({
    name,
    concurrency,
    take: Effect.map(Queue.take(buffer), (item) => [toMessage(item)]),
    handle: dispatcher.handle(config.handler),
    done: () => {
      inFlight--
    },
    onAbandoned: (message) => Effect.logWarning(`interrupted the handler of ${message.subject}`),
    gracefulTimeout: runtime.gracefulTimeout,
    scope: workersScope
  })

  yield* Effect.addFinalizer(() => {
    stopping = true
    return Effect.andThen(Fiber.interrupt(pump), stop(Scope.close(sourceScope, Exit.void)))
  })
})
