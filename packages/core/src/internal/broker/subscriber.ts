/**
 * The per-message path of a subscriber (the dispatcher), and core
 * subscribers on the run loop (`loop.ts`).
 *
 * A core subscriber's source is the port's subscription. Messages are
 * admitted within its pending limits (messages and bytes taken and not yet
 * handled), and the others dropped: core NATS cannot be pushed back, so an
 * unbounded buffer would grow with any burst a slow handler cannot keep up
 * with.
 */
import { Cause, Context, Duration, Effect, Exit, Option, Predicate, Queue, References, Result, Scope, Tracer } from "effect"
import type { Headers, Msg, NatsClient } from "../../NatsClient.ts"
import * as NatsHeaders from "../../NatsHeaders.ts"
import * as NatsTracing from "../../NatsTracing.ts"
import type { Message } from "../../NatsMessage.ts"
import { NatsMessage } from "../../NatsMessage.ts"
import * as Codec from "./codec.ts"
import * as Correlation from "./correlation.ts"
import { endRun, secondsSince, startRun, SubscriberMetrics } from "./metrics.ts"
import type { Observer, SubscriberSource } from "./observer.ts"
import * as Loop from "./loop.ts"
import * as Subject from "./subject.ts"
import * as Throttle from "./throttle.ts"

/** What a subscriber needs from its broker. */
export interface BrokerRuntime {
  readonly client: NatsClient["Service"]
  readonly gracefulTimeout: Duration.Duration
  readonly logInterval: Duration.Duration
  readonly observer: Observer | undefined
}

export interface PendingLimits {
  readonly messages: number
  readonly bytes: number
}

/** nats.go's defaults for a subscription's pending buffer. */
export const defaultPendingLimits: PendingLimits = { messages: 65536, bytes: 64 * 1024 * 1024 }

/** What a subscriber does with a message, whatever it comes from (core NATS or a JetStream consumer). */
export interface DispatchConfig<A, M extends Message = Message> {
  readonly name: string
  readonly template: Subject.SubjectTemplate
  readonly queue: string | undefined
  /** The metrics' `messaging.consumer.group.name`: the queue group (by default) or the durable consumer. */
  readonly consumerGroup?: string | undefined
  /** The payload from the body; a watcher's decoding also reads its message (a delete has no value). */
  readonly decode: (data: Uint8Array, contentType: string | undefined, message: M) => A | Codec.DecodeFailure
  readonly encodeReply: Codec.Encoder
  readonly handler: (payload: A, message: M) => Effect.Effect<unknown, unknown, unknown>
  /**
   * Runs after the reply and the logging, with the outcome: the handler's
   * exit, or why the payload could not be decoded (JetStream acknowledgement).
   */
  readonly settle?: ((message: M, outcome: Outcome) => Effect.Effect<void>) | undefined
}

/** How a message's handling ended: the handler's exit, or the payload did not decode. */
export type Outcome = Exit.Exit<unknown, unknown> | Codec.DecodeFailure

export interface SubscriberConfig<A> extends DispatchConfig<A> {
  readonly concurrency: number
  readonly pendingLimits: PendingLimits
}

const noHeaders: Headers = Object.freeze({})

/** Payloads that cannot be decoded logged in full after a quiet interval; the rest are counted. */
const decodeFailuresLoggedInFull = 5

// Identifies each subscriber in the events it reports to an observer.
let subscriberIds = 0

/**
 * What an error reply tells the requester about a failure cause: a typed
 * failure's tag and message; for a defect only `internal error` and the
 * correlation id, since its text is the responder's internals (a connection
 * string, a stack) and stays in the responder's log.
 */
export const errorReply = (cause: Cause.Cause<unknown>, correlationId: string): { tag: string; text: string } => {
  if (Cause.hasInterruptsOnly(cause)) return { tag: "Interrupted", text: "the handler was interrupted" }
  const error = Cause.findErrorOption(cause)
  if (Option.isNone(error)) return { tag: "Defect", text: `internal error (correlation id ${correlationId})` }
  const value: unknown = error.value
  const tag = Predicate.hasProperty(value, "_tag") && typeof value._tag === "string" ? value._tag : "Error"
  return { tag, text: Predicate.hasProperty(value, "message") ? String(value.message) : String(value) }
}

/**
 * The one line a subscriber logs once it is live: the subject it listens on,
 * its queue group and, unless it is that subject, its name (which defaults to
 * the declared subject, `{param}`s included).
 */
