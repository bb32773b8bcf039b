/**
 * The bookkeeping behind `NatsTest`: which broker subscribers are live, how
 * many messages each still has to handle, what was published, and what the
 * handlers were called with.
 *
 * Counting. The `NatsClient` the app runs on is wrapped: every message sent
 * through it is counted *before* it is sent, once for each live subscription
 * whose subject matches it, and once for each queue group with a matching
 * member (one member gets it). When the server refuses it (invalid subject,
 * too large, bad headers: nothing was delivered) it is counted back. A broker
 * subscriber reports each message it is done with (`onHandled`), which counts
 * it back too. A handler publishes in turn before it is done with its own
 * message, so when every count is at zero, every message and everything it
 * caused have been handled, whatever order the fibers ran in.
 *
 * Port subscriptions are matched to broker subscribers when the broker reports
 * them (`onSubscribed`, right after it subscribed): the latest unclaimed
 * subscription on the same subject and queue. Subscriptions never claimed (an
 * app's own raw subscriptions) are not waited for. A subscription is no longer
 * waited for once it is closed.
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
  /** Messages sent to it (to its queue group) and not yet handled. */
  readonly pending: number
  /** Subjects of the messages its handlers are working on now. */
  readonly handling: ReadonlyArray<string>
}

interface Subscriber {
  readonly id: number
  readonly name: string
  readonly declaredSubject: string
  readonly queue: string | undefined
}

interface Subscription {
  readonly subject: string
  readonly queue: string | undefined
  readonly matches: (subject: string) => boolean
  /** Messages counted for it and not handled yet (plain subscriptions; queue groups count per group). */
  pending: number
  /** The broker subscriber reading it, once it has reported itself. */
  subscriber: Subscriber | undefined
  readonly handling: Set<NatsMessage.Message>
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

export interface Recorder {
  /** The client the app runs on: counts and records what is sent, follows subscriptions. */
  readonly wrapClient: (client: NatsClient.NatsClient["Service"]) => NatsClient.NatsClient["Service"]
  /** What the brokers report to. */
  readonly observer: NatsBroker.Observer
  /** Calls `callback` once idle (at once when idle now); returns how to cancel it. */
  readonly whenIdle: (callback: () => void) => () => void
  /** The broker subscribers that still have messages to handle. */
  readonly busy: () => ReadonlyArray<Busy>
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
  const subscribers = new Map<number, Subscription>()
  const known: Array<Subscriber> = []
  const calls: Array<Call> = []
  const sent: Array<Sent> = []
  const idleWaiters = new Set<() => void>()

  const group = (queue: string) => {
    let found = groups.get(queue)
    if (found === undefined) groups.set(queue, found = { pending: 0 })
    return found
  }

  const groupHasSubscriber = (queue: string) =>
    subscriptions.some((s) => s.queue === queue && s.subscriber !== undefined)

  const isIdle = (): boolean => {
    for (const subscription of subscriptions) {
      if (subscription.subscriber !== undefined && subscription.queue === undefined && subscription.pending !== 0) {
        return false
      }
    }
    for (const [queue, { pending }] of groups) {
      if (pending !== 0 && groupHasSubscriber(queue)) return false
    }
    return true
  }

  const notify = () => {
    if (idleWaiters.size === 0 || !isIdle()) return
    for (const waiter of Array.from(idleWaiters)) waiter()
  }

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
      notify()
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

