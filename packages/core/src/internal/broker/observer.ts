/**
 * Events a broker reports to an observer (see `NatsBroker.Observer`).
 */
import { Effect, type Exit, type Option } from "effect"
import type { Headers } from "../../NatsClient.ts"
import type { Message } from "../../NatsMessage.ts"

export interface SubscribedEvent {
  /** Tells this subscriber apart in the other events (names may repeat); unique in the process. */
  readonly id: number
  /** The subscriber's name. */
  readonly subscriber: string
  /** The subject as declared (with `{param}` templates). */
  readonly subject: string
  readonly queue: string | undefined
  /** Where its messages come from, so that an observer can tell what is still to come. */
  readonly source: SubscriberSource
  /**
   * The messages it has taken from its source and not finished with: waiting
   * for a worker, being handled, answered or settled.
   */
  readonly inFlight: () => number
  /**
   * Of those, the ones that wait only for time to pass (in a batch that
   * fills until its timeout), on the broker's `Clock`.
   */
  readonly waitingForClock: () => number
}

/**
 * Where a subscriber's messages come from: a core subscription; a JetStream
 * consumer (what it has not delivered, or not had acknowledged, is still to
 * come); a watch of a stream's subjects, read up to `position()` (the
 * stream sequence of the last message it took, or where it started); or a
 * watch that does not say where it reads.
 */
export type SubscriberSource =
  | { readonly _tag: "Subscription" }
  | { readonly _tag: "Consumer"; readonly stream: string; readonly consumer: string }
  | {
    readonly _tag: "Watch"
    readonly stream: string
    readonly subjects: ReadonlyArray<string>
    readonly position: () => number
  }
  | { readonly _tag: "Unknown" }

export interface ReceivedEvent {
  /** The `id` of the subscriber, as in its `SubscribedEvent`. */
  readonly subscriberId: number
  readonly message: Message
}

export interface HandledEvent {
  /** The `id` of the subscriber, as in its `SubscribedEvent`. */
  readonly subscriberId: number
  readonly message: Message
  /** The decoded payload; `None` when the message could not be decoded (or its handler was cut at shutdown). */
  readonly payload: Option.Option<unknown>
  /**
   * How handling ended: the handler's reply (or `undefined`) on success; its
   * failure, defect or interruption otherwise; for a payload that could not be
   * decoded, a failure `{ _tag: "DecodeError", message }`. Any reply has been
   * published when this is reported.
   */
  readonly exit: Exit.Exit<unknown, unknown>
}

export interface PublishedEvent {
  /** `publish` and `request` through the broker, or a subscriber's `reply`. */
  readonly kind: "publish" | "request" | "reply"
  readonly subject: string
  /** The value given to `publish` / `request` (before encoding); `undefined` for replies. */
  readonly payload: unknown
  readonly data: Uint8Array
  readonly headers: Headers
  readonly correlationId: string
  /** The reply subject the message carried. */
  readonly reply: string | undefined
  /** The message being handled when this was published (a handler publishing in turn), if any. */
  readonly parent: Message | undefined
}

/** A subscriber stopped: it takes no more messages and is done with those it took. */
export interface UnsubscribedEvent {
  /** The `id` of the subscriber, as in its `SubscribedEvent`. */
  readonly id: number
}

export interface Observer {
  readonly onSubscribed?: ((event: SubscribedEvent) => Effect.Effect<void>) | undefined
  readonly onUnsubscribed?: ((event: UnsubscribedEvent) => Effect.Effect<void>) | undefined
  readonly onReceived?: ((event: ReceivedEvent) => Effect.Effect<void>) | undefined
  readonly onHandled?: ((event: HandledEvent) => Effect.Effect<void>) | undefined
  readonly onPublished?: ((event: PublishedEvent) => Effect.Effect<void>) | undefined
}

/** `effect`, then what the observer's `on` makes of the event, when it listens for it. */
export const notify = <E>(
  effect: Effect.Effect<void>,
  on: ((event: E) => Effect.Effect<void>) | undefined,
  event: () => E
): Effect.Effect<void> => on === undefined ? effect : Effect.andThen(effect, Effect.suspend(() => on(event())))
