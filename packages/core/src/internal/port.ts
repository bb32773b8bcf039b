/**
 * `NatsClient.make`: the port's rules around a driver. Everything both
 * adapters must agree on lives here, once: the subject and name grammar, the
 * server's `max_payload` and `max_control_line`, header encoding, the
 * JetStream publish headers, argument checks and defaults. A driver is only
 * called with input that passed them.
 */
import { Array as Arr, Duration, Effect, Option, Stream } from "effect"
import type {
  DeliverPolicy,
  Driver,
  HeadersInput,
  JetStream,
  JetStreamPublishOptions,
  MakeOptions,
  NatsClient,
  OrderedConsumerRequest,
  OutgoingMsg,
  StoredMsg,
  StreamConfig
} from "../NatsClient.ts"
import * as NatsError from "../NatsError.ts"
import { nameProblem, publishProblem, queueProblem, subscribeProblem } from "../NatsSubject.ts"
import { badRequest, type ErrorContext, fail } from "./apiErrors.ts"
import * as Features from "./features.ts"
import * as Headers from "./headers.ts"
import { toNanos } from "./nanos.ts"
import * as Ttl from "./ttl.ts"

const defaultTimeout = Duration.seconds(5)
const defaultBufferMessages = 64

// ---------------------------------------------------------------------------
// The control line
// ---------------------------------------------------------------------------

/**
 * Room for what the port does not count exactly on a line: the inbox a
 * driver picks for a request (nats.js: `_INBOX.<nuid>.<token>`, 52 bytes), a
 * subscription id, the sizes (10 digits each at most). A line is refused
 * when it could be too long by these counts: at most a few dozen bytes too
 * soon.
 */
const inboxRoom = 64
const numberRoom = 11

const byteLength = (s: string): number => {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 127) return Buffer.byteLength(s)
  }
  return s.length
}

/** The first characters of a (long) subject, to name it in a message. */
const preview = (subject: string): string => subject.length <= 64 ? subject : `${subject.slice(0, 64)}…`

/**
 * `InvalidSubject` (on `subject`) when a protocol line of `room` bytes plus
 * the parts, each followed by a space, would be longer than the server's
 * `max_control_line`: the server would close the connection and lose
 * everything buffered behind it. On every publish: no allocation unless the
 * line is long.
 */
