/**
 * The driver of `NatsClient.layerMemory`: a NATS server with JetStream inside
 * the process. Each build is its own server (no state outside it). The
 * routing, streams and consumers are synchronous objects (`router.ts`,
 * `jetstream.ts`); this module makes the driver's Effects and Streams of them
 * (the port's rules are `NatsClient.make`'s), reading the time from
 * Effect's `Clock` so that `TestClock` drives ages, ack waits and delays.
 *
 * Messages are handed to every receiver as they are, without copying the
 * payload: receivers must not modify the data they get.
 */
import { randomBytes } from "node:crypto"
import { Cause, type Clock, Duration, Effect, Exit, Queue, Result, type Scope, Stream } from "effect"
import type {
  Driver,
  JetStream,
  JsMsg,
  MemoryOptions,
  Msg,
  OutgoingMsg,
  PubAck,
  ServerInfo,
  StoredMsg
} from "../../NatsClient.ts"
import * as NatsError from "../../NatsError.ts"
import { noResponders, noStreamCaptures, timedOut } from "../apiErrors.ts"
import type { Consumer } from "./consumer.ts"
import * as Errors from "./errors.ts"
import { JetStreamServer, toStoredMsg } from "./jetstream.ts"
import { Router, type Subscription } from "./router.ts"

/** The nats-server whose behaviour this one has. */
export const serverVersion = "2.15.3"
const version = `${serverVersion}-memory`
const defaultMaxPayload = 1024 * 1024
const defaultMaxControlLine = 4096

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

/** The in-memory server as a `NatsClient` driver. */
export const make = (options: MemoryOptions): Effect.Effect<Driver, never, Scope.Scope> =>
  Effect.gen(function*() {
    const server: ServerInfo = {
      serverId: nuid(),
      version,
      maxPayload: options.maxPayload ?? defaultMaxPayload,
      maxControlLine: options.maxControlLine ?? defaultMaxControlLine,
      jetstream: true
    }
    const router = new Router()
    const jetstream = new JetStreamServer()
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

    /**
     * What the server does with a core message: route it to subscribers and,
     * when a stream captures its subject, store it (answering `reply` with
     * the PubAck, as the server does). False when nobody received it.
     */
    const send = (msg: OutgoingMsg, now: number): boolean => {
      // Receivers get a message as the port defines it, without the sender's header count.
      const routed = router.route({ subject: msg.subject, data: msg.data, headers: msg.headers, reply: msg.reply })
      const stream = jetstream.streamFor(msg.subject)
      if (stream === undefined) return routed
      const stored = stream.store(msg, now)
      const answer = msg.reply === undefined ? undefined : pubAckAnswer(stream.name, stored)
      if (answer !== undefined) {
        router.route({ subject: msg.reply!, data: encoder.encode(JSON.stringify(answer)), headers: undefined, reply: undefined })
      }
      return true
    }

    const publish: Driver["publish"] = (msg) =>
      Effect.clockWith((clock) => {
        send(msg, clock.currentTimeMillisUnsafe())
        return Effect.void
      })

    const subscribe: Driver["subscribe"] = (subject, queueGroup) =>
      Effect.gen(function*() {
        // Core NATS cannot push back: the queue is unbounded, as a client's buffer.
        const queue = yield* Queue.unbounded<Msg, Cause.Done>()
        const subscription: Subscription = {
          subject,
          queue: queueGroup,
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

    const request: Driver["request"] = (msg, timeout) =>
      Effect.clockWith((clock) => {
        const subject = msg.subject
        return Effect.callback<Msg, NatsError.NatsError>((resume) => {
          const inbox: Subscription = {
            subject: newInbox(),
            queue: undefined,
            deliver: (reply) => {
              router.remove(inbox)
              resume(Effect.succeed(reply))
            }
          }
          router.add(inbox)
          if (!send({ ...msg, reply: inbox.subject }, clock.currentTimeMillisUnsafe())) {
            router.remove(inbox)
            resume(Effect.fail(noResponders(subject)))
            return
          }
          return Effect.sync(() => router.remove(inbox))
        }).pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () => Effect.fail(timedOut({ operation: "request", subject }))
          })
        )
      })

    return {
      server: () => server,
      adapter: "memory",
      publish,
      subscribe,
      request,
      // Delivery is synchronous: everything published before was delivered.
      flush: Effect.void,
      jetstream: makeJetStream(jetstream, router, newInbox)
    } satisfies Driver
  })

