/**
 * JetStream subscribers: a durable (or ephemeral) pull consumer on a stream,
 * its messages handled by the per-message path of core subscribers
 * (`Dispatch.make`) and then settled by the ack policy.
 *
 * Pull-based: the consumer's `maxAckPending` defaults to the subscriber's
 * concurrency and the server delivers no more unacknowledged messages than
 * that (under a larger `maxAckPending`, the client pulls no more), so the
 * subscriber never holds messages it cannot start on (held messages would
 * run out their ack wait and be delivered twice).
 *
 * Per message: what nats.js received together comes as one chunk, idle
 * workers take it in the same turn of the event loop, a handler that is
 * done when it returns (an `Exit`) is settled without a fiber or timer of
 * its own (one keep-alive timer serves the subscriber), and the acks of a
 * chunk leave in one socket write.
 *
 * Batches (`batch`): a worker takes a first message, then more until it has
 * `size` or `timeout` has passed since the first, and hands their payloads
 * to the handler at once; each is then settled by the ack policy with the
 * batch's outcome. `maxAckPending` defaults to `concurrency` batches.
 *
 * Shutdown: stop pulling, let the handlers in flight finish within the
 * graceful timeout, nak what was pulled and not started (so that it is
 * redelivered at once), flush so that the acknowledgements reach the server
 * before the connection closes. Nothing finished is handled again; what was
 * not acknowledged is redelivered.
 */
import { Cause, Duration, Effect, Exit, Option, Queue, Semaphore } from "effect"
import type { ConsumerConfig, DeliverPolicy, JsMsg, StreamConfig, StreamConfigResolved } from "../../NatsClient.ts"
import { fromReason, InvalidConsumerConfig, InvalidSubject, type NatsError } from "../../NatsError.ts"
import type { JetStreamMessage, Message } from "../../NatsMessage.ts"
import { isSubsetMatch, subjectsCollide, subscribeProblem } from "../../NatsSubject.ts"
import * as Features from "../features.ts"
import * as Codec from "./codec.ts"
import * as Correlation from "./correlation.ts"
import * as Dispatch from "./dispatch.ts"
import * as Loop from "./loop.ts"
import * as Replies from "./replies.ts"
import * as Settlement from "./settlement.ts"
import type * as Subject from "./subject.ts"
import * as Subscriber from "./subscriber.ts"

/** FastStream's acknowledgement behaviours. */
export type AckPolicy = "ackFirst" | "ack" | "rejectOnError" | "nackOnError" | "manual"

/** A stream a subscriber is bound to, and whether to declare it. */
export interface StreamSpec {
  readonly name: string
  /** The configuration to create it with (its subjects joined by the subscribers'). */
  readonly config: Omit<StreamConfig, "name" | "subjects"> & { readonly subjects?: ReadonlyArray<string> | undefined }
  readonly declare: boolean
}

export interface JetStreamRuntime extends Dispatch.BrokerRuntime {
  /** Serializes the stream declarations of one broker's subscribers (a read then an update). */
  readonly declarations: Semaphore.Semaphore
}

/** How a subscriber hands messages to its handler: one by one, or in batches. */
export type Handling<A> =
  | { readonly _tag: "Each"; readonly handler: Dispatch.DispatchConfig<A, JetStreamMessage>["handler"] }
  | {
    readonly _tag: "Batch"
    readonly size: number
    /** The longest a batch waits to fill, from its first message. */
    readonly timeout: Duration.Duration
    readonly handler: Dispatch.BatchHandler<A, JetStreamMessage>
  }

export interface JetStreamSubscriberConfig<A> extends Omit<Dispatch.DispatchConfig<A, JetStreamMessage>, "handler"> {
  readonly handling: Handling<A>
  readonly stream: StreamSpec
  /** Durable name; without it an ephemeral consumer, deleted on shutdown. */
  readonly durable: string | undefined
  readonly concurrency: number
  readonly ackPolicy: AckPolicy
  readonly deliverPolicy: DeliverPolicy | undefined
  readonly ackWait: Duration.Duration | undefined
  readonly maxDeliver: number | undefined
  readonly backoff: ReadonlyArray<Duration.Duration> | undefined
  readonly maxAckPending: number | undefined
  readonly description: string | undefined
  /** The subjects the consumer filters on, each within the template; `undefined`: the template's. */
  readonly subjects: ReadonlyArray<string> | undefined
  /** Report progress while a handler runs. */
  readonly inProgress: boolean
  readonly deadLetter: string | undefined
}