const liveLine = (name: string, template: Subject.SubjectTemplate, where: string | undefined): string =>
  `listening on ${template.subject}` +
  (where === undefined ? "" : ` ${where}`) +
  (name === template.subject ? "" : ` as "${name}"`)

/** Headers of an error reply: the error's tag, and the request's correlation id. */
export const errorReplyHeaders = (tag: string, correlationId: string) => ({
  [Codec.ErrorHeader]: tag,
  [Codec.ContentTypeHeader]: Codec.ContentTypeText,
  [Codec.CorrelationIdHeader]: correlationId
})

/** Parses a W3C `traceparent` header into a parent span. */
export const parseTraceparent = (value: string | undefined): Tracer.ExternalSpan | undefined => {
  if (value === undefined) return undefined
  const parts = value.split("-")
  if (parts.length < 4 || parts[1]!.length !== 32 || parts[2]!.length !== 16) return undefined
  return Tracer.externalSpan({ traceId: parts[1]!, spanId: parts[2]!, sampled: (parseInt(parts[3]!, 16) & 1) === 1 })
}

/** Builds a core message's fields as a handler sees them. */
export const toMessage = (msg: Msg, template: Subject.SubjectTemplate, name: string): Message => {
  const headers = msg.headers ?? noHeaders
  return {
    subject: msg.subject,
    params: Subject.extract(template, msg.subject),
    headers,
    reply: msg.reply,
    correlationId: (msg.headers === undefined ? undefined : NatsHeaders.get(headers, Codec.CorrelationIdHeader))
      ?? Correlation.next(),
    data: msg.data,
    contentType: msg.headers === undefined ? undefined : NatsHeaders.get(headers, Codec.ContentTypeHeader),
    subscriber: name
  }
}

/** A batch subscriber's handler: the decoded payloads of a batch, and their messages (same order). */
export type BatchHandler<A, M extends Message> = (
  payloads: ReadonlyArray<A>,
  messages: ReadonlyArray<M>
) => Effect.Effect<unknown, unknown, unknown>

