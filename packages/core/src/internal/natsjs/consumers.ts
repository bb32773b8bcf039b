/**
 * Ordered and durable consumers, read as Streams through nats.js's pull
 * consumer (`consume`). nats.js sends the next pull request only when the
 * reader reaches the message that crossed its refill threshold, so the client
 * holds at most about `bufferMessages` messages ahead of a slow reader, plus
 * what the loop that reads them into chunks holds (half as many again for an
 * ordered consumer, as many again for a durable one), and the server waits.
 */
import type {
  ConsumerConfig as ServerConsumerConfig,
  ConsumerInfo as ServerConsumerInfo,
  ConsumerMessages,
  JetStreamClient,
  JsMsg as NatsJsMsg
} from "@nats-io/jetstream"
import type { ApiPaged } from "@nats-io/jetstream/internal"
import { Array as Arr, Cause, Duration, Effect, Exit, Option, type Scope, Stream } from "effect"
import type {
  ConsumerConfig,
  ConsumerInfo,
  ConsumerPause,
  ConsumerSettings,
  DeliverPolicy,
  Driver,
  JsMsg,
  OrderedConsumerRequest,
  StoredMsg
} from "../../NatsClient.ts"
import type * as NatsError from "../../NatsError.ts"
import { ApiCodes, badRequest, type ErrorContext, fromApiError } from "../apiErrors.ts"
import { fromNanos, toNanos } from "../nanos.ts"
import { fromNatsJs } from "./errors.ts"
import { fromMsgHdrs } from "./headers.ts"
import type { JetStreamApi } from "./jsapi.ts"

type DeliverFields = Pick<ServerConsumerConfig, "deliver_policy" | "opt_start_seq" | "opt_start_time">

const deliverFields = (deliver: DeliverPolicy): DeliverFields => {
  if (typeof deliver === "string") return { deliver_policy: deliver }
  return "startSequence" in deliver
    ? { deliver_policy: "by_start_sequence", opt_start_seq: deliver.startSequence }
    : { deliver_policy: "by_start_time", opt_start_time: deliver.startTime.toISOString() }
}

/**
 * One filter goes as `filter_subject` (every server), several as
 * `filter_subjects` (the port has checked that the server is 2.10 or later).
 */
const filterFields = (
  filters: ReadonlyArray<string> | undefined
): { filter_subject?: string; filter_subjects?: Array<string> } =>
  filters === undefined || filters.length === 0
    ? {}
    : filters.length === 1
    ? { filter_subject: filters[0]! }
    : { filter_subjects: [...filters] }

/** A consumer's pull loop, stopped with the scope. */
const acquireMessages = (
  messages: Effect.Effect<ConsumerMessages, NatsError.NatsError>
): Effect.Effect<ConsumerMessages, NatsError.NatsError, Scope.Scope> =>
  // stop() ends a pending next() too, which iterator.return() would not.
  Effect.acquireRelease(messages, (iterator) => Effect.sync(() => iterator.stop()))

/**
 * A consumer's messages as a Stream of chunks. A plain loop reads the
 * iterator (everything nats.js has received, with no trip through the Effect
 * runtime per message) into an array of up to `buffer` messages, and waits
 * while it is full; a waiting reader is resumed at once with what is there,
 * so that a message reaches its handler in the same turn of the event loop,
 * and what arrived together is handled, and acknowledged in one socket
 * write, together.
 */
const chunkedMessages = <A>(
  iterator: AsyncIterable<NatsJsMsg>,
  buffer: number,
  context: ErrorContext,
  convert: (msg: NatsJsMsg) => A
): Stream.Stream<A, NatsError.NatsError> =>
  Stream.fromPull(Effect.sync(() => {
    let ready: Array<A> = []
    let ended: Exit.Exit<never, NatsError.NatsError | Cause.Done> | undefined
    let reader: ((exit: Exit.Exit<Arr.NonEmptyReadonlyArray<A>, NatsError.NatsError | Cause.Done>) => void) | undefined
    let resumeLoop: (() => void) | undefined
    const wake = () => {
      const resume = reader
      if (resume === undefined) return
      reader = undefined
      resume(take()!)
    }
    const take = () => {
      if (Arr.isReadonlyArrayNonEmpty(ready)) {
        const chunk = ready
        ready = []
        resumeLoop?.()
        resumeLoop = undefined
        return Exit.succeed(chunk)
      }
      return ended
    }
    const read = async () => {
      for await (const msg of iterator) {
        ready.push(convert(msg))
        wake()
        if (ready.length >= buffer) await new Promise<void>((resolve) => resumeLoop = resolve)
      }
    }
    read().then(
      () => Exit.fail(Cause.Done()),
      (cause) => Exit.fail(fromNatsJs(cause, context))
    ).then((exit) => {
      ended = exit
      wake()
    })
    return Effect.callback<Arr.NonEmptyReadonlyArray<A>, NatsError.NatsError | Cause.Done>((resume) => {
      const now = take()
      if (now !== undefined) return resume(now)
      reader = resume
      return Effect.sync(() => {
        reader = undefined
      })
    })
  }))

