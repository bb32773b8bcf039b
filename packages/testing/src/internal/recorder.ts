/**
 * The bookkeeping behind `NatsTest`: which broker subscribers are live, what
 * each still has to handle, what was published, and what the handlers were
 * called with.
 *
 * Core subscriptions. The `NatsClient` the app runs on is wrapped: every
 * message sent through it is counted *before* it is sent, once for each live
 * subscription whose subject matches it, and once for each queue group with a
 * matching member (one member gets it). When the server refuses it (invalid
 * subject, too large, bad headers: nothing was delivered) it is counted back.
 * A broker subscriber reports each message it is done with (`onHandled`),
 * which counts it back too. A handler publishes in turn before it is done
 * with its own message, so when every count is at zero, every message and
 * everything it caused have been handled, whatever order the fibers ran in.
 * Port subscriptions are matched to broker subscribers when the broker
 * reports them (`onSubscribed`, right after it subscribed): the latest
 * unclaimed subscription on the same subject and queue. Subscriptions never
 * claimed (an app's own raw subscriptions) are not waited for.
 *
 * Consumers and watches. What a JetStream subscriber or a watcher has still
 * to come is on the server, so it is asked: a consumer is done when it has
 * nothing left to deliver and nothing unacknowledged (on the in-memory NATS,
 * whose time is `TestClock`, a message held back for a redelivery still to
 * come counts as done: `TestClock.adjust` brings it); a watch is done when
 * its stream holds nothing on its subjects after what it has read. Every
 * broker subscriber also says how many messages it holds (`inFlight`).
 */
import type { NatsBroker, NatsError, NatsMessage } from "@nats-effect/core"
import { NatsClient, NatsHeaders, NatsSubject } from "@nats-effect/core"
import { Effect, Exit, Option } from "effect"

/** What a handler was called with, and how it ended. */
export interface Call {
  /** The subscriber's name (its declared subject unless named). */
  readonly subscriber: string
  /** The subject as the subscriber declared it, with its `{param}` tokens. */
  readonly declaredSubject: string
  /** The subject the message was published to. */
  readonly subject: string
  /** The decoded payload; `undefined` when it could not be decoded (`exit` then fails with a `DecodeError`). */
  readonly payload: unknown
  readonly params: Readonly<Record<string, string>>
  readonly headers: NatsClient.Headers
  readonly correlationId: string
  readonly reply: string | undefined
  /** For a JetStream message, its delivery: 1 the first time, 2 for its first redelivery, … */
  readonly deliveryCount: number | undefined
  /** The handler's result (its reply), or how it failed. */
  readonly exit: Exit.Exit<unknown, unknown>
}

/** A message sent through the client, as it went on the wire. */
export interface Sent {
  /** `publish` (core NATS, replies included), `request`, or `jetstream` (a JetStream publish). */
  readonly kind: "publish" | "request" | "jetstream"
  readonly subject: string
  readonly data: Uint8Array
  readonly headers: NatsClient.Headers | undefined
  /** The `correlation_id` header. */
  readonly correlationId: string | undefined
  /** The reply subject given to a core publish. */
  readonly reply: string | undefined
}

/** A broker subscriber that still has messages to handle, for error reports. */
export interface Busy {
  readonly subscriber: string
  readonly subject: string
  readonly queue: string | undefined
  /** What it is waiting for, in words. */
  readonly waiting: string
  /** Subjects of the messages its handlers are working on now. */
  readonly handling: ReadonlyArray<string>
}

interface Subscriber {
  readonly id: number
  readonly name: string
  readonly declaredSubject: string
  readonly queue: string | undefined
  readonly source: NatsBroker.SubscriberSource
  readonly inFlight: () => number
  readonly waitingForClock: () => number
  /** The messages its handlers are working on. */
  readonly handling: Set<NatsMessage.Message>
}

interface Subscription {
  readonly subject: string
  readonly queue: string | undefined
  readonly matches: (subject: string) => boolean
  /** Messages counted for it and not handled yet (plain subscriptions; queue groups count per group). */
  pending: number
  /** The broker subscriber reading it, once it has reported itself. */
  subscriber: Subscriber | undefined
}

/** The subject a broker subscriber subscribes to for its declared subject: `{param}` tokens are `*`. */
const subscribedSubject = (declared: string): string =>
  declared.split(".").map((token) => token.startsWith("{") && token.endsWith("}") ? "*" : token).join(".")