/** The server's JSON answer to a message a stream stored or refused. */
const pubAckAnswer = (stream: string, stored: Result.Result<PubAck, Errors.ApiError>): object => {
  if (Result.isSuccess(stored)) {
    const { duplicate, seq } = stored.success
    return duplicate ? { stream, seq, duplicate } : { stream, seq }
  }
  const refusal = stored.failure
  return { error: { code: refusal.code, err_code: refusal.errCode, description: refusal.description }, stream, seq: 0 }
}

/** Runs `f` with the current time (ms) and lifts its `Result`. */
const withTime = <A>(f: (now: number) => Result.Result<A, NatsError.NatsError>): Effect.Effect<A, NatsError.NatsError> =>
  Effect.clockWith((clock: Clock.Clock) => Effect.fromResult(f(clock.currentTimeMillisUnsafe())))

type Delivery = Extract<ReturnType<Consumer["next"]>, { _tag: "Deliver" }>

/**
 * A reader of a consumer, as nats.js's pull consumer is to nats-server: a
 * pull request for `batch` messages stands from the moment the reader is
 * acquired, and the consumer delivers into it as soon as it can (a message
 * stored, a nak, an ack that makes room), whether the reader is reading or
 * not; the reader takes what arrived in one chunk, and the request stands
 * again for as many. So a message overwritten right after it was stored
 * (a key of a bucket with history 1) still reaches a reader waiting for it,
 * as it does on nats-server.
 */
class PullRequest<A> {
  private items: Array<A> = []
  /** The consumer or its stream was deleted. */
  private ended: Exit.Exit<never, NatsError.NatsError> | undefined
  /** When `next` said to ask again, ms. */
  private until: number | undefined
  private wake: (() => void) | undefined
  private readonly removeReader: () => void
  readonly consumer: Consumer
  private readonly batch: number
  private readonly clock: Clock.Clock
  private readonly toItem: (consumer: Consumer, delivery: Delivery) => A

  constructor(
    consumer: Consumer,
    batch: number,
    clock: Clock.Clock,
    toItem: (consumer: Consumer, delivery: Delivery) => A
  ) {
    this.consumer = consumer
    this.batch = batch
    this.clock = clock
    this.toItem = toItem
    // A waiting reader looks again: at what arrived, or at a new deadline (a nak's delay).
    this.removeReader = consumer.addReader(() => {
      this.fill()
      this.wake?.()
    })
    this.fill()
  }

  release(): void {
    this.removeReader()
  }

  /** What has arrived, or the end; waits for either. */
  readonly pull: Effect.Effect<readonly [A, ...Array<A>], NatsError.NatsError | Cause.Done> = Effect.suspend(() => {
    this.fill()
    if (this.items.length > 0) {
      const chunk = this.items as unknown as readonly [A, ...Array<A>]
      this.items = []
      this.fill()
      return Effect.succeed(chunk)
    }
    if (this.ended !== undefined) return this.ended
    const changed = Effect.callback<void>((resume) => {
      this.wake = () => resume(Effect.void)
      return Effect.sync(() => {
        this.wake = undefined
      })
    })
    const wait = this.until === undefined
      ? changed
      : Effect.raceFirst(changed, Effect.sleep(Duration.millis(Math.max(0, this.until - this.now()))))
    return Effect.andThen(wait, this.pull)
  })

  private now(): number {
    return this.clock.currentTimeMillisUnsafe()
  }

  /** Takes from the consumer what there is room for. */
  private fill(): void {
    if (this.ended !== undefined) return
    const now = this.now()
    this.until = undefined
    while (this.items.length < this.batch) {
      const next = this.consumer.next(now)
      if (next._tag === "Deliver") {
        this.items.push(this.toItem(this.consumer, next))
      } else {
        if (next._tag === "Wait") this.until = next.until
        else this.ended = Exit.fail(next.error)
        return
      }
    }
  }
}