  const wrapClient = (client: NatsClient.NatsClient["Service"]): NatsClient.NatsClient["Service"] =>
    NatsClient.NatsClient.of({
      ...client,
      publish: (subject, data, options) =>
        sending(toSent("publish", subject, data, options?.headers, options?.reply), client.publish(subject, data, options)),
      request: (subject, data, options) =>
        sending(toSent("request", subject, data, options?.headers, undefined), client.request(subject, data, options)),
      subscribe: (subject, options) =>
        Effect.flatMap(client.subscribe(subject, options), (messages) =>
          Effect.as(
            Effect.acquireRelease(
              Effect.sync(() => {
                const subscription: Subscription = {
                  subject,
                  queue: options?.queue,
                  matches: NatsSubject.matcher(subject),
                  pending: 0,
                  subscriber: undefined,
                  handling: new Set()
                }
                subscriptions.push(subscription)
                return subscription
              }),
              (subscription) => Effect.sync(() => close(subscription))
            ),
            messages
          )),
      jetstream: {
        ...client.jetstream,
        publish: (subject, data, options) =>
          sending(toSent("jetstream", subject, data, options?.headers, undefined), client.jetstream.publish(subject, data, options))
      }
    })

  const close = (subscription: Subscription) => {
    const index = subscriptions.indexOf(subscription)
    if (index !== -1) subscriptions.splice(index, 1)
    const queue = subscription.queue
    // A group left without members: only the handlers still running will report.
    if (queue !== undefined && !groupHasSubscriber(queue)) {
      let handling = 0
      for (const s of subscribers.values()) if (s.queue === queue) handling += s.handling.size
      group(queue).pending = handling
    }
    notify()
  }

  const observer: NatsBroker.Observer = {
    onSubscribed: (event) =>
      Effect.sync(() => {
        const subscriber: Subscriber = {
          id: event.id,
          name: event.subscriber,
          declaredSubject: event.subject,
          queue: event.queue
        }
        known.push(subscriber)
        const subject = subscribedSubject(event.subject)
        for (let i = subscriptions.length - 1; i >= 0; i--) {
          const subscription = subscriptions[i]!
          if (subscription.subscriber !== undefined) continue
          if (subscription.subject !== subject || subscription.queue !== event.queue) continue
          subscription.subscriber = subscriber
          subscribers.set(event.id, subscription)
          return
        }
      }),
    onReceived: (event) =>
      Effect.sync(() => {
        subscribers.get(event.subscriberId)?.handling.add(event.message)
      }),
    onHandled: (event) =>
      Effect.sync(() => {
        const subscription = subscribers.get(event.subscriberId)
        if (subscription !== undefined) {
          subscription.handling.delete(event.message)
          if (subscription.queue === undefined) subscription.pending--
          else group(subscription.queue).pending--
        }
        const subscriber = subscription?.subscriber ?? known.find((s) => s.id === event.subscriberId)
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
          exit: event.exit
        })
        notify()
      })
  }

  const busy = (): ReadonlyArray<Busy> => {
    const out: Array<Busy> = []
    const reportedQueues = new Set<string>()
    for (const subscription of subscriptions) {
      const subscriber = subscription.subscriber
      if (subscriber === undefined) continue
      const queue = subscription.queue
      if (queue !== undefined && reportedQueues.has(queue)) continue
      const pending = queue === undefined ? subscription.pending : group(queue).pending
      if (pending === 0) continue
      if (queue !== undefined) reportedQueues.add(queue)
      const members = queue === undefined
        ? [subscription]
        : subscriptions.filter((s) => s.queue === queue && s.subscriber !== undefined)
      out.push({
        subscriber: subscriber.name,
        subject: subscriber.declaredSubject,
        queue,
        pending,
        handling: members.flatMap((s) => Array.from(s.handling, (m) => m.subject))
      })
    }
    return out
  }

  const whenIdle = (callback: () => void): () => void => {
    if (isIdle()) {
      callback()
      return () => undefined
    }
    const waiter = () => {
      idleWaiters.delete(waiter)
      callback()
    }
    idleWaiters.add(waiter)
    return () => idleWaiters.delete(waiter)
  }

  const clear = () => {
    calls.length = 0
    sent.length = 0
  }

  return {
    wrapClient,
    observer,
    whenIdle,
    busy,
    clear,
    calls: () => calls.slice(),
    sent: () => sent.slice(),
    subscribers: () => known.slice()
  }
}
