/**
 * Core subscribers on the run loop (`loop.ts`), with the per-message path
 * every subscriber shares (`dispatch.ts`).
 *
 * A core subscriber's source is the port's subscription. Messages are
 * admitted within its pending limits (messages and bytes taken and not yet
 * handled), and the others dropped: core NATS cannot be pushed back, so an
 * unbounded buffer would grow with any burst a slow handler cannot keep up
 * with.
 */
import { Cause, Duration, Effect, Queue, Scope } from "effect"
import type { Headers, Msg } from "../../NatsClient.ts"
import * as NatsHeaders from "../../NatsHeaders.ts"
import type { Message } from "../../NatsMessage.ts"
import * as Codec from "./codec.ts"
import * as Correlation from "./correlation.ts"
import * as Dispatch from "./dispatch.ts"
import * as Loop from "./loop.ts"
import * as Subject from "./subject.ts"
import * as Throttle from "./throttle.ts"

export interface PendingLimits {
  readonly messages: number
  readonly bytes: number
}

/** nats.go's defaults for a subscription's pending buffer. */
export const defaultPendingLimits: PendingLimits = { messages: 65536, bytes: 64 * 1024 * 1024 }

export interface SubscriberConfig<A> extends Dispatch.DispatchConfig<A> {
  readonly concurrency: number
  readonly pendingLimits: PendingLimits
}

const noHeaders: Headers = Object.freeze({})

/**
 * Builds a message's fields as a handler sees them; without a correlation id
 * it gets `correlationId()`, by default a new one.
 */
export const toMessage = (
  msg: Msg,
  template: Subject.SubjectTemplate,
  name: string,
  correlationId: () => string = Correlation.next
): Message => {
  const headers = msg.headers ?? noHeaders
  return {
    subject: msg.subject,
    params: Subject.extract(template, msg.subject),
    headers,
    reply: msg.reply,
    correlationId: (msg.headers === undefined ? undefined : NatsHeaders.get(headers, Codec.CorrelationIdHeader))
      ?? correlationId(),
    data: msg.data,
    contentType: msg.headers === undefined ? undefined : NatsHeaders.get(headers, Codec.ContentTypeHeader),
    subscriber: name
  }
}

/**
 * Subscribes and starts the workers; returns once the subscription is live.
 * Everything is released with the current scope, gracefully.
 */
export const run = Effect.fnUntraced(function*<A>(runtime: Dispatch.BrokerRuntime, config: SubscriberConfig<A>) {
  const { client } = runtime
  const { concurrency, name, pendingLimits, queue, template } = config
  const layerScope = yield* Effect.scope

  // Messages taken from the subscription and not yet handled, bounded like a NATS client's
  // pending buffer: core NATS cannot push back, so past the limits the message is dropped.
  let pendingBytes = 0
  const source = yield* Loop.open({
    open: client.subscribe(template.subject, { queue }),
    ended: `the subscription to "${template.subject}" ended`,
    // Called once the workers run: the counters below exist by then.
    admit: (msg: Msg) => {
      if (source.inFlight() >= pendingLimits.messages || pendingBytes + msg.data.length > pendingLimits.bytes) {
        droppedMessages.count++
        drops.suppress(1)
        return false
      }
      pendingBytes += msg.data.length
      return true
    }
  })
  const dispatcher = yield* Dispatch.make(
    runtime,
    config,
    queue === undefined ? undefined : `in queue group "${queue}"`,
    { source: { _tag: "Subscription" }, inFlight: source.inFlight }
  )

  const droppedMessages = dispatcher.metrics.dropped()
  const drops = yield* Throttle.make({
    burst: 0,
    interval: runtime.logInterval,
    summary: (count) =>
      Effect.logWarning(
        `dropped ${count} message(s) in the last ${Duration.format(runtime.logInterval)}: the pending limits ` +
          `(${pendingLimits.messages} messages, ${pendingLimits.bytes} bytes) were reached, the handler is ` +
          `slower than the publishers`
      ).pipe(Effect.annotateLogs({ subscriber: name, count }))
  }).pipe(Scope.provide(layerScope))

  // One worker takes every buffered message, in order; several take one each, in no order.
  const takeMsgs = (buffer: Queue.Dequeue<Msg, Cause.Done>): Effect.Effect<ReadonlyArray<Msg>, Cause.Done> =>
    concurrency === 1 ? Queue.takeAll(buffer) : Queue.takeBetween(buffer, 1, 1)
  yield* source.start({
    name,
    concurrency,
    gracefulTimeout: runtime.gracefulTimeout,
    take: (buffer) => Effect.map(takeMsgs(buffer), (msgs) => msgs.map((msg) => toMessage(msg, template, name))),
    handle: dispatcher.handle(config.handler),
    finished: (message) => {
      pendingBytes -= message.data.length
    },
    // Their requesters get an error reply rather than a timeout.
    onAbandoned: (message) => dispatcher.afterFailure(message, Cause.interrupt())
  })
})