/**
 * A consumer, acquired now, and its deliveries as a Stream read through a
 * pull request for `batch` messages (its `bufferMessages`). `release` runs
 * when the scope closes.
 */
const deliveries = <A>(
  batch: number,
  acquire: (now: number) => Result.Result<Consumer, NatsError.NatsError>,
  release: (consumer: Consumer) => void,
  toItem: (consumer: Consumer, delivery: Delivery) => A
): Effect.Effect<Stream.Stream<A, NatsError.NatsError>, NatsError.NatsError, Scope.Scope> =>
  Effect.clockWith((clock) =>
    Effect.map(
      Effect.acquireRelease(
        Effect.map(withTime(acquire), (consumer) => new PullRequest(consumer, batch, clock, toItem)),
        (request) =>
          Effect.sync(() => {
            request.release()
            release(request.consumer)
          })
      ),
      (request) => Stream.fromPull(Effect.succeed(request.pull))
    )
  )

const makeJetStream = (
  server: JetStreamServer,
  router: Router,
  newInbox: () => string
): Driver["jetstream"] => {
  const publish: Driver["jetstream"]["publish"] = (msg, timeout) =>
    Effect.clockWith((clock) => {
      const subject = msg.subject
      const context = { operation: "jetstream publish", subject }
      // Nobody answers: the publisher waits for its timeout. Built only then: an
      // error captures a stack, the most costly step of an in-memory publish.
      const unanswered = Effect.andThen(Effect.sleep(timeout), Effect.suspend(() => Effect.fail(timedOut(context))))
      // A JetStream publish is a request: subscribers of the subject get it too.
      const routed = router.route({ subject, data: msg.data, headers: msg.headers, reply: newInbox() })
      const stream = server.streamFor(subject)
      if (stream === undefined) {
        return routed
          ? unanswered
          : Effect.fail(noStreamCaptures(subject))
      }
      const stored = stream.store(msg, clock.currentTimeMillisUnsafe())
      if (Result.isSuccess(stored)) return Effect.succeed(stored.success)
      return Effect.fail(Errors.toNatsError(stored.failure, { ...context, stream: stream.name }))
    })

  const streams: JetStream["streams"] = {
    add: (config) => withTime((now) => server.addStream(config, now)),
    update: (config) => withTime((now) => server.updateStream(config, now)),
    info: (name) => withTime((now) => server.streamInfo(name, now)),
    delete: (name) => Effect.suspend(() => Effect.fromResult(server.deleteStream(name))),
    purge: (name, options) => withTime((now) => Result.map(server.purge(name, options, now), (purged) => ({ purged }))),
    list: (options) => withTime((now) => Result.succeed(server.list(options?.subject, now)))
  }

  const getMessage: JetStream["getMessage"] = (stream, query) => withTime((now) => server.getMessage(stream, query, now))

  const ordered: Driver["jetstream"]["ordered"] = (stream, request) =>
    deliveries(
      request.bufferMessages,
      (now) => server.createOrdered(stream, request, now),
      (consumer) => server.removeConsumer(consumer),
      (_, { entry, pending }): StoredMsg => toStoredMsg(stream, entry, pending, request.headersOnly)
    )

  const consumers: Driver["jetstream"]["consumers"] = {
    add: (stream, config) => withTime((now) => server.addConsumer(stream, config, now)),
    info: (stream, name) =>
      withTime((now) => Result.map(server.consumer(stream, name, "consumer info", now), (c) => c.info(now))),
    pause: (stream, name, until) =>
      withTime((now) => server.pauseConsumer(stream, name, until?.getTime(), now)),
    list: (stream) => withTime((now) => server.listConsumers(stream, now)),
    delete: (stream, name) => Effect.suspend(() => Effect.fromResult(server.deleteConsumer(stream, name))),
    consume: (stream, name, bufferMessages) =>
      Stream.unwrap(deliveries(
        bufferMessages,
        (now) => server.consumer(stream, name, "consume", now),
        () => undefined,
        (consumer, delivery) => toJsMsg(stream, consumer, delivery)
      ))
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
