/**
 * `NatsClient.layerMemory`: a NATS server with JetStream inside the process.
 * Each build is its own server (no state outside it). The routing, streams
 * and consumers are synchronous objects (`router.ts`, `jetstream.ts`); this
 * module makes the port's Effects and Streams of them, reading the time from
 * Effect's `Clock` so that `TestClock` drives ages, ack waits and delays.
 *
 * Messages are handed to every receiver as they are, without copying the
 * payload: receivers must not modify the data they get.
 */
import { randomBytes } from "node:crypto"
import { Cause, type Clock, Duration, Effect, Queue, Result, type Scope, Stream } from "effect"
import type {
  JetStream,
  JetStreamPublishOptions,
  JsMsg,
  MemoryOptions,
  Msg,
  NatsClient,
  PubAck,
  ServerInfo,
  StoredMsg
} from "../../NatsClient.ts"
import * as NatsError from "../../NatsError.ts"
import { nameProblem } from "../validation.ts"
import type { Consumer } from "./consumer.ts"
import * as Errors from "./errors.ts"
import * as Headers from "./headers.ts"
import { JetStreamServer, toStoredMsg } from "./jetstream.ts"
import { Router, type Subscription } from "./router.ts"
import { type Incoming, noAnswer, type Refusal } from "./stream.ts"
import { publishProblem, queueProblem, subscribeProblem } from "./subjects.ts"

const version = "2.9.10-memory"
const defaultMaxPayload = 1024 * 1024
const defaultTimeout = Duration.seconds(5)
const defaultBufferMessages = 64

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/** A random 22-character identifier, like a NATS nuid. */
const nuid = (): string => {
  const bytes = randomBytes(22)
  let out = ""
  for (const byte of bytes) out += alphabet[byte % alphabet.length]
  return out
}

const encoder = new TextEncoder()
const fail = NatsError.fromReason

const invalidSubject = (subject: string, message: string) => fail(new NatsError.InvalidSubject({ subject, message }))