export interface Dispatcher<A, M extends Message> {
  readonly subscriberId: number
  /** The subscriber's series: what it received, handled, failed and how long it took. */
  readonly metrics: SubscriberMetrics
  /**
   * Decode, `handler`, reply, settle, in the message's context; `Effect.void`
   * when all of it is already done.
   */
  readonly handle: (handler: DispatchConfig<A, M>["handler"]) => (message: M) => Effect.Effect<void>
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
 * The per-message path shared by core and JetStream subscribers: decoding
 * (throttled warnings for what does not decode), the handler in the
 * message's context (log annotations, span, `NatsMessage`), the reply or
 * error reply, the observer's events, then `settle`. Reports the subscriber
 * live (`listening on ...`, `where` its queue group or consumer).
 */
export const makeDispatcher = Effect.fnUntraced(function*<A, M extends Message>(
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

  const reply = (subject: string, encoded: Codec.Encoded, correlationId: string, message: Message) => {
    const headers: Record<string, string> = { [Codec.CorrelationIdHeader]: correlationId }
    if (encoded.contentType !== undefined) headers[Codec.ContentTypeHeader] = encoded.contentType
    const published = client.publish(subject, encoded.data, { headers })
    return observer?.onPublished === undefined ? published : published.pipe(
      Effect.andThen(observer.onPublished({
        kind: "reply",
        subject,
        payload: undefined,
        data: encoded.data,
        headers: NatsHeaders.fromInput(headers),
        correlationId,
        reply: undefined,
        parent: message
      }))
    )
  }

  const replyError = (message: Message, tag: string, text: string): Effect.Effect<void> => {
    if (message.reply === undefined) return Effect.void
    const headers = errorReplyHeaders(tag, message.correlationId)
    const data = Codec.fromUtf8(text)
    const published = client.publish(message.reply, data, { headers })
    return (observer?.onPublished === undefined ? published : published.pipe(
      Effect.andThen(observer.onPublished({
        kind: "reply",
        subject: message.reply,
        payload: undefined,
        data,
        headers: NatsHeaders.fromInput(headers),
        correlationId: message.correlationId,
        reply: undefined,
        parent: message
      }))
    )).pipe(
      Effect.catchCause((cause) => Effect.logError("could not send the error reply", cause))
    )
  }

  const afterSuccess = (message: Message, payload: A, value: unknown): Effect.Effect<void> => {
    let effect: Effect.Effect<void> = Effect.void
    if (message.reply !== undefined) {
      // A handler that returns nothing answers with an empty message, whatever its response Schema.
      const encoded = value === undefined ? Codec.encodeValue(undefined) : encodeReply(value)
      effect = Result.isSuccess(encoded)
        ? reply(message.reply, encoded.success, message.correlationId, message).pipe(
          Effect.catchCause((cause) => Effect.logError("could not send the reply", cause))
        )
        : Effect.logError(`the reply could not be encoded: ${encoded.failure}`).pipe(
          Effect.andThen(replyError(message, "EncodeError", `the reply could not be encoded: ${encoded.failure}`))
        )
    }
    return observer?.onHandled === undefined
      ? effect
      : effect.pipe(Effect.andThen(
        observer.onHandled({ subscriberId, message, payload: Option.some(payload), exit: Exit.succeed(value) })
      ))
  }

  // A typed failure is the handler's expected outcome: one line with its tag
  // and message. A defect is a bug: its cause, with the stack.
  const logFailure = (cause: Cause.Cause<unknown>, tag: string, text: string): Effect.Effect<void> =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.logWarning("handler interrupted")
      : Cause.hasDies(cause)
      ? Effect.logError("handler failed", cause)
      : Effect.logWarning(`handler failed with ${tag}: ${text}`)

  const afterFailure = (message: Message, payload: Option.Option<A>, cause: Cause.Cause<unknown>): Effect.Effect<void> => {
    const { tag, text } = errorReply(cause, message.correlationId)
    const effect = logFailure(cause, tag, text).pipe(Effect.andThen(replyError(message, tag, text)))
    return observer?.onHandled === undefined
      ? effect
      : effect.pipe(Effect.andThen(observer.onHandled({ subscriberId, message, payload, exit: Exit.failCause(cause) })))
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
    const effect = decodeFailures.admit()
      ? Effect.logWarning(`dropped a message that could not be decoded: ${reason}`).pipe(
        Effect.andThen(replyError(message, "DecodeError", reason))
      )
      : replyError(message, "DecodeError", reason)
    return observer?.onHandled === undefined ? effect : effect.pipe(
      Effect.andThen(observer.onHandled({
        subscriberId,
        message,
        payload: Option.none(),
        exit: Exit.fail({ _tag: "DecodeError", message: reason })
      }))
    )
  }

  // Spans cost more than the rest of the per-message path together: the
  // consumer span is made when a tracer that records them is installed
  // (`OtlpTracer.layer`, `NodeSdk`, ...), not for Effect's built-in one.
  const tracing = yield* NatsTracing.isRecording
  const baseAnnotations = yield* References.CurrentLogAnnotations

  /** The handler's context for one message: the message, the log annotations and, when tracing, the span. */
  const withMessage = (
    effect: Effect.Effect<void>,
    message: Message,
    span: Tracer.Span | undefined
  ): Effect.Effect<void> =>
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
      : parseTraceparent(NatsHeaders.get(message.headers, Codec.TraceparentHeader))
    return parent === undefined ? { kind: "consumer", attributes, root: true } : { kind: "consumer", attributes, parent }
  }

  const settled = (effect: Effect.Effect<void>, message: Message, outcome: Outcome): Effect.Effect<void> =>
    settle === undefined ? effect : Effect.andThen(effect, settle(message as M, outcome))

  /** The tag a failure is counted under (`error.type`). */
  const errorType = (cause: Cause.Cause<unknown>): string => errorReply(cause, "").tag

  /**
   * Decode, handler, reply, settle: what to run for one message. A handler
   * that did its work before returning (`Effect.void`, `Effect.succeed(x)`...)
   * is not run again: only its follow-up is, `Effect.void` when there is
   * nothing to do (no reply, no observer, no settling).
   */
  const dispatch = (handler: DispatchConfig<A, M>["handler"], message: M): Effect.Effect<void> => {
    metrics.received.count++
    startRun()
    const decoded = decode(message.data, message.contentType, message)
    if (decoded instanceof Codec.DecodeFailure) {
      metrics.failedAtOnce("DecodeError")
      return settled(onDecodeFailure(message, decoded.reason), message, decoded)
    }
    const handled = call(() => handler(decoded, message))
    if (Exit.isExit(handled)) {
      if (Exit.isSuccess(handled)) metrics.succeededAtOnce()
      else metrics.failedAtOnce(errorType(handled.cause))
      return settled(
        Exit.isSuccess(handled)
          ? afterSuccess(message, decoded, handled.value)
          : afterFailure(message, Option.some(decoded), handled.cause),
        message,
        handled
      )
    }
    // Timed on its own, from here (its run, started with it, ends).
    const start = endRun()
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

  /**
   * `dispatch` in the message's context. Without a tracer or an observer the
   * handler is called right away; with one, inside the span and after
   * `onReceived`.
   */
  const handle = (handler: DispatchConfig<A, M>["handler"]) => (message: M): Effect.Effect<void> => {
    if (!tracing && observer?.onReceived === undefined) {
      const effect = dispatch(handler, message)
      return effect === Effect.void ? effect : withMessage(effect, message, undefined)
    }
    let effect = Effect.suspend(() => dispatch(handler, message))
    if (observer?.onReceived !== undefined) effect = Effect.andThen(observer.onReceived({ subscriberId, message }), effect)
    if (!tracing) return withMessage(effect, message, undefined)
    const body = effect
    return Effect.useSpan(`process ${template.template}`, spanOptions(message), (span) => withMessage(body, message, span))
  }

  /**
   * A batch in one context: the subscriber's log annotations and the batch
   * size (its messages' subjects and correlation ids differ), no
   * `NatsMessage`, and when tracing one consumer span for the batch.
   */
  const dispatchBatch = (handler: BatchHandler<A, M>, messages: ReadonlyArray<M>): Effect.Effect<void> => {
    metrics.received.count += messages.length
    const start = performance.now()
    const payloads: Array<A> = []
    const decodedMessages: Array<M> = []
    const undecodable: Array<Effect.Effect<void>> = []
    for (const message of messages) {
      const decoded = decode(message.data, message.contentType, message)
      if (decoded instanceof Codec.DecodeFailure) {
        metrics.failed("DecodeError", 1, secondsSince(start))
        undecodable.push(settled(withMessage(onDecodeFailure(message, decoded.reason), message, undefined), message, decoded))
      } else {
        payloads.push(decoded)
        decodedMessages.push(message)
      }
    }
    const rejected = Effect.all(undecodable, { discard: true })
    if (payloads.length === 0) return rejected
    const settleAll = (exit: Exit.Exit<unknown, unknown>) =>
      Effect.forEach(decodedMessages, (message, i) => {
        const observed = observer?.onHandled === undefined
          ? Effect.void
          : observer.onHandled({ subscriberId, message, payload: Option.some(payloads[i]!), exit })
        return settled(observed, message, exit)
      }, { discard: true })
    // One handling of the batch: one duration, its messages counted.
    const body = Effect.matchCauseEffect(call(() => handler(payloads, decodedMessages)), {
      onSuccess: (value) => {
        metrics.succeeded(payloads.length, secondsSince(start))
        return settleAll(Exit.succeed(value))
      },
      onFailure: (cause) => {
        const { tag, text } = errorReply(cause, decodedMessages[0]!.correlationId)
        metrics.failed(tag, payloads.length, secondsSince(start))
        return Effect.andThen(logFailure(cause, tag, text), settleAll(Exit.failCause(cause)))
      }
    }).pipe(
      Effect.annotateLogs({ subscriber: name, batch_size: payloads.length })
    )
    const received = observer?.onReceived === undefined
      ? body
      : Effect.andThen(Effect.forEach(decodedMessages, (message) => observer.onReceived!({ subscriberId, message })), body)
    const traced = !tracing ? received : Effect.withSpan(received, `process ${template.template}`, {
      kind: "consumer",
      root: true,
      attributes: {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.template": template.template,
        "messaging.batch.message_count": payloads.length
      }
    })
    return Effect.andThen(rejected, traced)
  }

  return {
    subscriberId,
    metrics,
    handle,
    handleBatch: (handler) => (messages) => dispatchBatch(handler, messages),
    afterFailure: (message, cause) =>
      afterFailure(message, Option.none(), cause).pipe(
        Effect.annotateLogs({ subject: message.subject, correlation_id: message.correlationId })
      )
  } satisfies Dispatcher<A, M> as Dispatcher<A, M>
})

/** Calls a handler; one that throws instead of returning an Effect fails like one that dies. */
const call = (handler: () => Effect.Effect<unknown, unknown, unknown>): Effect.Effect<unknown, unknown> => {
  try {
    return handler() as Effect.Effect<unknown, unknown>
  } catch (defect) {
    return Exit.die(defect)
  }
}

/**
 * Subscribes and starts the workers; returns once the subscription is live.
 * Everything is released with the current scope, gracefully.
 */
export const run = Effect.fnUntraced(function*<A>(runtime: BrokerRuntime, config: SubscriberConfig<A>) {
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
  const dispatcher = yield* makeDispatcher(
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