/** A message the server refused: it reached nobody. */
const refused = (exit: Exit.Exit<unknown, NatsError.NatsError>): boolean => {
  if (Exit.isSuccess(exit)) return false
  const error = Option.getOrUndefined(Exit.findErrorOption(exit))
  if (error === undefined) return false
  const tag = error.reason._tag
  return tag === "InvalidSubject" || tag === "PayloadTooLarge" || tag === "EncodeError"
}

/** A consumer or stream that is gone has nothing more to deliver. */
const gone = <A>(effect: Effect.Effect<A, NatsError.NatsError>): Effect.Effect<Option.Option<A>, NatsError.NatsError> =>
  effect.pipe(
    Effect.map(Option.some),
    Effect.catchIf(
      (error) => error.reason._tag === "ConsumerNotFound" || error.reason._tag === "StreamNotFound",
      () => Effect.succeedNone
    )
  )

export interface Recorder {
  /** The client the app runs on: counts and records what is sent, follows subscriptions. */
  readonly wrapClient: (client: NatsClient.NatsClient["Service"]) => NatsClient.NatsClient["Service"]
  /** What the brokers report to. */
  readonly observer: NatsBroker.Observer
  /**
   * The broker subscribers that still have something to do, asking the
   * consumers and streams of those that read JetStream; empty when the app is
   * idle. Computed again until nothing happened while the servers answered.
   */
  readonly busy: Effect.Effect<ReadonlyArray<Busy>, NatsError.NatsError>
  /** Completes at the next thing a broker or the client reports, or after `millis` of real time. */
  readonly nextChange: (millis: number) => Effect.Effect<void>
  /** Forgets the calls and messages recorded so far. */
  readonly clear: () => void
  readonly calls: () => ReadonlyArray<Call>
  readonly sent: () => ReadonlyArray<Sent>
  /** Every broker subscriber seen so far, live or not. */
  readonly subscribers: () => ReadonlyArray<{ readonly name: string; readonly declaredSubject: string }>
}