/** The headers a dead letter carries besides the message's own. */
export const DeadLetterHeaders = {
  subject: "nats-effect-dead-letter-subject",
  stream: "nats-effect-dead-letter-stream",
  sequence: "nats-effect-dead-letter-sequence",
  deliveryCount: "nats-effect-dead-letter-delivery-count",
  errorTag: "nats-effect-dead-letter-error-tag",
  errorMessage: "nats-effect-dead-letter-error-message"
} as const

/** nats.js's default pull size. */
const defaultPullSize = 100

/** nats-server's default ack wait. */
const defaultAckWait = Duration.seconds(30)

/**
 * Checks the consumer options against the server's rules before anything is
 * created: a `backoff` needs `maxDeliver` above its length, and it replaces
 * the ack wait with its first entry (an `ackWait` that differs would be
 * silently ignored); filter subjects must be subjects, within the
 * subscriber's, and must not overlap (the server refuses that).
 */
export const checkConsumer = (config: {
  readonly stream: string
  readonly consumer: string
  readonly concurrency: number
  readonly ackWait: Duration.Duration | undefined
  readonly maxDeliver: number | undefined
  readonly backoff: ReadonlyArray<Duration.Duration> | undefined
  readonly maxAckPending: number | undefined
  readonly template: Subject.SubjectTemplate
  readonly subjects: ReadonlyArray<string> | undefined
}): NatsError | undefined => {
  const invalid = (message: string) =>
    fromReason(new InvalidConsumerConfig({ stream: config.stream, consumer: config.consumer, message }))
  const { ackWait, backoff, maxAckPending, maxDeliver, subjects, template } = config
  if (subjects !== undefined) {
    if (subjects.length === 0) return invalid("subjects, when given, must hold at least one subject")
    for (const [i, subject] of subjects.entries()) {
      const problem = subscribeProblem(subject)
      if (problem !== undefined) return fromReason(new InvalidSubject({ subject, message: problem }))
      if (!isSubsetMatch(subject, template.subject)) {
        return invalid(`the subject ${subject} is not within the subscriber's ${template.template}`)
      }
      const overlapping = subjects.slice(0, i).find((other) => subjectsCollide(other, subject))
      if (overlapping !== undefined) return invalid(`the subjects ${overlapping} and ${subject} overlap`)
    }
  }
  if (maxDeliver !== undefined && !(Number.isInteger(maxDeliver) && (maxDeliver >= 1 || maxDeliver === -1))) {
    return invalid(`maxDeliver must be a positive integer (or -1: unlimited), got ${maxDeliver}`)
  }
  if (maxAckPending !== undefined && !(Number.isInteger(maxAckPending) && maxAckPending >= 1)) {
    return invalid(`maxAckPending must be a positive integer, got ${maxAckPending}`)
  }
  if (backoff !== undefined && backoff.length > 0) {
    if (maxDeliver === undefined || maxDeliver === -1 || maxDeliver <= backoff.length) {
      return invalid(
        `a backoff of ${backoff.length} step(s) needs a maxDeliver greater than ${backoff.length}, ` +
          `got ${maxDeliver ?? "none"}`
      )
    }
    if (ackWait !== undefined && !Duration.equals(ackWait, backoff[0]!)) {
      return invalid(
        `with a backoff the server's ack wait is its first entry (${Duration.format(backoff[0]!)}), ` +
          `not the ackWait given (${Duration.format(ackWait)})`
      )
    }
  }
  return undefined
}

/** The settings given for a stream that differ from those it has: `maxMsgs 100, not 5`. */
const configConflicts = (given: StreamSpec["config"], existing: StreamConfigResolved): Array<string> => {
  const conflicts: Array<string> = []
  for (const key of Object.keys(given) as Array<keyof StreamSpec["config"]>) {
    const value = given[key]
    if (key === "subjects" || value === undefined) continue
    const current = existing[key]
    const same = Duration.isDuration(current)
      ? Duration.equals(current, Duration.fromInputUnsafe(value as Duration.Input))
      : JSON.stringify(current) === JSON.stringify(value)
    if (!same) conflicts.push(`${key} ${format(current)}, not ${format(value)}`)
  }
  return conflicts
}

