/**
 * The per-message path every subscriber kind shares (the dispatcher):
 * decoding (throttled warnings for what does not decode), the handler in the
 * message's context (log annotations, span, `NatsMessage`), the reply or
 * error reply (`replies.ts`), the observer's events, then the kind's
 * settlement. Batches take their own path (`batch.ts`) over the same parts.
 */
import { Cause, Context, Duration, Effect, Exit, Option, References, Scope, Tracer } from "effect"
import type { Headers, NatsClient } from "../../NatsClient.ts"
import * as NatsHeaders from "../../NatsHeaders.ts"
import type { Message } from "../../NatsMessage.ts"
import { NatsMessage } from "../../NatsMessage.ts"
import * as NatsTracing from "../../NatsTracing.ts"
import * as Batch from "./batch.ts"
import * as Codec from "./codec.ts"
import { type RunTimer, secondsSince, SubscriberMetrics } from "./metrics.ts"
import { notify, type Observer, type SubscriberSource } from "./observer.ts"
import * as Replies from "./replies.ts"
import type * as Subject from "./subject.ts"
import * as Throttle from "./throttle.ts"

/** What a subscriber needs from its broker. */
export interface BrokerRuntime {
  readonly client: NatsClient["Service"]
  readonly gracefulTimeout: Duration.Duration
  readonly logInterval: Duration.Duration
  readonly observer: Observer | undefined
}

/** What a subscriber does with a message, whatever it comes from (core NATS, a JetStream consumer, a watch). */
export interface DispatchConfig<A, M extends Message = Message> {
  readonly name: string
  readonly template: Subject.SubjectTemplate
  readonly queue: string | undefined
  /** The metrics' `messaging.consumer.group.name`: the queue group (by default) or the durable consumer. */
  readonly consumerGroup?: string | undefined
  /** The payload from the body; a watcher's decoding also reads its message (a delete has no value). */
  readonly decode: (data: Uint8Array, contentType: string | undefined, message: M) => A | Codec.DecodeFailure
  readonly encodeReply: Codec.Encoder
  /** Never replies, even to a request. */
  readonly noReply?: boolean | undefined
  readonly handler: (payload: A, message: M) => Effect.Effect<unknown, unknown, unknown>
  /**
   * Runs after the reply and the logging, with the outcome: the handler's
   * exit, or why the payload could not be decoded (JetStream acknowledgement).
   */
  readonly settle?: ((message: M, outcome: Outcome) => Effect.Effect<void>) | undefined
}

/** How a message's handling ended: the handler's exit, or the payload did not decode. */
export type Outcome = Exit.Exit<unknown, unknown> | Codec.DecodeFailure

/** A batch subscriber's handler: the decoded payloads of a batch, and their messages (same order). */
export type BatchHandler<A, M extends Message> = Batch.BatchHandler<A, M>

export interface Dispatcher<A, M extends Message> {
  readonly subscriberId: number
  /** The subscriber's series: what it received, handled, failed and how long it took. */
  readonly metrics: SubscriberMetrics
  /**
   * Decode, `handler`, reply, settle, in the message's context; `Effect.void`
   * when all of it is already done.
   */
  readonly handle: (handler: DispatchConfig<A, M>["handler"]) => (message: M, run: RunTimer) => Effect.Effect<void>
  /**
   * Decodes a batch (what does not decode is dropped and settled as such),
   * runs `handler` once with the rest, if any, then settles each message with
   * its outcome. Batches have no replies.
   */
  readonly handleBatch: (handler: BatchHandler<A, M>) => (messages: ReadonlyArray<M>) => Effect.Effect<void>
  /** Logs a failure and sends the error reply (for handlers interrupted on shutdown). */
  readonly afterFailure: (message: M, cause: Cause.Cause<unknown>) => Effect.Effect<void>
}

/**
 * What the dispatcher's paths share: everything about a subscriber that is
 * not about one message.
 */
export interface Context<A, M extends Message> {
  readonly subscriberId: number
  readonly name: string
  readonly template: Subject.SubjectTemplate
  readonly metrics: SubscriberMetrics
  readonly observer: Observer | undefined
  readonly tracing: boolean
  readonly decode: DispatchConfig<A, M>["decode"]
  /** `effect`, then the settlement of `message` with `outcome`. */
  readonly settled: (effect: Effect.Effect<void>, message: M, outcome: Outcome) => Effect.Effect<void>
  /** Logs a payload that did not decode (throttled), answers its requester, tells the observer. */
  readonly onDecodeFailure: (message: Message, reason: string) => Effect.Effect<void>
  /** One line for a typed failure, the cause for a defect. */
  readonly logFailure: (cause: Cause.Cause<unknown>, tag: string, text: string) => Effect.Effect<void>
  /** The handler's context for one message: the message, the log annotations and, when tracing, the span. */
  readonly withMessage: (effect: Effect.Effect<void>, message: Message, span: Tracer.Span | undefined) => Effect.Effect<void>
}

const noHeaders: Headers = Object.freeze({})