/**
 * The messages, with the first read started now: nats.js sends a consumer's
 * first pull only when its iterator is first read, and until then the server
 * holds back what the consumer has to deliver, which older servers (2.9.10)
 * skip on a rollup or purge of any subject the consumer matches.
 */
const readingNow = (messages: ConsumerMessages): AsyncIterable<NatsJsMsg> => {
  const iterator = messages[Symbol.asyncIterator]()
  let first: Promise<IteratorResult<NatsJsMsg>> | undefined = iterator.next()
  // Marked handled: a failure before the Stream is read reaches the reader, not the process.
  first.catch(() => {})
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        const started = first
        first = undefined
        return started ?? iterator.next()
      },
      return: (value?: unknown) => iterator.return?.(value) ?? Promise.resolve({ done: true, value: undefined })
    })
  }
}

const toStoredMsg = (stream: string, msg: NatsJsMsg): StoredMsg => {
  const info = msg.info
  return {
    stream,
    subject: msg.subject,
    seq: info.streamSequence,
    time: msg.time,
    data: msg.data,
    headers: fromMsgHdrs(msg.headers),
    pending: info.pending
  }
}

/** A delivered message with its acknowledgements as Effects, made on demand. */
class DeliveredMsg implements JsMsg {
  readonly stream: string
  readonly subject: string
  readonly seq: number
  readonly time: Date
  readonly data: Uint8Array
  readonly pending: number
  readonly consumer: string
  readonly deliveryCount: number
  readonly redelivered: boolean
  readonly #msg: NatsJsMsg
  readonly #termReason: boolean
  #headers: JsMsg["headers"] | null = null

  constructor(stream: string, consumer: string, msg: NatsJsMsg, termReason: boolean) {
    const info = msg.info
    this.stream = stream
    this.consumer = consumer
    this.subject = msg.subject
    this.seq = info.streamSequence
    this.time = msg.time
    this.data = msg.data
    this.pending = info.pending
    this.deliveryCount = info.deliveryCount
    this.redelivered = info.deliveryCount > 1
    this.#msg = msg
    this.#termReason = termReason
  }

