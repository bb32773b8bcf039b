/**
 * Watchers: subscribers whose messages come from a Stream the caller builds
 * (a KV bucket's or an object store's watch), on the run loop (`loop.ts`)
 * with the per-message path of every subscriber (`Dispatch.make`).
 *
 * The source is pulled as the handlers take its items, so a slow handler
 * pushes back on it (a watch is an ordered consumer: nothing is dropped).
 */
import { Effect, Queue, type Scope, type Stream } from "effect"
import type { Message } from "../../NatsMessage.ts"
import * as Codec from "./codec.ts"
import * as Correlation from "./correlation.ts"
import * as Dispatch from "./dispatch.ts"
import * as Loop from "./loop.ts"
import * as Subject from "./subject.ts"

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
  runtime: Dispatch.BrokerRuntime,
  config: WatcherConfig<I, A, M, EO>
) {
  const { concurrency, name, position, skip, template } = config
  // The sequence of the last item read.
  let read = position?.start ?? 0
  const source = yield* Loop.open({
    open: config.source,
    ended: `the watch of ${template.subject} ${config.where} ended`,
    admit: (item: I) => {
      if (position !== undefined) read = Math.max(read, position.sequenceOf(item))
      return skip?.(item) !== true
    },
    // The source is read only as fast as the handlers take its items.
    capacity: 1
  })
  const dispatcher = yield* Dispatch.make<A, M>(runtime, {
    name,
    template,
    queue: undefined,
    decode: (_data, _contentType, message) => config.decode(message),
    encodeReply: Codec.makeEncoder(undefined)
  }, config.where, {
    source: position === undefined
      ? { _tag: "Unknown" }
      : { _tag: "Watch", stream: position.stream, subjects: position.subjects, position: () => read },
    inFlight: source.inFlight
  })

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
  yield* source.start({
    name,
    concurrency,
    gracefulTimeout: runtime.gracefulTimeout,
    take: (buffer) => Effect.map(Queue.take(buffer), (item) => [toMessage(item)]),
    handle: dispatcher.handle(config.handler),
    onAbandoned: (message) => Effect.logWarning(`interrupted the handler of ${message.subject}`)
  })
})