/** Payloads that cannot be decoded logged in full after a quiet interval; the rest are counted. */
const decodeFailuresLoggedInFull = 5

// Identifies each subscriber in the events it reports to an observer.
let subscriberIds = 0

/**
 * The one line a subscriber logs once it is live: the subject it listens on,
 * its queue group and, unless it is that subject, its name (which defaults to
 * the declared subject, `{param}`s included).
 */
const liveLine = (name: string, template: Subject.SubjectTemplate, where: string | undefined): string =>
  `listening on ${template.subject}` +
  (where === undefined ? "" : ` ${where}`) +
  (name === template.subject ? "" : ` as "${name}"`)

/** Calls a handler; one that throws instead of returning an Effect fails like one that dies. */
export const call = (handler: () => Effect.Effect<unknown, unknown, unknown>): Effect.Effect<unknown, unknown> => {
  try {
    return handler() as Effect.Effect<unknown, unknown>
  } catch (defect) {
    return Exit.die(defect)
  }
}

/**
 * The dispatcher of a subscriber that is live: logs `listening on ...`
 * (`where`: its queue group, consumer or bucket) and tells the observer.
 */
export const make = Effect.fnUntraced(function*<A, M extends Message>(
  runtime: BrokerRuntime,
  config: Omit<DispatchConfig<A, M>, "handler">,
  where: string | undefined,
  /** What the observer is told of the subscriber's source and of the messages it holds. */
  report: {
    readonly source: SubscriberSource
    readonly inFlight: () => number
    readonly waitingForClock?: (() => number) | undefined
  }
) {
  const { client, observer } = runtime
  const { decode, encodeReply, name, queue, settle, template } = config
  const layerScope = yield* Effect.scope
  const subscriberId = ++subscriberIds
  const metrics = new SubscriberMetrics(yield* Effect.context<never>(), {
    name,
    subject: template.template,
    consumerGroup: config.consumerGroup ?? queue
  })
  yield* Effect.logInfo(liveLine(name, template, where))
  if (observer?.onSubscribed !== undefined) {
    yield* observer.onSubscribed({
      id: subscriberId,
      subscriber: name,
      subject: template.template,
      queue,
      source: report.source,
      inFlight: report.inFlight,
      waitingForClock: report.waitingForClock ?? (() => 0)
    })
  }
  // Added before the subscriber's own stop, so it runs after it: once the subscriber is done.
  if (observer?.onUnsubscribed !== undefined) {
    const onUnsubscribed = observer.onUnsubscribed
    yield* Effect.addFinalizer(() => onUnsubscribed({ id: subscriberId }))
  }

  const replies = Replies.make(client, observer, config.noReply === true)
  const onHandled = observer?.onHandled

  const afterSuccess = (message: Message, payload: A, value: unknown): Effect.Effect<void> =>
    notify(
      replies.reply(message, value, encodeReply),
      onHandled,
      () => ({ subscriberId, message, payload: Option.some(payload), exit: Exit.succeed(value) })
    )

  // A typed failure is the handler's expected outcome: one line with its tag
  // and message. A defect is a bug: its cause, with the stack.
  const logFailure = (cause: Cause.Cause<unknown>, tag: string, text: string): Effect.Effect<void> =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.logWarning("handler interrupted")
      : Cause.hasDies(cause)
      ? Effect.logError("handler failed", cause)
      : Effect.logWarning(`handler failed with ${tag}: ${text}`)

  const afterFailure = (message: Message, payload: Option.Option<A>, cause: Cause.Cause<unknown>): Effect.Effect<void> => {
    const { tag, text } = Replies.errorReply(cause, message.correlationId)
    return notify(
      Effect.andThen(logFailure(cause, tag, text), replies.replyError(message, tag, text)),
      onHandled,
      () => ({ subscriberId, message, payload, exit: Exit.failCause(cause) })
    )
  }

  let lastDecodeFailure = ""
  const decodeFailures = yield* Throttle.make({
    burst: decodeFailuresLoggedInFull,
    interval: runtime.logInterval,
    summary: (count) =>
      Effect.logWarning(
        `dropped ${count} more message(s) that could not be decoded in the last ` +
          `${Duration.format(runtime.logInterval)}; the last: ${lastDecodeFailure}`
      ).pipe(Effect.annotateLogs({ subscriber: name, count }))
  }).pipe(Scope.provide(layerScope))

  const onDecodeFailure = (message: Message, reason: string): Effect.Effect<void> => {
    lastDecodeFailure = reason
    const reply = replies.replyError(message, "DecodeError", reason)
    return notify(
      decodeFailures.admit()
        ? Effect.andThen(Effect.logWarning(`dropped a message that could not be decoded: ${reason}`), reply)
        : reply,
      onHandled,
      () => ({ subscriberId, message, payload: Option.none(), exit: Exit.fail({ _tag: "DecodeError", message: reason }) })
    )
  }

  // Spans cost more than the rest of the per-message path together: the
  // consumer span is made when a tracer that records them is installed
  // (`OtlpTracer.layer`, `NodeSdk`, ...), not for Effect's built-in one.
  const tracing = yield* NatsTracing.isRecording
  const baseAnnotations = yield* References.CurrentLogAnnotations

  const withMessage = (effect: Effect.Effect<void>, message: Message, span: Tracer.Span | undefined): Effect.Effect<void> =>
    Effect.updateContext(effect, (context: Context.Context<never>) => {
      const withSpan = span === undefined ? context : Context.add(context, Tracer.ParentSpan, span)
      return Context.add(Context.add(withSpan, NatsMessage, message), References.CurrentLogAnnotations, {
        ...baseAnnotations,
        subject: message.subject,
        correlation_id: message.correlationId,
        subscriber: name
      })
    })

  const spanOptions = (message: Message): Tracer.SpanOptionsNoTrace => {
    const attributes: Record<string, unknown> = {
      "messaging.system": "nats",
      "messaging.operation.type": "process",
      "messaging.destination.name": message.subject,
      "messaging.destination.template": template.template,
      "messaging.message.conversation_id": message.correlationId,
      "messaging.message.body.size": message.data.length
    }
    if (queue !== undefined) attributes["messaging.consumer.group.name"] = queue
    const parent = message.headers === noHeaders
      ? undefined
      : NatsTracing.parseTraceparent(NatsHeaders.get(message.headers, Codec.TraceparentHeader))
    return parent === undefined ? { kind: "consumer", attributes, root: true } : { kind: "consumer", attributes, parent }
  }

  const settled = (effect: Effect.Effect<void>, message: M, outcome: Outcome): Effect.Effect<void> =>
    settle === undefined ? effect : Effect.andThen(effect, settle(message, outcome))

  /** The tag a failure is counted under (`error.type`). */
  const errorType = (cause: Cause.Cause<unknown>): string => Replies.errorReply(cause, "").tag

  /**
   * Decode, handler, reply, settle: what to run for one message. A handler
   * that did its work before returning (`Effect.void`, `Effect.succeed(x)`...)
   * is not run again: only its follow-up is, `Effect.void` when there is
   * nothing to do (no reply, no observer, no settling).
   */
  const dispatch = (handler: DispatchConfig<A, M>["handler"], message: M, run: RunTimer): Effect.Effect<void> => {
    metrics.received.count++
    run.begin()
    const decoded = decode(message.data, message.contentType, message)
    if (decoded instanceof Codec.DecodeFailure) {
      metrics.failedAtOnce("DecodeError", run)
      return settled(onDecodeFailure(message, decoded.reason), message, decoded)
    }
    const handled = call(() => handler(decoded, message))
    if (Exit.isExit(handled)) {
      if (Exit.isSuccess(handled)) metrics.succeededAtOnce(run)
      else metrics.failedAtOnce(errorType(handled.cause), run)
      return settled(
        Exit.isSuccess(handled)
          ? afterSuccess(message, decoded, handled.value)
          : afterFailure(message, Option.some(decoded), handled.cause),
        message,
        handled
      )
    }
    // Timed on its own, from here (its run, started with it, ends).
    const start = run.end()
    return Effect.matchCauseEffect(handled, {
      onSuccess: (value) => {
        metrics.succeeded(1, secondsSince(start))
        return settled(afterSuccess(message, decoded, value), message, Exit.succeed(value))
      },
      onFailure: (cause) => {
        metrics.failed(errorType(cause), 1, secondsSince(start))
        return settled(afterFailure(message, Option.some(decoded), cause), message, Exit.failCause(cause))
      }
    })
  }

  const onReceived = observer?.onReceived
  /**
   * `dispatch` in the message's context. Without a tracer or an observer the
   * handler is called right away; with one, inside the span and after
   * `onReceived`.
   */
  const handle = (handler: DispatchConfig<A, M>["handler"]) => (message: M, run: RunTimer): Effect.Effect<void> => {
    if (!tracing && onReceived === undefined) {
      const effect = dispatch(handler, message, run)
      return effect === Effect.void ? effect : withMessage(effect, message, undefined)
    }
    const body = notify(Effect.void, onReceived, () => ({ subscriberId, message })).pipe(
      Effect.andThen(Effect.suspend(() => dispatch(handler, message, run)))
    )
    if (!tracing) return withMessage(body, message, undefined)
    return Effect.useSpan(`process ${template.template}`, spanOptions(message), (span) => withMessage(body, message, span))
  }

  const context: Context<A, M> = {
    subscriberId,
    name,
    template,
    metrics,
    observer,
    tracing,
    decode,
    settled,
    onDecodeFailure,
    logFailure,
    withMessage
  }

  return {
    subscriberId,
    metrics,
    handle,
    handleBatch: (handler) => Batch.handle(context, handler),
    afterFailure: (message, cause) =>
      afterFailure(message, Option.none(), cause).pipe(
        Effect.annotateLogs({ subject: message.subject, correlation_id: message.correlationId })
      )
  } satisfies Dispatcher<A, M> as Dispatcher<A, M>
})