  // Converted when read: most handlers never look at them.
  get headers(): JsMsg["headers"] {
    if (this.#headers === null) this.#headers = fromMsgHdrs(this.#msg.headers)
    return this.#headers
  }

  #settle(operation: string, send: (msg: NatsJsMsg) => void): Effect.Effect<void, NatsError.NatsError> {
    return Effect.try({
      try: () => send(this.#msg),
      catch: (cause) => fromNatsJs(cause, { operation, stream: this.stream, consumer: this.consumer })
    })
  }

  get ack() {
    return this.#settle("ack", (msg) => msg.ack())
  }

  get ackSync() {
    return Effect.tryPromise({
      try: () => this.#msg.ackAck(),
      catch: (cause) => fromNatsJs(cause, { operation: "ack", stream: this.stream, consumer: this.consumer })
    }).pipe(Effect.asVoid)
  }

  get working() {
    return this.#settle("working", (msg) => msg.working())
  }

  nak(delay?: Duration.Input) {
    return this.#settle("nak", (msg) => msg.nak(delay === undefined ? undefined : Duration.toMillis(delay)))
  }

  term(reason?: string) {
    // Servers before 2.11 do not read a reason after +TERM.
    return this.#settle("term", (msg) => msg.term(this.#termReason ? reason : undefined))
  }
}

/** The server's `deliver_policy` and its options as the port's `DeliverPolicy`. */
const toDeliverPolicy = (config: ServerConsumerConfig): DeliverPolicy => {
  switch (config.deliver_policy) {
    case "by_start_sequence":
      return { startSequence: config.opt_start_seq ?? 1 }
    case "by_start_time":
      return { startTime: new Date(config.opt_start_time ?? 0) }
    default:
      return config.deliver_policy as Exclude<DeliverPolicy, object>
  }
}

const toConsumerSettings = (name: string, config: ServerConsumerConfig): ConsumerSettings => ({
  name,
  filterSubjects: config.filter_subjects ?? (config.filter_subject ? [config.filter_subject] : []),
  deliver: toDeliverPolicy(config),
  ackPolicy: config.ack_policy as ConsumerSettings["ackPolicy"],
  ackWait: fromNanos(config.ack_wait),
  maxDeliver: config.max_deliver ?? -1,
  backoff: (config.backoff ?? []).map(fromNanos),
  maxAckPending: config.max_ack_pending ?? -1,
  description: config.description
})

/** The pause time when the server says it is paused (the configured time stays after it has passed). */
const pausedUntil = (paused: boolean | undefined, until: string | undefined): Date | undefined =>
  paused === true && until !== undefined ? new Date(until) : undefined

const toConsumerInfo = (info: ServerConsumerInfo): ConsumerInfo => ({
  stream: info.stream_name,
  name: info.name,
  config: toConsumerSettings(info.name, info.config),
  numPending: info.num_pending,
  numAckPending: info.num_ack_pending,
  numRedelivered: info.num_redelivered,
  delivered: { streamSeq: info.delivered.stream_seq, consumerSeq: info.delivered.consumer_seq },
  ackFloor: { streamSeq: info.ack_floor.stream_seq, consumerSeq: info.ack_floor.consumer_seq },
  paused: info.paused === true,
  pauseUntil: pausedUntil(info.paused, info.config.pause_until)
})

interface ServerPauseResponse {
  readonly paused: boolean
  readonly pause_until?: string
}

/** The `StreamNotFound` error when the context's stream no longer exists. */
const streamGone = (api: JetStreamApi, context: ErrorContext): Effect.Effect<NatsError.NatsError | undefined> =>
  api.request(`STREAM.INFO.${context.stream}`, undefined, context).pipe(
    Effect.match({
      onFailure: (error) => error.reason._tag === "StreamNotFound" ? error : undefined,
      onSuccess: () => undefined
    })
  )

/**
 * nats.js recreates an ordered consumer after a restart or a gap (so it
 * survives them), but also retries for ever once its stream is deleted. When
 * the consumer goes away, look at the stream: if it is gone too, end the
 * messages with `StreamNotFound`, as the in-memory server does. Runs in the
 * consumer's scope, so it ends with it.
 */
const stopWhenStreamIsGone = (
  api: JetStreamApi,
  messages: ConsumerMessages,
  context: ErrorContext
): Effect.Effect<void, never, Scope.Scope> =>
  Stream.fromAsyncIterable(messages.status(), (cause) => cause).pipe(
    Stream.filter((status) => status.type === "consumer_deleted" || status.type === "stream_not_found"),
    Stream.mapEffect(() => streamGone(api, context)),
    Stream.filter((gone) => gone !== undefined),
    Stream.runHead,
    Effect.flatMap(Option.match({
      onNone: () => Effect.void,
      onSome: (gone) => Effect.sync(() => messages.stop(gone))
    })),
    Effect.ignore,
    Effect.forkScoped,
    Effect.asVoid
  )

/**
 * nats.js 3.4 loses count of an ordered consumer's pulls in two ways, and the
 * reader then stalls until two heartbeats are missed (30 s or more):
 * - it recreates the consumer (after a reconnect to a restarted server, or
 *   after a gap) without forgetting the pulls it had sent to the old one, and
 *   asks the new one for `bufferMessages` minus those, often nothing;
 * - a pull answered with no responders (sent to a consumer that is gone, as
 *   pulls queued before a recreation are, or to a server whose JetStream is
 *   still starting, as nats-server 2.15 is for a moment after a restart) is
 *   still counted as pending.
 * The old consumer's pulls die with it, so forget them first; and after a
 * no-responders answer, check the consumer and pull again at once, as nats.js
 * itself does after the missed heartbeats.
 */
const keepPullsCounted = (messages: ConsumerMessages): ConsumerMessages => {
  const internals = messages as unknown as {
    reset?: () => void
    resetPending?: () => Promise<boolean>
    pending?: { msgs: number; bytes: number; requests: number }
  }
  const { pending, reset, resetPending } = internals
  if (typeof reset !== "function" || typeof resetPending !== "function" || typeof pending !== "object") return messages
  internals.reset = () => {
    Object.assign(pending, { msgs: 0, bytes: 0, requests: 0 })
    reset.call(messages)
  }
  ;(async () => {
    for await (const status of messages.status()) {
      if (status.type === "no_responders") resetPending.call(messages).catch(() => {})
    }
  })().catch(() => {})
  return messages
}

export const makeOrdered = (api: JetStreamApi, js: JetStreamClient): Driver["jetstream"]["ordered"] =>
(stream, request) =>
  Effect.gen(function*() {
    const context: ErrorContext = { operation: "ordered consumer", stream }
    const consumer = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => js.consumers.get(stream, orderedOptions(request)),
        catch: (cause) => fromNatsJs(cause, context)
      }),
      // Deleted at once rather than left to expire on the server.
      (consumer) => Effect.ignore(Effect.tryPromise(() => consumer.delete()))
    )
    const iterator = yield* acquireMessages(
      Effect.tryPromise({
        try: () => consumer.consume({ max_messages: request.bufferMessages }).then(keepPullsCounted),
        catch: (cause) => fromNatsJs(cause, context)
      })
    )
    yield* stopWhenStreamIsGone(api, iterator, context)
    const messages = readingNow(iterator)
    // The server delivers what the consumer found once it has taken the first
    // pull, not when it created the consumer: a write sent right after (a key
    // overwritten in a bucket keeping one value) reaches the stream first and
    // removes a message before it is delivered. Wait until the server has the
    // pull (it delivered, or it is waiting), so what the consumer delivers is
    // fixed when this returns, as on the in-memory server.
    const info = (cached: boolean) =>
      Effect.tryPromise({ try: () => consumer.info(cached), catch: (cause) => fromNatsJs(cause, context) })
    // The answer to the consumer's creation, kept by nats.js: nothing to deliver, nothing to lose.
    if ((yield* info(true)).num_pending > 0) {
      yield* Effect.repeat(info(false), { until: (now) => now.num_waiting > 0 || now.delivered.consumer_seq > 0 })
    }
    // Half the buffer here, half in nats.js: a slow reader still holds the
    // server back at about `bufferMessages`, and a fast one takes what has
    // arrived in one chunk instead of a trip through the runtime per message
    // (about 0.3 ms less CPU per MiB on an object get).
    return chunkedMessages(
      messages,
      Math.max(1, Math.ceil(request.bufferMessages / 2)),
      context,
      (msg) => toStoredMsg(stream, msg)
    )
  })