const lineProblem = (
  maxControlLine: number,
  subject: string,
  room: number,
  first: string,
  second = "",
  third = ""
): NatsError.NatsError | undefined => {
  // Three bytes per UTF-16 unit at most: most lines are under the limit by far.
  if (room + (first.length + second.length + third.length) * 3 + 3 <= maxControlLine) return undefined
  const bytes = room + byteLength(first) + byteLength(second) + byteLength(third) + 3
  return bytes <= maxControlLine ? undefined : fail(
    new NatsError.InvalidSubject({
      subject,
      message: `'${preview(subject)}' is too long: its protocol line would be ${bytes} bytes, ` +
        `above the server's max_control_line of ${maxControlLine}`
    })
  )
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

const invalidSubject = (subject: string, message: string) => fail(new NatsError.InvalidSubject({ subject, message }))

const checkPositive = (value: number, name: string, context: ErrorContext): NatsError.NatsError | undefined =>
  Number.isInteger(value) && value > 0
    ? undefined
    : badRequest(context, `${name} must be a positive integer, got ${value}`)

const firstProblem = (...problems: ReadonlyArray<NatsError.NatsError | undefined>): NatsError.NatsError | undefined =>
  problems.find((problem) => problem !== undefined)

/** A duration as given, to name it in a message. */
const describe = (input: Duration.Input): string =>
  Option.match(Duration.fromInput(input), { onNone: () => String(input), onSome: Duration.format })

/** The JetStream headers of a publish's options, set over the user's headers. */
const expectationHeaders = (options: JetStreamPublishOptions | undefined): Record<string, string> | undefined => {
  if (options === undefined || (options.msgId === undefined && options.expect === undefined)) return undefined
  const set: Record<string, string> = {}
  const expect = options.expect
  if (options.msgId !== undefined) set["Nats-Msg-Id"] = options.msgId
  if (expect?.stream !== undefined) set["Nats-Expected-Stream"] = expect.stream
  if (expect?.lastSequence !== undefined) set["Nats-Expected-Last-Sequence"] = String(expect.lastSequence)
  if (expect?.lastSubjectSequence !== undefined) {
    set["Nats-Expected-Last-Subject-Sequence"] = String(expect.lastSubjectSequence)
  }
  if (expect?.lastMsgId !== undefined) set["Nats-Expected-Last-Msg-Id"] = expect.lastMsgId
  return set
}

/** Whether a consumer delivering from `deliver` starts after `last`: it lists nothing of what was stored. */
const startsAfter = (deliver: DeliverPolicy, last: StoredMsg): boolean => {
  if (typeof deliver === "string") return deliver === "new"
  return "startSequence" in deliver
    ? deliver.startSequence > last.seq
    : deliver.startTime.getTime() > last.time.getTime()
}

/** Fails a Stream or an Effect with the first problem found, or runs it. */
const checkedEffect = <A, R = never>(
  problem: NatsError.NatsError | undefined,
  effect: () => Effect.Effect<A, NatsError.NatsError, R>
): Effect.Effect<A, NatsError.NatsError, R> => problem === undefined ? effect() : Effect.fail(problem)

const checkedStream = <A>(
  problem: () => NatsError.NatsError | undefined,
  stream: () => Stream.Stream<A, NatsError.NatsError>
): Stream.Stream<A, NatsError.NatsError> =>
  Stream.suspend(() => {
    const found = problem()
    return found === undefined ? stream() : Stream.fail(found)
  })

// ---------------------------------------------------------------------------
// The port
// ---------------------------------------------------------------------------

export const make = (driver: Driver, options: MakeOptions = {}): NatsClient["Service"] => {
  const jetstreamTimeout = Duration.fromInputUnsafe(options.jetstreamTimeout ?? defaultTimeout)
  const maxControlLine = () => driver.server().maxControlLine

  const payloadTooLarge = (subject: string, size: number, maxPayload: number) =>
    fail(
      new NatsError.PayloadTooLarge({
        size,
        maxPayload,
        message: `a message of ${size} bytes to '${preview(subject)}' exceeds the server's max_payload of ${maxPayload} bytes`
      })
    )

  /**
   * The message to hand to the driver, or why it cannot be sent. `reply` is
   * the caller's; `inbox` says the driver adds one of its own (a request).
   */
  const prepare = (
    subject: string,
    data: Uint8Array,
    headers: HeadersInput | undefined,
    reply: string | undefined,
    inbox: boolean,
    set?: Readonly<Record<string, string>>
  ): OutgoingMsg | NatsError.NatsError => {
    const subjectProblem = publishProblem(subject)
    if (subjectProblem !== undefined) return invalidSubject(subject, subjectProblem)
    if (reply !== undefined) {
      const replyProblem = publishProblem(reply)
      if (replyProblem !== undefined) return invalidSubject(reply, `reply subject: ${replyProblem}`)
    }
    const server = driver.server()
    // nats.js measures the data alone first: a message whose data is too
    // large is reported with the data's size.
    if (data.length > server.maxPayload) return payloadTooLarge(subject, data.length, server.maxPayload)
    const encoded = Headers.encode(headers, set)
    if (typeof encoded === "string") return fail(new NatsError.EncodeError({ subject, message: encoded }))
    const size = data.length + encoded.bytes
    if (size > server.maxPayload) return payloadTooLarge(subject, size, server.maxPayload)
    // `HPUB <subject> [reply] <header size> <total size>`
    const tooLong = lineProblem(
      server.maxControlLine,
      subject,
      "HPUB ".length + 2 * numberRoom + (inbox ? inboxRoom : 0),
      subject,
      reply
    )
    if (tooLong !== undefined) {
      // Name the part that is at fault: a reply longer than the subject is.
      return reply !== undefined && reply.length > subject.length
        ? invalidSubject(reply, `reply subject: ${tooLong.reason.message}`)
        : tooLong
    }
    return { subject, data, headers: encoded.headers, headerBytes: encoded.bytes, reply }
  }

  const invalidName = (kind: "stream" | "consumer", name: string, context: ErrorContext, problem: string) =>
    fail(new NatsError.InvalidName({ kind, name, message: `${context.operation}: ${problem}` }))

  /**
   * Stream and consumer names: their grammar, and the line they make in the
   * longest API subject they go into (`$JS.API.CONSUMER.CREATE.<stream>.<consumer>`).
   */
  const checkNames = (context: ErrorContext & { readonly stream: string }, consumer?: string) => {
    const streamProblem = nameProblem("stream", context.stream)
    if (streamProblem !== undefined) return invalidName("stream", context.stream, context, streamProblem)
    if (consumer !== undefined) {
      const consumerProblem = nameProblem("consumer", consumer)
      if (consumerProblem !== undefined) return invalidName("consumer", consumer, context, consumerProblem)
    }
    const room = "PUB $JS.API.CONSUMER.CREATE.".length + inboxRoom + numberRoom
    const tooLong = lineProblem(maxControlLine(), consumer ?? context.stream, room, context.stream, consumer)
    if (tooLong === undefined) return undefined
    // The longer name is the one at fault.
    return consumer !== undefined && consumer.length > context.stream.length
      ? invalidName("consumer", consumer, context, `consumer name ${tooLong.reason.message}`)
      : invalidName("stream", context.stream, context, `stream name ${tooLong.reason.message}`)
  }

  /** `FeatureNotSupported` when the server is older than `feature` needs. */
  const unsupported = (feature: Features.Feature, context: ErrorContext) =>
    Features.unsupported(driver.server().version, feature, context)

  /**
   * Consumer filters: the grammar, and the line they make in the API subject
   * newer servers are asked with (`CONSUMER.CREATE.<stream>.<name>.<filter>`);
   * several filters need nats-server 2.10.
   */
  const checkFilters = (
    stream: string,
    consumer: string | undefined,
    filters: ReadonlyArray<string> | undefined,
    context: ErrorContext
  ): NatsError.NatsError | undefined => {
    if (filters === undefined || filters.length === 0) return undefined
    for (const filter of filters) {
      const problem = subscribeProblem(filter)
      if (problem !== undefined) return badRequest(context, `filter subject '${filter}': ${problem}`)
      // An ordered consumer's name is the server's: 22 characters or so.
      const tooLong = lineProblem(
        maxControlLine(),
        filter,
        "PUB $JS.API.CONSUMER.CREATE.".length + inboxRoom + numberRoom + (consumer === undefined ? 32 : 0),
        stream,
        consumer,
        filter
      )
      if (tooLong !== undefined) return tooLong
    }
    return filters.length > 1 ? unsupported(Features.severalFilterSubjects, context) : undefined
  }

  /**
   * Fields older servers do not know: they would silently drop them. Message
   * TTLs and markers are asked for when turned on: a configuration read back
   * from an older server (off) goes through.
   */
  const checkStreamConfig = (config: StreamConfig, context: ErrorContext & { readonly stream: string }) =>
    firstProblem(
      checkNames(context),
      config.metadata === undefined ? undefined : unsupported(Features.streamMetadata, context),
      config.compression === undefined ? undefined : unsupported(Features.streamCompression, context),
      config.allowMsgTtl === true ? unsupported(Features.messageTtl, context) : undefined,
      config.subjectDeleteMarkerTtl !== undefined && toNanos(config.subjectDeleteMarkerTtl) > 0
        ? unsupported(Features.subjectDeleteMarkers, context)
        : undefined
    )

  // -------------------------------------------------------------------------
  // Core NATS
  // -------------------------------------------------------------------------

  const publish: NatsClient["Service"]["publish"] = (subject, data, options) => {
    const msg = prepare(subject, data, options?.headers, options?.reply, false)
    return NatsError.isNatsError(msg) ? Effect.fail(msg) : driver.publish(msg)
  }

  const subscribe: NatsClient["Service"]["subscribe"] = (subject, options) => {
    const queue = options?.queue
    const problem = subscribeProblem(subject) ?? (queue === undefined ? undefined : queueProblem(queue))
    if (problem !== undefined) return Effect.fail(invalidSubject(subject, problem))
    // `SUB <subject> [queue] <sid>`
    const tooLong = lineProblem(maxControlLine(), subject, "SUB ".length + numberRoom, subject, queue)
    if (tooLong !== undefined) {
      return Effect.fail(
        queue !== undefined && queue.length > subject.length
          ? invalidSubject(queue, `queue group: ${tooLong.reason.message}`)
          : tooLong
      )
    }
    return driver.subscribe(subject, queue)
  }

  const request: NatsClient["Service"]["request"] = (subject, data, options) => {
    const msg = prepare(subject, data, options?.headers, undefined, true)
    return NatsError.isNatsError(msg)
      ? Effect.fail(msg)
      : driver.request(msg, Duration.fromInputUnsafe(options?.timeout ?? defaultTimeout))
  }

  // -------------------------------------------------------------------------
  // JetStream
  // -------------------------------------------------------------------------

  /** The `Nats-TTL` header of a publish's `ttl`, or why it cannot be sent. */
  const ttlHeader = (subject: string, ttl: Duration.Input): Record<string, string> | NatsError.NatsError => {
    const context = { operation: "jetstream publish", subject }
    const problem = unsupported(Features.messageTtl, context)
    if (problem !== undefined) return problem
    const value = Ttl.toHeader(ttl)
    return value === undefined
      ? badRequest(context, `a message's ttl is at least 1 second, got ${describe(ttl)}`)
      : { [Ttl.header]: value }
  }

  const jetstreamPublish: JetStream["publish"] = (subject, data, options) => {
    const ttl = options?.ttl === undefined ? undefined : ttlHeader(subject, options.ttl)
    if (NatsError.isNatsError(ttl)) return Effect.fail(ttl)
    const expectations = expectationHeaders(options)
    const set = ttl === undefined ? expectations : { ...expectations, ...ttl }
    const msg = prepare(subject, data, options?.headers, undefined, true, set)
    if (NatsError.isNatsError(msg)) return Effect.fail(msg)
    const expected = options?.expect?.lastSubjectSequence ?? options?.expect?.lastSequence
    const sent = driver.jetstream.publish(msg, Duration.fromInputUnsafe(options?.timeout ?? jetstreamTimeout))
    // The server says which sequence the stream has; the port knows which one was expected.
    return expected === undefined ? sent : Effect.mapError(sent, (error) =>
      error.reason._tag === "WrongLastSequence" && error.reason.expected === undefined
        ? fail(
          new NatsError.WrongLastSequence({
            subject: error.reason.subject,
            expected,
            current: error.reason.current,
            message: error.reason.message
          })
        )
        : error)
  }

  const streams: JetStream["streams"] = {
    add: (config) =>
      checkedEffect(
        checkStreamConfig(config, { operation: "stream add", stream: config.name }),
        () => driver.jetstream.streams.add(config)
      ),
    update: (config) =>
      checkedEffect(
        checkStreamConfig(config, { operation: "stream update", stream: config.name }),
        () => driver.jetstream.streams.update(config)
      ),
    info: (name) =>
      checkedEffect(checkNames({ operation: "stream info", stream: name }), () => driver.jetstream.streams.info(name)),
    delete: (name) =>
      checkedEffect(
        checkNames({ operation: "stream delete", stream: name }),
        () => driver.jetstream.streams.delete(name)
      ),
    purge: (name, purgeOptions) => {
      const context = { operation: "stream purge", stream: name }
      return checkedEffect(
        firstProblem(
          checkNames(context),
          purgeOptions?.keep !== undefined && purgeOptions.seq !== undefined
            ? badRequest(context, "'keep' and 'seq' cannot be used together")
            : undefined
        ),
        () => driver.jetstream.streams.purge(name, purgeOptions)
      )
    },
    list: (listOptions) => driver.jetstream.streams.list(listOptions)
  }

  const getMessage: JetStream["getMessage"] = (stream, query) => {
    const context = { operation: "get message", stream }
    const queryProblem = (): NatsError.NatsError | undefined => {
      if ("nextBySubject" in query) {
        const problem = subscribeProblem(query.nextBySubject)
        return problem !== undefined
          ? invalidSubject(query.nextBySubject, problem)
          : checkPositive(query.seq, "seq", context)
      }
      if ("seq" in query) return checkPositive(query.seq, "seq", context)
      const subject = query.lastBySubject
      const problem = publishProblem(subject)
      if (problem !== undefined) return invalidSubject(subject, problem)
      // Direct get asks `$JS.API.DIRECT.GET.<stream>.<subject>`.
      return lineProblem(
        maxControlLine(),
        subject,
        "PUB $JS.API.DIRECT.GET.".length + inboxRoom + numberRoom,
        stream,
        subject
      )
    }
    return checkedEffect(
      firstProblem(checkNames(context), queryProblem()),
      () => driver.jetstream.getMessage(stream, query)
    )
  }

  /** The newest message stored on any of `filters` (on any subject without filters). */
  const lastOn = (stream: string, filters: ReadonlyArray<string>): Effect.Effect<StoredMsg | undefined, NatsError.NatsError> =>
    Effect.map(
      Effect.forEach(
        filters.length === 0 ? [">"] : filters,
        (filter) => driver.jetstream.getMessage(stream, { lastBySubject: filter })
      ),
      (found) =>
        Arr.getSomes(found).reduce<StoredMsg | undefined>(
          (newest, msg) => newest === undefined || msg.seq > newest.seq ? msg : newest,
          undefined
        )
    )

  /**
   * A listing (`untilCaughtUp`): the consumer's messages up to the last one
   * stored on its filters, looked up once the consumer exists (so whatever
   * was written before it was created is listed), or up to one the server
   * says has none pending after it, whichever comes first. The pending count
   * alone is not enough: nats-server 2.9 still counts a message overwritten
   * between the consumer's creation and its first delivery, so the last one
   * comes with 1 pending and the listing would never end.
   */
  const listing = (
    stream: string,
    request: OrderedConsumerRequest,
    messages: Stream.Stream<StoredMsg, NatsError.NatsError>
  ) =>
    Effect.map(lastOn(stream, request.filterSubjects), (last) =>
      last === undefined || startsAfter(request.deliver, last)
        ? Stream.empty
        : Stream.takeUntil(messages, (msg) => msg.seq >= last.seq || msg.pending === 0))

  const openOrdered: JetStream["openOrdered"] = (stream, orderedOptions = {}) =>
    Effect.suspend(() => {
      const context = { operation: "ordered consumer", stream }
      const bufferMessages = orderedOptions.bufferMessages ?? defaultBufferMessages
      return checkedEffect(
        firstProblem(
          checkNames(context),
          checkPositive(bufferMessages, "bufferMessages", context),
          checkFilters(stream, undefined, orderedOptions.filterSubjects, context)
        ),
        () => {
          const request: OrderedConsumerRequest = {
            filterSubjects: orderedOptions.filterSubjects ?? [],
            deliver: orderedOptions.deliver ?? "all",
            headersOnly: orderedOptions.headersOnly ?? false,
            bufferMessages
          }
          const opened = driver.jetstream.ordered(stream, request)
          return orderedOptions.untilCaughtUp
            ? Effect.flatMap(opened, (messages) => listing(stream, request, messages))
            : opened
        }
      )
    })

  const ordered: JetStream["ordered"] = (stream, orderedOptions) => Stream.unwrap(openOrdered(stream, orderedOptions))

  const consumers: JetStream["consumers"] = {
    add: (stream, config) => {
      const context = { operation: "consumer add", stream, consumer: config.name }
      return checkedEffect(
        firstProblem(
          checkNames(context, config.name),
          checkFilters(stream, config.name, config.filterSubjects, context)
        ),
        () => driver.jetstream.consumers.add(stream, config)
      )
    },
    info: (stream, name) =>
      checkedEffect(
        checkNames({ operation: "consumer info", stream, consumer: name }, name),
        () => driver.jetstream.consumers.info(stream, name)
      ),
    pause: (stream, name, until) => {
      const context = { operation: "consumer pause", stream, consumer: name }
      return checkedEffect(
        firstProblem(
          checkNames(context, name),
          unsupported(Features.consumerPause, context),
          Number.isNaN(until.getTime()) ? badRequest(context, "'until' is not a valid date") : undefined
        ),
        () => driver.jetstream.consumers.pause(stream, name, until)
      )
    },
    resume: (stream, name) => {
      const context = { operation: "consumer resume", stream, consumer: name }
      return checkedEffect(
        firstProblem(checkNames(context, name), unsupported(Features.consumerPause, context)),
        () => Effect.asVoid(driver.jetstream.consumers.pause(stream, name, undefined))
      )
    },
    list: (stream) =>
      checkedEffect(
        checkNames({ operation: "consumer list", stream }),
        () =>
          Effect.map(
            driver.jetstream.consumers.list(stream),
            (consumers) => [...consumers].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
          )
      ),
    delete: (stream, name) =>
      checkedEffect(
        checkNames({ operation: "consumer delete", stream, consumer: name }, name),
        () => driver.jetstream.consumers.delete(stream, name)
      ),
    consume: (stream, name, consumeOptions) => {
      const context = { operation: "consume", stream, consumer: name }
      const bufferMessages = consumeOptions?.bufferMessages ?? defaultBufferMessages
      return checkedStream(
        () => firstProblem(checkNames(context, name), checkPositive(bufferMessages, "bufferMessages", context)),
        () => driver.jetstream.consumers.consume(stream, name, bufferMessages)
      )
    }
  }

  return {
    get server() {
      return driver.server()
    },
    adapter: driver.adapter,
    publish,
    subscribe,
    request,
    flush: driver.flush,
    jetstream: {
      publish: jetstreamPublish,
      streams,
      getMessage,
      ordered,
      openOrdered,
      consumers
    }
  }
}