const format = (value: unknown): string =>
  Duration.isDuration(value) ? Duration.format(value) : typeof value === "string" ? value : JSON.stringify(value)

/** `subjects` with those of `wanted` that none of them captures yet. */
const withSubjects = (subjects: ReadonlyArray<string>, wanted: ReadonlyArray<string>): ReadonlyArray<string> =>
  wanted.reduce(
    (all, subject) => all.some((own) => isSubsetMatch(subject, own)) ? all : [...all, subject],
    subjects
  )

/**
 * Makes sure the stream exists and captures `subjects`: creates it, or adds
 * those it lacks to its subjects (the union of every subscriber's; other
 * settings that differ are logged, the stream's own kept); with
 * `declare: false` only checks that it exists (`StreamNotFound`).
 */
export const declareStream = (
  runtime: JetStreamRuntime,
  spec: StreamSpec,
  subjects: ReadonlyArray<string>
): Effect.Effect<void, NatsError> => {
  const streams = runtime.client.jetstream.streams
  if (!spec.declare) return Effect.asVoid(streams.info(spec.name))
  const declared = Effect.gen(function*() {
    const existing = yield* streams.info(spec.name).pipe(
      Effect.map(Option.some),
      Effect.catchReason("NatsError", "StreamNotFound", () => Effect.succeedNone)
    )
    if (Option.isNone(existing)) {
      yield* streams.add({ ...spec.config, name: spec.name, subjects: withSubjects(spec.config.subjects ?? [], subjects) })
      return yield* Effect.logInfo(`declared the stream "${spec.name}"`)
    }
    const conflicts = configConflicts(spec.config, existing.value.config)
    if (conflicts.length > 0) {
      yield* Effect.logWarning(
        `the stream "${spec.name}" exists with another configuration (${conflicts.join(", ")}); its own is kept`
      )
    }
    const current = existing.value.config.subjects
    const updated = withSubjects(current, subjects)
    if (updated.length === current.length) return
    yield* streams.update({ name: spec.name, subjects: updated })
    yield* Effect.logInfo(`added ${updated.slice(current.length).join(", ")} to the subjects of the stream "${spec.name}"`)
  })
  return runtime.declarations.withPermits(1)(declared)
}

/**
 * A delivered message as its handler sees it. Its settlements are made when
 * read (most handlers read none) and mark it settled, which the ack policy
 * then leaves alone.
 */
class Delivery implements JetStreamMessage {
  readonly subject: string
  readonly params: Message["params"]
  readonly headers: Message["headers"]
  readonly reply: undefined
  readonly correlationId: string
  readonly data: Uint8Array
  readonly contentType: string | undefined
  readonly subscriber: string
  readonly stream: string
  readonly sequence: number
  readonly deliveryCount: number
  readonly redelivered: boolean
  readonly timestamp: Date
  /** The consumer's message, which the ack policy settles without marking it. */
  readonly source: JsMsg
  settled = false

  constructor(msg: JsMsg, template: Subject.SubjectTemplate, name: string) {
    // Without one of its own, the message's correlation id is its place in its stream: the same on every redelivery.
    const base = Subscriber.toMessage(
      { subject: msg.subject, data: msg.data, headers: msg.headers, reply: undefined },
      template,
      name,
      () => `${msg.stream}.${msg.seq}`
    )
    this.subject = base.subject
    this.params = base.params
    this.headers = base.headers
    this.reply = undefined
    this.correlationId = base.correlationId
    this.data = base.data
    this.contentType = base.contentType
    this.subscriber = base.subscriber
    this.stream = msg.stream
    this.sequence = msg.seq
    this.deliveryCount = msg.deliveryCount
    this.redelivered = msg.redelivered
    this.timestamp = msg.time
    this.source = msg
  }

  #settling(effect: Effect.Effect<void, NatsError>): Effect.Effect<void, NatsError> {
    return Effect.andThen(
      Effect.sync(() => {
        this.settled = true
      }),
      effect
    )
  }

  get ack() {
    return this.#settling(this.source.ack)
  }

  get ackSync() {
    return this.#settling(this.source.ackSync)
  }

  get nak() {
    return (delay?: Duration.Input) => this.#settling(this.source.nak(delay))
  }

  get term() {
    return (reason?: string) => this.#settling(this.source.term(reason))
  }

  get inProgress() {
    return this.source.working
  }
}

/**
 * Headers the original publisher meant for the stream that stored the
 * message (expectations, de-duplication id, rollup), not for the copy in
 * the dead letters.
 */