const orderedOptions = (request: OrderedConsumerRequest) => {
  const deliver = deliverFields(request.deliver)
  const filters = filterFields(request.filterSubjects)
  const filterSubjects = filters.filter_subject ?? filters.filter_subjects
  return {
    deliver_policy: deliver.deliver_policy,
    ...(deliver.opt_start_seq !== undefined ? { opt_start_seq: deliver.opt_start_seq } : {}),
    ...(deliver.opt_start_time !== undefined ? { opt_start_time: deliver.opt_start_time } : {}),
    ...(filterSubjects !== undefined ? { filter_subjects: filterSubjects } : {}),
    ...(request.headersOnly ? { headers_only: true } : {})
  }
}

/**
 * The server tells a durable's reader that its consumer is gone with a 409
 * status to the pending pull: say whether the consumer or its whole stream
 * was deleted, as the in-memory server does.
 */
const whatWasDeleted = (
  api: JetStreamApi,
  error: NatsError.NatsError,
  context: ErrorContext
): Effect.Effect<never, NatsError.NatsError> =>
  error.reason._tag === "JetStreamApiError" && error.reason.code === 409
    ? Effect.flatMap(streamGone(api, context), (gone) =>
      Effect.fail(gone ?? fromApiError(404, ApiCodes.ConsumerNotFound, "consumer not found", context)))
    : Effect.fail(error)