export const make = (options: MemoryOptions): Effect.Effect<NatsClient["Service"], never, Scope.Scope> =>
  Effect.gen(function*() {
    const maxPayload = options.maxPayload ?? defaultMaxPayload
    const server: ServerInfo = { serverId: nuid(), version, maxPayload, jetstream: true }
    const router = new Router()
    const jetstream = new JetStreamServer(version)
    const subscriptions = new Set<Queue.Queue<Msg, Cause.Done>>()
    const inboxPrefix = `_INBOX.${nuid()}.`
    let inboxes = 0
    const newInbox = () => `${inboxPrefix}${++inboxes}`
    yield* Effect.logInfo("using the in-memory NATS (no server; JetStream on)")

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const queue of subscriptions) Queue.endUnsafe(queue)
        jetstream.shutdown(
          fail(new NatsError.ConnectionError({ message: "the in-memory NATS server was shut down" }))
        )
      })
    )

    const payloadTooLarge = (subject: string, dataSize: number, headerBytes: number): NatsError.NatsError | undefined => {
      const size = dataSize > maxPayload ? dataSize : dataSize + headerBytes
      if (size <= maxPayload) return undefined
      return fail(
        new NatsError.PayloadTooLarge({
          size,
          maxPayload,
          message: `a message of ${size} bytes to '${subject}' exceeds the server's max_payload of ${maxPayload} bytes`
        })
      )
    }

    /** Checks a message to send; its headers encoded, or why it cannot go. */
    const prepare = (
      subject: string,
      data: Uint8Array,
      headers: Parameters<typeof Headers.encode>[0],
      set?: Readonly<Record<string, string>>
    ): Headers.EncodedHeaders | NatsError.NatsError => {
      const problem = publishProblem(subject)
      if (problem !== undefined) return invalidSubject(subject, problem)
      if (data.length > maxPayload) return payloadTooLarge(subject, data.length, 0)!
      const encoded = Headers.encode(headers, set)
      if (typeof encoded === "string") return fail(new NatsError.EncodeError({ subject, message: encoded }))
      return payloadTooLarge(subject, data.length, encoded.bytes) ?? encoded
    }

    /**
     * What the server does with a core message: route it to subscribers and,
     * when a stream captures its subject, store it (answering `reply` with
     * the PubAck, as the server does). False when nobody received it.
     */
    const send = (msg: Msg, headerBytes: number, now: number): boolean => {
      const routed = router.route(msg)
      const stream = jetstream.streamFor(msg.subject)
      if (stream === undefined) return routed
      const incoming: Incoming = { subject: msg.subject, data: msg.data, headers: msg.headers, headerBytes }
      const stored = stream.store(incoming, now)
      const answer = msg.reply === undefined ? undefined : pubAckAnswer(stream.name, stored)
      if (answer !== undefined) {
        router.route({ subject: msg.reply!, data: encoder.encode(JSON.stringify(answer)), headers: undefined, reply: undefined })
      }
      return true
    }

    const publish: NatsClient["Service"]["publish"] = (subject, data, options) =>
      Effect.clockWith((clock) => {
        const prepared = prepare(subject, data, options?.headers)
        if (NatsError.isNatsError(prepared)) return Effect.fail(prepared)
        const reply = options?.reply
        if (reply !== undefined) {
          const problem = publishProblem(reply)
          if (problem !== undefined) return Effect.fail(invalidSubject(reply, `reply subject: ${problem}`))
        }
        send({ subject, data, headers: prepared.headers, reply }, prepared.bytes, clock.currentTimeMillisUnsafe())
        return Effect.void
      })

    const subscribe: NatsClient["Service"]["subscribe"] = (subject, options) =>
      Effect.gen(function*() {
        const problem = subscribeProblem(subject) ??
          (options?.queue === undefined ? undefined : queueProblem(options.queue))
        if (problem !== undefined) return yield* Effect.fail(invalidSubject(subject, problem))
        // Core NATS cannot push back: the queue is unbounded, as a client's buffer.
        const queue = yield* Queue.unbounded<Msg, Cause.Done>()
        const subscription: Subscription = {
          subject,
          queue: options?.queue,
          deliver: (msg) => {
            Queue.offerUnsafe(queue, msg)
          }
        }
        const unsubscribe = Effect.sync(() => {
          router.remove(subscription)
          subscriptions.delete(queue)
          Queue.endUnsafe(queue)
        })
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            router.add(subscription)
            subscriptions.add(queue)
          }),
          () => unsubscribe
        )
        return Stream.fromQueue(queue).pipe(Stream.ensuring(unsubscribe))
      })

    const request: NatsClient["Service"]["request"] = (subject, data, options) =>
      Effect.clockWith((clock) => {
        const prepared = prepare(subject, data, options?.headers)
        if (NatsError.isNatsError(prepared)) return Effect.fail(prepared)
        const noResponders = fail(new NatsError.NoResponders({ subject, message: `no responders on '${subject}'` }))
        const timedOut = fail(
          new NatsError.TimeoutError({ operation: "request", subject, message: `request '${subject}' timed out` })
        )
        return Effect.callback<Msg, NatsError.NatsError>((resume) => {
          const inbox: Subscription = {
            subject: newInbox(),
            queue: undefined,
            deliver: (msg) => {
              router.remove(inbox)
              resume(Effect.succeed(msg))
            }
          }
          router.add(inbox)
          const msg: Msg = { subject, data, headers: prepared.headers, reply: inbox.subject }
          if (!send(msg, prepared.bytes, clock.currentTimeMillisUnsafe())) {
            router.remove(inbox)
            resume(Effect.fail(noResponders))
            return
          }
          return Effect.sync(() => router.remove(inbox))
        }).pipe(
          Effect.timeoutOrElse({
            duration: options?.timeout ?? defaultTimeout,
            orElse: () => Effect.fail(timedOut)
          })
        )
      })

    return {
      server,
      adapter: "memory",
      publish,
      subscribe,
      request,
      // Delivery is synchronous: everything published before was delivered.
      flush: Effect.void,
      jetstream: makeJetStream(jetstream, router, prepare, newInbox)
    } satisfies NatsClient["Service"]
  })