const isPublishDirective = (key: string): boolean => {
  const lower = key.toLowerCase()
  return lower.startsWith("nats-expected-") || lower === "nats-msg-id" || lower === "nats-rollup"
}

/** Header values are one line each. */
const headerValue = (text: string): string => text.replace(/[\r\n]+/g, " ")

let ephemeralIds = 0

/**
 * Takes a first message, then more as they come until there are `size` or
 * `timeout` has passed since the first (or the buffer has ended), kept alive
 * (in `running`) while it fills, and counted in `filling` (messages that
 * wait for the clock, not for anything to be done with them). Interrupted
 * (on shutdown) while filling, it naks what it took, to be redelivered at once.
 */
const takeBatch = (
  buffer: Queue.Dequeue<JsMsg, Cause.Done>,
  size: number,
  timeout: Duration.Duration,
  running: Set<ReadonlyArray<JsMsg | Delivery>>,
  filling: { count: number }
): Effect.Effect<ReadonlyArray<JsMsg>, Cause.Done> =>
  Effect.flatMap(Queue.takeBetween(buffer, 1, size), (first) => {
    const batch = [...first]
    if (batch.length >= size) return Effect.succeed(batch)
    running.add(batch)
    filling.count += batch.length
    const fill: Effect.Effect<void> = Effect.whileLoop({
      while: () => batch.length < size,
      body: () => Queue.takeBetween(buffer, 1, size - batch.length),
      step: (more) => {
        batch.push(...more)
        filling.count += more.length
      }
    }).pipe(Effect.catchCause(() => Effect.void)) // the buffer ended: the batch is what there is
    return Effect.timeoutOption(fill, timeout).pipe(
      Effect.as(batch),
      Effect.ensuring(Effect.sync(() => {
        running.delete(batch)
        filling.count -= batch.length
      })),
      Effect.onInterrupt(() => Effect.forEach(batch, (msg) => Effect.ignore(msg.nak()), { discard: true }))
    )
  })

/**
 * Declares the stream, creates (or updates) the consumer, starts pulling and
 * the workers; returns once the subscriber is live. Released with the
 * current scope, gracefully.
 */