export const make = (): Recorder => {
  /** The open port subscriptions. */
  const subscriptions: Array<Subscription> = []
  const groups = new Map<string, { pending: number }>()
  const live = new Map<number, Subscriber>()
  /** The port subscription each core broker subscriber reads, by its id. */
  const claimed = new Map<number, Subscription>()
  const known: Array<Subscriber> = []
  const calls: Array<Call> = []
  const sent: Array<Sent> = []
  /** Bumped by everything reported: a check that saw it change looks again. */
  let version = 0
  const waiters = new Set<() => void>()
  let client: NatsClient.NatsClient["Service"] | undefined

  const changed = () => {
    version++
    for (const waiter of Array.from(waiters)) waiter()
  }

  const group = (queue: string) => {
    let found = groups.get(queue)
    if (found === undefined) groups.set(queue, found = { pending: 0 })
    return found
  }

  const groupHasSubscriber = (queue: string) =>
    subscriptions.some((s) => s.queue === queue && s.subscriber !== undefined)

  /** Counts a message to `subject` for its receivers; returns what to count back if it is refused. */
  const count = (subject: string): () => void => {
    const plain: Array<Subscription> = []
    const queues = new Set<string>()
    for (const subscription of subscriptions) {
      if (!subscription.matches(subject)) continue
      if (subscription.queue === undefined) plain.push(subscription)
      else queues.add(subscription.queue)
    }
    for (const subscription of plain) subscription.pending++
    for (const queue of queues) group(queue).pending++
    return () => {
      for (const subscription of plain) subscription.pending--
      for (const queue of queues) group(queue).pending--
      changed()
    }
  }

  /** Counts and records a message, sends it, and takes both back if the server refused it. */
  const sending = <A>(
    record: Sent,
    send: Effect.Effect<A, NatsError.NatsError>
  ): Effect.Effect<A, NatsError.NatsError> =>
    Effect.suspend(() => {
      const countBack = count(record.subject)
      // `$` subjects are the stores' own streams: not kept, so large objects are not held twice.
      if (!record.subject.startsWith("$")) sent.push(record)
      changed()
      return Effect.onExit(send, (exit) =>
        Effect.sync(() => {
          if (!refused(exit)) return
          const index = sent.lastIndexOf(record)
          if (index !== -1) sent.splice(index, 1)
          countBack()
        }))
    })

  const toSent = (
    kind: Sent["kind"],
    subject: string,
    data: Uint8Array,
    headersInput: NatsClient.HeadersInput | undefined,
    reply: string | undefined
  ): Sent => {
    const headers = headersInput === undefined ? undefined : NatsHeaders.fromInput(headersInput)
    return { kind, subject, data, headers, correlationId: NatsHeaders.get(headers, "correlation_id"), reply }
  }

  const wrapClient = (wrapped: NatsClient.NatsClient["Service"]): NatsClient.NatsClient["Service"] => {
    client = wrapped
    return NatsClient.NatsClient.of({
      ...wrapped,
      publish: (subject, data, options) =>
        sending(toSent("publish", subject, data, options?.headers, options?.reply), wrapped.publish(subject, data, options)),
      request: (subject, data, options) =>
        sending(toSent("request", subject, data, options?.headers, undefined), wrapped.request(subject, data, options)),
      subscribe: (subject, options) =>
        Effect.flatMap(wrapped.subscribe(subject, options), (messages) =>
          Effect.as(
            Effect.acquireRelease(
              Effect.sync(() => {
                const subscription: Subscription = {
                  subject,
                  queue: options?.queue,
                  matches: NatsSubject.matcher(subject),
                  pending: 0,
                  subscriber: undefined
                }
                subscriptions.push(subscription)
                return subscription
              }),
              (subscription) => Effect.sync(() => close(subscription))
            ),
            messages
          )),
      jetstream: {
        ...wrapped.jetstream,
        publish: (subject, data, options) =>
          sending(
            toSent("jetstream", subject, data, options?.headers, undefined),
            wrapped.jetstream.publish(subject, data, options)
          )
      }
    })
  }

  const close = (subscription: Subscription) => {
    const index = subscriptions.indexOf(subscription)
    if (index !== -1) subscriptions.splice(index, 1)
    const queue = subscription.queue
    // A group left without members: only the handlers still running will report.
    if (queue !== undefined && !groupHasSubscriber(queue)) {
      let handling = 0
      for (const [id, s] of claimed) if (s.queue === queue) handling += live.get(id)?.handling.size ?? 0
      group(queue).pending = handling
    }
    changed()
  }

  const observer: NatsBroker.Observer = {
    onSubscribed: (event) =>
      Effect.sync(() => {
        const subscriber: Subscriber = {
          id: event.id,
          name: event.subscriber,
          declaredSubject: event.subject,
          queue: event.queue,
          source: event.source,
          inFlight: event.inFlight,
          waitingForClock: event.waitingForClock,
          handling: new Set()
        }
        known.push(subscriber)
        live.set(event.id, subscriber)
        changed()
        if (event.source._tag !== "Subscription") return
        const subject = subscribedSubject(event.subject)
        for (let i = subscriptions.length - 1; i >= 0; i--) {
          const subscription = subscriptions[i]!
          if (subscription.subscriber !== undefined) continue
          if (subscription.subject !== subject || subscription.queue !== event.queue) continue
          subscription.subscriber = subscriber
          claimed.set(event.id, subscription)
          return
        }
      }),
    onUnsubscribed: (event) =>
      Effect.sync(() => {
        live.delete(event.id)
        changed()
      }),
    onReceived: (event) =>
      Effect.sync(() => {
        live.get(event.subscriberId)?.handling.add(event.message)
        changed()
      }),
    onHandled: (event) =>
      Effect.sync(() => {
        const subscriber = live.get(event.subscriberId) ?? known.find((s) => s.id === event.subscriberId)
        subscriber?.handling.delete(event.message)
        const subscription = claimed.get(event.subscriberId)
        if (subscription !== undefined) {
          if (subscription.queue === undefined) subscription.pending--
          else group(subscription.queue).pending--
        }
        const { message } = event
        calls.push({
          subscriber: message.subscriber,
          declaredSubject: subscriber?.declaredSubject ?? message.subscriber,
          subject: message.subject,
          payload: Option.getOrUndefined(event.payload),
          params: message.params,
          headers: message.headers,
          correlationId: message.correlationId,
          reply: message.reply,
          deliveryCount: "deliveryCount" in message && typeof message.deliveryCount === "number"
            ? message.deliveryCount
            : undefined,
          exit: event.exit
        })
        changed()
      })
  }

  const handlingOf = (subscriber: Subscriber) => Array.from(subscriber.handling, (message) => message.subject)

  /** Core messages sent to a subscriber (or its queue group) and not handled yet. */
  const corePending = (subscriber: Subscriber): number => {
    const subscription = claimed.get(subscriber.id)
    if (subscription === undefined) return 0
    return subscription.queue === undefined ? subscription.pending : group(subscription.queue).pending
  }

  /** Whether time is `TestClock`'s, and a redelivery held back for later waits for `TestClock.adjust`. */
  const virtualTime = () => client?.server.version.endsWith("-memory") ?? false

  /**
   * What a JetStream consumer has still to deliver or have acknowledged, in
   * words; `undefined` when nothing. `held`: messages its subscriber holds
   * for the clock, unacknowledged until then.
   */
  const consumerWaiting = (stream: string, consumer: string, held: number) =>
    Effect.map(gone(client!.jetstream.consumers.info(stream, consumer)), (found) => {
      if (Option.isNone(found)) return undefined
      const info = found.value
      const virtual = virtualTime()
      const undelivered = virtual && info.paused ? 0 : info.numPending
      const unacknowledged = info.numAckPending - held - (virtual ? info.numDelayed ?? 0 : 0)
      if (undelivered <= 0 && unacknowledged <= 0) return undefined
      return `its consumer "${consumer}" has ${undelivered} message(s) to deliver and ` +
        `${unacknowledged} unacknowledged`
    })

  /** The first stored message a watch has not read yet, in words; `undefined` when it has read them all. */
  const watchWaiting = (stream: string, subjects: ReadonlyArray<string>, position: number) =>
    Effect.map(
      Effect.forEach(subjects, (subject) => gone(client!.jetstream.getMessage(stream, { nextBySubject: subject, seq: position + 1 }))),
      (found) => {
        const next = found.flatMap((message) => Option.isSome(message) ? Option.toArray(message.value) : [])
        if (next.length === 0) return undefined
        const first = next.reduce((a, b) => a.seq <= b.seq ? a : b)
        return `it has read its stream "${stream}" up to ${position}; ${first.seq} (${first.subject}) is next`
      }
    )

  /** What one subscriber still has to do, in words; `undefined` when nothing. */
  const waitingOf = (subscriber: Subscriber): Effect.Effect<string | undefined, NatsError.NatsError> => {
    const held = subscriber.waitingForClock()
    const working = subscriber.inFlight() - held
    if (working > 0) return Effect.succeed(`${working} message(s) taken and not finished`)
    const pending = corePending(subscriber)
    if (pending > 0) return Effect.succeed(`${pending} message(s) sent to it and not handled`)
    // Only messages that reached it without being counted: sent around the test's client.
    if (pending < 0) return Effect.succeed(`${-pending} message(s) handled that were not sent through the test's NatsClient`)
    const { source } = subscriber
    switch (source._tag) {
      case "Consumer":
        return consumerWaiting(source.stream, source.consumer, held)
      case "Watch":
        return watchWaiting(source.stream, source.subjects, source.position())
      default:
        return Effect.succeed(undefined)
    }
  }

  const check: Effect.Effect<ReadonlyArray<Busy>, NatsError.NatsError> = Effect.gen(function*() {
    const before = version
    const busy: Array<Busy> = []
    const reportedQueues = new Set<string>()
    for (const subscriber of Array.from(live.values())) {
      // A queue group is one receiver: reported once.
      if (subscriber.queue !== undefined && reportedQueues.has(subscriber.queue)) continue
      const waiting = yield* waitingOf(subscriber)
      if (waiting === undefined) continue
      if (subscriber.queue !== undefined) reportedQueues.add(subscriber.queue)
      busy.push({
        subscriber: subscriber.name,
        subject: subscriber.declaredSubject,
        queue: subscriber.queue,
        waiting,
        handling: handlingOf(subscriber)
      })
    }
    // Something happened while the servers answered: what they said may be stale.
    if (busy.length === 0 && version !== before) return yield* check
    return busy
  })

  const nextChange = (millis: number): Effect.Effect<void> =>
    Effect.callback<void>((resume) => {
      const waiter = () => {
        waiters.delete(waiter)
        clearTimeout(timer)
        resume(Effect.void)
      }
      // Real time: under TestClock a virtual sleep would never end.
      const timer = setTimeout(waiter, millis)
      waiters.add(waiter)
      return Effect.sync(() => {
        waiters.delete(waiter)
        clearTimeout(timer)
      })
    })

  const clear = () => {
    calls.length = 0
    sent.length = 0
  }

  return {
    wrapClient,
    observer,
    busy: Effect.suspend(() => check),
    nextChange,
    clear,
    calls: () => calls.slice(),
    sent: () => sent.slice(),
    subscribers: () => known.slice()
  }
}