/** The server's JSON answer to a message a stream stored or refused, or `undefined` when it does not answer. */
const pubAckAnswer = (stream: string, stored: Result.Result<PubAck, Refusal>): object | undefined => {
  if (Result.isSuccess(stored)) {
    const { duplicate, seq } = stored.success
    return duplicate ? { stream, seq, duplicate } : { stream, seq }
  }
  const refusal = stored.failure
  if (refusal === noAnswer) return undefined
  return { error: { code: refusal.code, err_code: refusal.errCode, description: refusal.description }, stream, seq: 0 }
}

type Prepare = (
  subject: string,
  data: Uint8Array,
  headers: Parameters<typeof Headers.encode>[0],
  set?: Readonly<Record<string, string>>
) => Headers.EncodedHeaders | NatsError.NatsError

/** The JetStream headers nats.js sets for a publish's options. */
const publishHeaders = (options: JetStreamPublishOptions | undefined): Record<string, string> | undefined => {
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

const checkName = (kind: "stream" | "consumer", name: string, context: Errors.ErrorContext) => {
  const problem = nameProblem(kind, name)
  return problem === undefined ? undefined : Errors.badRequest(context, problem)
}

const checkBuffer = (bufferMessages: number | undefined, context: Errors.ErrorContext) => {
  const buffer = bufferMessages ?? defaultBufferMessages
  return Number.isInteger(buffer) && buffer > 0
    ? undefined
    : Errors.badRequest(context, `bufferMessages must be a positive integer, got ${buffer}`)
}

/**
 * One filter on every server; several need nats-server 2.10, which the
 * in-memory server (answering as 2.9) refuses as the nats.js adapter does.
 */
const checkFilters = (filters: ReadonlyArray<string> | undefined, context: Errors.ErrorContext) => {
  if (filters === undefined) return undefined
  for (const filter of filters) {
    const problem = subscribeProblem(filter)
    if (problem !== undefined) return Errors.badRequest(context, `filter subject '${filter}': ${problem}`)
  }
  return filters.length > 1
    ? Errors.badRequest(context, `several filter subjects need nats-server 2.10.0 or later (connected to ${version})`)
    : undefined
}

/** The first of the checks that fails, as an Effect failure, or `effect`. */
const checked = <A, E, R>(
  problems: ReadonlyArray<NatsError.NatsError | undefined>,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | NatsError.NatsError, R> => {
  const problem = problems.find((p) => p !== undefined)
  return problem === undefined ? effect : Effect.fail(problem)
}

/** Runs `f` with the current time (ms) and lifts its `Result`. */
const withTime = <A>(f: (now: number) => Result.Result<A, NatsError.NatsError>): Effect.Effect<A, NatsError.NatsError> =>
  Effect.clockWith((clock: Clock.Clock) => Effect.fromResult(f(clock.currentTimeMillisUnsafe())))

/** Waits until the consumer changes, or until `until` (ms) when given. */
const awaitChange = (consumer: Consumer, version: number, until: number | undefined): Effect.Effect<void> =>
  Effect.clockWith((clock) => {
    const changed = Effect.callback<void>((resume) => {
      if (consumer.version !== version) return resume(Effect.void)
      const remove = consumer.onChange(() => resume(Effect.void))
      return Effect.sync(remove)
    })
    if (until === undefined) return changed
    const wait = until - clock.currentTimeMillisUnsafe()
    return wait <= 0 ? Effect.void : Effect.raceFirst(changed, Effect.sleep(Duration.millis(wait)))
  })

type Delivery = Extract<ReturnType<Consumer["next"]>, { _tag: "Deliver" }>

/**
 * A consumer's deliveries as a Stream. As a nats.js pull consumer, each pull
 * takes what is available up to `batch` messages (its `bufferMessages`), so
 * nothing is delivered before the reader asks for more. `release` runs when
 * the Stream ends.
 */
const deliveries = <A>(
  batch: number,
  acquire: (now: number) => Result.Result<Consumer, NatsError.NatsError>,
  release: (consumer: Consumer) => void,
  toItem: (consumer: Consumer, delivery: Delivery) => A
): Stream.Stream<A, NatsError.NatsError> =>
  Stream.unwrap(Effect.map(
    Effect.acquireRelease(withTime(acquire), (consumer) => Effect.sync(() => release(consumer))),
    (consumer) => {
      const pull: Effect.Effect<readonly [A, ...Array<A>], NatsError.NatsError | Cause.Done> = Effect.clockWith(
        (clock) =>
          Effect.suspend(() => {
            const version = consumer.version
            const now = clock.currentTimeMillisUnsafe()
            const items: Array<A> = []
            let next = consumer.next(now)
            while (next._tag === "Deliver") {
              items.push(toItem(consumer, next))
              if (items.length >= batch) break
              next = consumer.next(now)
            }
            if (items.length > 0) return Effect.succeed(items as unknown as readonly [A, ...Array<A>])
            if (next._tag === "Wait") return Effect.flatMap(awaitChange(consumer, version, next.until), () => pull)
            return next._tag === "Gone" ? Effect.fail(next.error) : Cause.done()
          })
      )
      return Stream.fromPull(Effect.succeed(pull))
    }
  ))

const makeJetStream = (
  server: JetStreamServer,
  router: Router,
  prepare: Prepare,
  newInbox: () => string
): JetStream => {
  const publish: JetStream["publish"] = (subject, data, options) =>
    Effect.clockWith((clock) => {
      const context = { operation: "jetstream publish", subject }
      const prepared = prepare(subject, data, options?.headers, publishHeaders(options))
      if (NatsError.isNatsError(prepared)) return Effect.fail(prepared)
      // Nobody answers: the publisher waits for its timeout.
      const unanswered = Effect.andThen(Effect.sleep(options?.timeout ?? defaultTimeout), Effect.fail(Errors.noAnswer(context)))
      // A JetStream publish is a request: subscribers of the subject get it too.
      const routed = router.route({ subject, data, headers: prepared.headers, reply: newInbox() })
      const stream = server.streamFor(subject)
      if (stream === undefined) {
        return routed
          ? unanswered
          : Effect.fail(fail(new NatsError.NoResponders({ subject, message: `no stream captures subject '${subject}'` })))
      }
      const incoming: Incoming = { subject, data, headers: prepared.headers, headerBytes: prepared.bytes }
      const stored = stream.store(incoming, clock.currentTimeMillisUnsafe())
      if (Result.isSuccess(stored)) return Effect.succeed(stored.success)
      return stored.failure === noAnswer ? unanswered : Effect.fail(Errors.toNatsError(stored.failure, context))
    })

  const streams: JetStream["streams"] = {
    add: (config) =>
      withTime((now) => server.addStream(config, now)),
    update: (config) => withTime((now) => server.updateStream(config, now)),
    info: (name) =>
      checked(
        [checkName("stream", name, { operation: "stream info", stream: name })],
        withTime((now) => server.streamInfo(name, now))
      ),
    delete: (name) =>
      checked(
        [checkName("stream", name, { operation: "stream delete", stream: name })],
        Effect.suspend(() => Effect.fromResult(server.deleteStream(name)))
      ),
    purge: (name, options) =>
      checked(
        [checkName("stream", name, { operation: "stream purge", stream: name })],
        withTime((now) => Result.map(server.purge(name, options, now), (purged) => ({ purged })))
      ),
    list: (options) => withTime((now) => Result.succeed(server.list(options?.subject, now)))
  }

  const getMessage: JetStream["getMessage"] = (stream, query) => {
    const context = { operation: "get message", stream }
    const queryProblem = "seq" in query
      ? (Number.isInteger(query.seq) && query.seq >= 1
        ? undefined
        : Errors.badRequest(context, `seq must be a positive integer, got ${query.seq}`))
      : (() => {
        const problem = publishProblem(query.lastBySubject)
        return problem === undefined ? undefined : invalidSubject(query.lastBySubject, problem)
      })()
    return checked(
      [checkName("stream", stream, context), queryProblem],
      withTime((now) => server.getMessage(stream, query, now))
    )
  }

  const ordered: JetStream["ordered"] = (stream, options) => {
    const context = { operation: "ordered consumer", stream }
    const problem = checkName("stream", stream, context) ?? checkBuffer(options?.bufferMessages, context) ??
      checkFilters(options?.filterSubjects, context)
    if (problem !== undefined) return Stream.fail(problem)
    const headersOnly = options?.headersOnly ?? false
    return deliveries(
      options?.bufferMessages ?? defaultBufferMessages,
      (now) => server.createOrdered(stream, options, now),
      (consumer) => server.removeConsumer(consumer),
      (_, { entry, pending }): StoredMsg => toStoredMsg(stream, entry, pending, headersOnly)
    )
  }

  const consumerContext = (operation: string, stream: string, consumer: string) => ({ operation, stream, consumer })

  const consumers: JetStream["consumers"] = {
    add: (stream, config) => {
      const context = consumerContext("consumer add", stream, config.name)
      return checked(
        [
          checkName("stream", stream, context),
          checkName("consumer", config.name, context),
          checkFilters(config.filterSubjects, context)
        ],
        withTime((now) => server.addConsumer(stream, config, now))
      )
    },
    info: (stream, name) => {
      const context = consumerContext("consumer info", stream, name)
      return checked(
        [checkName("stream", stream, context), checkName("consumer", name, context)],
        withTime((now) => Result.map(server.consumer(stream, name, context.operation, now), (c) => c.info()))
      )
    },
    delete: (stream, name) => {
      const context = consumerContext("consumer delete", stream, name)
      return checked(
        [checkName("stream", stream, context), checkName("consumer", name, context)],
        Effect.suspend(() => Effect.fromResult(server.deleteConsumer(stream, name)))
      )
    },
    consume: (stream, name, options) => {
      const context = consumerContext("consume", stream, name)
      const problem = checkName("stream", stream, context) ?? checkName("consumer", name, context) ??
        checkBuffer(options?.bufferMessages, context)
      if (problem !== undefined) return Stream.fail(problem)
      return deliveries(
        options?.bufferMessages ?? defaultBufferMessages,
        (now) => server.consumer(stream, name, context.operation, now),
        () => undefined,
        (consumer, delivery) => toJsMsg(stream, consumer, delivery)
      )
    }
  }

  return { publish, streams, getMessage, ordered, consumers }
}

const toJsMsg = (
  stream: string,
  consumer: Consumer,
  { consumerSeq, deliveryCount, entry, pending }: Delivery
): JsMsg => {
  const seq = entry.seq
  const now = Effect.clockWith((clock) => Effect.succeed(clock.currentTimeMillisUnsafe()))
  // The in-memory server processes an ack as it is sent.
  const ack = Effect.sync(() => consumer.ack(seq, consumerSeq))
  return {
    ...toStoredMsg(stream, entry, pending, false),
    consumer: consumer.name,
    deliveryCount,
    redelivered: deliveryCount > 1,
    ack,
    ackSync: ack,
    nak: (delay) =>
      Effect.map(now, (time) =>
        consumer.nak(seq, consumerSeq, delay === undefined ? 0 : Duration.toMillis(delay), time)),
    term: () => Effect.sync(() => consumer.ack(seq, consumerSeq)),
    working: Effect.map(now, (time) => consumer.working(seq, time))
  }
}