export const run = Effect.fnUntraced(function*<A>(runtime: JetStreamRuntime, config: JetStreamSubscriberConfig<A>) {
  const { client } = runtime
  const { ackPolicy, concurrency, deadLetter, handling, name, stream, template } = config
  const batchSize = handling._tag === "Batch" ? handling.size : 1
  const consumer = config.durable ?? `${Correlation.next().replace(/[^A-Za-z0-9_-]/g, "_")}_${++ephemeralIds}`
  const filterSubjects = config.subjects ?? [template.subject]
  const invalid = checkConsumer({ ...config, stream: stream.name, consumer }) ??
    // Refused before the stream is declared with them.
    (filterSubjects.length > 1
      ? Features.unsupported(client.server.version, Features.severalFilterSubjects, {
        operation: "consumer add",
        stream: stream.name,
        consumer
      })
      : undefined)
  if (invalid !== undefined) return yield* Effect.fail(invalid)

  yield* declareStream(runtime, stream, filterSubjects)
  const consumerConfig: ConsumerConfig = {
    name: consumer,
    filterSubjects,
    deliver: config.deliverPolicy,
    ackPolicy: "explicit",
    ackWait: config.ackWait,
    maxDeliver: config.maxDeliver,
    backoff: config.backoff,
    maxAckPending: config.maxAckPending ?? concurrency * batchSize,
    description: config.description
  }
  if (config.durable === undefined) {
    yield* Effect.acquireRelease(
      client.jetstream.consumers.add(stream.name, consumerConfig),
      () => Effect.ignore(client.jetstream.consumers.delete(stream.name, consumer))
    )
  } else {
    yield* client.jetstream.consumers.add(stream.name, consumerConfig)
  }

  // The server holds deliveries at maxAckPending: when that is the subscriber's own bound, pulls
  // of nats.js's default size only save requests; under a larger one, the pulls are the bound.
  const bufferMessages = config.maxAckPending === undefined
    ? Math.max(consumerConfig.maxAckPending!, defaultPullSize)
    : concurrency * batchSize
  const source = yield* Loop.open({
    open: Effect.succeed(client.jetstream.consumers.consume(stream.name, consumer, { bufferMessages })),
    ended: `the consumer "${consumer}" of the stream "${stream.name}" ended`
  })

  const maxDeliver = config.maxDeliver ?? -1
  const backoff = config.backoff ?? []
  // Progress is reported well within the shortest ack wait the server may apply.
  const effectiveAckWait = backoff.length > 0 ? backoff.reduce((a, b) => Duration.min(a, b)) : config.ackWait ?? defaultAckWait
  const progressInterval = Duration.divideUnsafe(effectiveAckWait, 3)

  const settlement = (what: string, effect: Effect.Effect<void, NatsError>): Effect.Effect<void> =>
    Effect.catchCause(effect, (cause) => Effect.logWarning(`could not ${what} the message`, cause))

  const publishDeadLetter = (message: JetStreamMessage, subject: string, cause: Cause.Cause<unknown>) => {
    const { tag, text } = Replies.errorReply(cause, message.correlationId)
    const headers: Record<string, string | ReadonlyArray<string>> = {}
    for (const key in message.headers) {
      if (!isPublishDirective(key)) headers[key] = message.headers[key]!
    }
    Object.assign(headers, {
      [DeadLetterHeaders.subject]: message.subject,
      [DeadLetterHeaders.stream]: message.stream,
      [DeadLetterHeaders.sequence]: String(message.sequence),
      [DeadLetterHeaders.deliveryCount]: String(message.deliveryCount),
      [DeadLetterHeaders.errorTag]: headerValue(tag),
      [DeadLetterHeaders.errorMessage]: headerValue(text)
    })
    // Stored when a stream captures the dead-letter subject, else published on core NATS.
    return Effect.flatMap(deadLetterStored, (stored) =>
      stored
        ? Effect.asVoid(client.jetstream.publish(subject, message.data, { headers }))
        : client.publish(subject, message.data, { headers }))
  }
  // Whether a stream captures the dead-letter subject, asked again at most every minute: streams
  // change rarely, dead letters may come in bursts.
  const deadLetterStored = deadLetter === undefined
    ? Effect.succeed(false)
    : yield* Effect.cachedWithTTL(
      Effect.map(client.jetstream.streams.list({ subject: deadLetter }), (streams) => streams.length > 0),
      "1 minute"
    )

  /** Not to be retried: dead letter (when set), then term. */
  const giveUp = (
    message: JetStreamMessage,
    cause: Cause.Cause<unknown>,
    why: string,
    toDeadLetter: boolean
  ): Effect.Effect<void> => {
    const after = `after ${message.deliveryCount} deliver${message.deliveryCount === 1 ? "y" : "ies"}`
    const reported = !toDeadLetter || deadLetter === undefined
      ? Effect.logWarning(`gave up on the message ${after}; terminated it`)
      : publishDeadLetter(message, deadLetter, cause).pipe(
        Effect.andThen(Effect.logWarning(`gave up on the message ${after}; sent it to ${deadLetter}`)),
        Effect.catchCause((error) =>
          Effect.logError(`could not send the message to the dead-letter subject ${deadLetter}`, error)
        )
      )
    deadLettered.count++
    return Effect.andThen(reported, settlement("terminate", message.term(why)))
  }

  const policy: Settlement.Policy = {
    ackPolicy,
    maxDeliver,
    backoff: backoff.length > 0,
    deadLetter: deadLetter !== undefined
  }

  /** Carries out what the settlement policy decides for the message, given how its handling ended. */
  const settle = (message: Delivery, outcome: Dispatch.Outcome): Effect.Effect<void> => {
    const ending: Settlement.Ending = outcome instanceof Codec.DecodeFailure
      ? "undecodable"
      : Exit.isSuccess(outcome)
      ? "succeeded"
      : Cause.hasInterruptsOnly(outcome.cause)
      ? "interrupted"
      : "failed"
    const action = Settlement.decide(ending, message.deliveryCount, message.settled, policy)
    switch (action._tag) {
      case "Leave":
        return Effect.void
      case "Ack":
        return settlement("ack", message.source.ack)
      // With a backoff, the server redelivers an unacknowledged message after the entry for its
      // delivery count (a nak's own delay would be added to that timer): the ack-wait timer
      // restarts now, so the entry counts from the failure.
      case "Retry":
        return action.after === "now"
          ? settlement("nak", message.nak())
          : settlement("restart the ack wait of", message.inProgress)
      case "GiveUp":
        return outcome instanceof Codec.DecodeFailure
          ? giveUp(
            message,
            Cause.fail({ _tag: "DecodeError", message: outcome.reason }),
            `the payload could not be decoded: ${outcome.reason}`,
            action.deadLetter
          )
          : giveUp(message, Exit.isFailure(outcome) ? outcome.cause : Cause.empty, "the handler failed", action.deadLetter)
    }
  }

  // The messages whose handler is running (or whose batch is filling), kept alive by one timer for
  // the subscriber rather than one per message: each gets its first progress report within an
  // interval of its start.
  const running = new Set<ReadonlyArray<JsMsg | Delivery>>()
  const keepAlive = Effect.forever(Effect.andThen(
    Effect.sleep(progressInterval),
    Effect.suspend(() =>
      Effect.forEach(
        Array.from(running).flat(),
        (message) => Effect.ignore(message instanceof Delivery ? message.inProgress : message.working),
        { discard: true }
      )
    )
  ))

  /**
   * The handler of `messages`: acked first under `ackFirst`, else kept alive
   * while it runs. A handler already done (it returned an `Exit`) is left
   * as it is, for the dispatcher's fast path.
   */
  const guarded = (
    messages: ReadonlyArray<Delivery>,
    handled: Effect.Effect<unknown, unknown, unknown>
  ): Effect.Effect<unknown, unknown, unknown> => {
    if (ackPolicy === "ackFirst") {
      return Effect.andThen(Effect.forEach(messages, (message) => settlement("ack", message.ack), { discard: true }), handled)
    }
    if (!config.inProgress || Exit.isExit(handled)) return handled
    return Effect.suspend(() => {
      running.add(messages)
      return Effect.ensuring(handled, Effect.sync(() => running.delete(messages)))
    })
  }

  // Of the messages pulled and not finished with, those in a batch still filling, which wait for its timeout.
  const filling = { count: 0 }
  const dispatcher = yield* Dispatch.make<A, Delivery>(
    runtime,
    { ...config, settle, consumerGroup: config.durable },
    (config.subjects === undefined ? "" : `for ${config.subjects.join(", ")} `) +
      `on the stream "${stream.name}" as consumer "${consumer}"` +
      (handling._tag === "Batch" ? ` in batches of up to ${handling.size}` : ""),
    {
      source: { _tag: "Consumer", stream: stream.name, consumer },
      inFlight: source.inFlight,
      waitingForClock: () => filling.count
    }
  )
  // Read by `giveUp`, which runs only once messages are handled.
  const deadLettered = dispatcher.metrics.deadLettered()
  if (config.inProgress && ackPolicy !== "ackFirst") yield* Effect.forkScoped(keepAlive)
  const toMessage = (msg: JsMsg) => new Delivery(msg, template, name)
  const workers = {
    name,
    concurrency,
    gracefulTimeout: runtime.gracefulTimeout,
    // Pulled and never started: redelivered at once (to another process, or the next run)
    // rather than after their ack wait.
    leftovers: (left: ReadonlyArray<JsMsg>) => Effect.forEach(left, (msg) => Effect.ignore(msg.nak()), { discard: true }),
    // The acknowledgements of finished handlers reach the server before the connection closes.
    afterStop: Effect.ignore(client.flush)
  }
  if (handling._tag === "Each") {
    yield* source.start({
      ...workers,
      take: (buffer) => Effect.map(Queue.take(buffer), (msg) => [toMessage(msg)]),
      handle: dispatcher.handle((payload, message) => guarded([message], handling.handler(payload, message))),
      // Left unacknowledged: the server redelivers them.
      onAbandoned: (message) => Effect.logWarning(`interrupted the handler of message ${message.sequence}`)
    })
  } else {
    const filled = config.inProgress ? running : new Set<ReadonlyArray<JsMsg | Delivery>>()
    yield* source.start({
      ...workers,
      take: (buffer) =>
        Effect.map(takeBatch(buffer, handling.size, handling.timeout, filled, filling), (batch) => [batch.map(toMessage)]),
      size: (messages) => messages.length,
      handle: dispatcher.handleBatch((payloads, messages) => guarded(messages, handling.handler(payloads, messages))),
      onAbandoned: (messages) =>
        Effect.logWarning(`interrupted the handler of messages ${messages.map((message) => message.sequence).join(", ")}`)
    })
  }
})