/** `$JS.API.CONSUMER.LIST.<stream>`'s answer (nats.js does not export its type). */
type ConsumerListResponse = ApiPaged & { readonly consumers?: ReadonlyArray<ServerConsumerInfo> }

export const makeConsumers = (api: JetStreamApi, js: JetStreamClient): Driver["jetstream"]["consumers"] => {
  const info = (stream: string, name: string, operation: string) =>
    api.request<ServerConsumerInfo>(`CONSUMER.INFO.${stream}.${name}`, undefined, {
      operation,
      stream,
      consumer: name
    })
  const termReason = api.serverAtLeast(2, 11, 0)

  return {
    add: (stream, config) =>
      // No `action`: the server creates the consumer or updates it.
      api.request<ServerConsumerInfo>(
        `CONSUMER.CREATE.${stream}.${config.name}`,
        { stream_name: stream, config: { ...toServerConsumerConfig(config), ...filterFields(config.filterSubjects) } },
        { operation: "consumer add", stream, consumer: config.name }
      ).pipe(Effect.map(toConsumerInfo)),
    info: (stream, name) => Effect.map(info(stream, name, "consumer info"), toConsumerInfo),
    // No `pause_until`: resume.
    pause: (stream, name, until) =>
      api.request<ServerPauseResponse>(
        `CONSUMER.PAUSE.${stream}.${name}`,
        until === undefined ? undefined : { pause_until: until.toISOString() },
        { operation: until === undefined ? "consumer resume" : "consumer pause", stream, consumer: name }
      ).pipe(
        Effect.map((answer): ConsumerPause => ({
          paused: answer.paused,
          pauseUntil: pausedUntil(answer.paused, answer.pause_until)
        }))
      ),
    list: (stream) => {
      const context = { operation: "consumer list", stream }
      // The server answers a page at a time (256 consumers).
      const page = (acc: Array<ConsumerInfo>): Effect.Effect<Array<ConsumerInfo>, NatsError.NatsError> =>
        Effect.flatMap(
          api.request<ConsumerListResponse>(`CONSUMER.LIST.${stream}`, { offset: acc.length }, context),
          (response) => {
            const consumers = response.consumers ?? []
            for (const consumer of consumers) acc.push(toConsumerInfo(consumer))
            return consumers.length === 0 || acc.length >= response.total ? Effect.succeed(acc) : page(acc)
          }
        )
      return page([])
    },
    delete: (stream, name) =>
      Effect.asVoid(
        api.request(`CONSUMER.DELETE.${stream}.${name}`, undefined, { operation: "consumer delete", stream, consumer: name })
      ),
    consume: (stream, name, bufferMessages) =>
      Stream.unwrap(Effect.gen(function*() {
        const context: ErrorContext = { operation: "consume", stream, consumer: name }
        const current = yield* info(stream, name, "consume")
        if (current.config.deliver_subject !== undefined) {
          return yield* Effect.fail(badRequest(context, `consumer '${name}' is a push consumer`))
        }
        const consumer = js.consumers.getConsumerFromInfo(current)
        const iterator = yield* acquireMessages(
          Effect.tryPromise({
            // End when the consumer or its stream is deleted, rather than
            // waiting for them to come back.
            try: () => consumer.consume({ max_messages: bufferMessages, abort_on_missing_resource: true }),
            catch: (cause) => fromNatsJs(cause, context)
          })
        )
        const messages = chunkedMessages(
          iterator,
          bufferMessages,
          context,
          (msg) => new DeliveredMsg(stream, name, msg, termReason)
        )
        return Stream.catch(messages, (error) => Stream.fromEffect(whatWasDeleted(api, error, context)))
      }))
  }
}

const toServerConsumerConfig = (config: ConsumerConfig): Partial<ServerConsumerConfig> => {
  const out: Partial<ServerConsumerConfig> = {
    name: config.name,
    durable_name: config.name,
    ack_policy: config.ackPolicy ?? "explicit",
    ...deliverFields(config.deliver ?? "all")
  }
  if (config.ackWait !== undefined) out.ack_wait = toNanos(config.ackWait)
  if (config.maxDeliver !== undefined) out.max_deliver = config.maxDeliver
  if (config.backoff !== undefined) out.backoff = config.backoff.map(toNanos)
  if (config.maxAckPending !== undefined) out.max_ack_pending = config.maxAckPending
  if (config.description !== undefined) out.description = config.description
  return out
}
