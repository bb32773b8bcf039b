/**
 * `NatsMessage`: the message a subscriber is handling, as a service. The
 * broker provides it to each handler invocation, so code anywhere in the
 * handler's call tree can read it with `yield* NatsMessage.NatsMessage`
 * instead of threading it through arguments.
 *
 * @since 0.1.0
 * @module
 */
import type { Duration, Effect } from "effect"
import { Context } from "effect"
import type { Headers } from "./NatsClient.ts"
import type { NatsError } from "./NatsError.ts"

/**
 * A received message, as the broker hands it to a handler.
 *
 * @since 0.1.0
 * @category models
 */
export interface Message {
  /** The subject it was published to (not the subscribed pattern). */
  readonly subject: string
  /** Values of the subscription's `{param}` tokens, e.g. `{ level: "info" }` for `logs.{level}`. */
  readonly params: Readonly<Record<string, string>>
  /** Its headers; an empty record when it had none. */
  readonly headers: Headers
  /** Where a reply goes, when the publisher expects one. */
  readonly reply: string | undefined
  /** The `correlation_id` header, or one generated for this message when it had none. */
  readonly correlationId: string
  /** The raw body. */
  readonly data: Uint8Array
  /** The `content-type` header. */
  readonly contentType: string | undefined
  /** The name of the subscriber handling it. */
  readonly subscriber: string
}

/**
 * A message delivered by a JetStream subscriber's consumer, with its
 * acknowledgement. What the handler settles itself (`ack`, `ackSync`, `nak`,
 * `term`) the subscriber does not settle again after it.
 *
 * @since 0.1.0
 * @category models
 */
export interface JetStreamMessage extends Message {
  /** The stream it is stored in. */
  readonly stream: string
  /** Its sequence in the stream. */
  readonly sequence: number
  /** 1 on the first delivery, 2 on the first redelivery, ... */
  readonly deliveryCount: number
  readonly redelivered: boolean
  /** When the stream stored it. */
  readonly timestamp: Date
  /** Acknowledges it: it will not be delivered again. */
  readonly ack: Effect.Effect<void, NatsError>
  /** Acknowledges it and waits until the server has processed the acknowledgement. */
  readonly ackSync: Effect.Effect<void, NatsError>
  /**
   * Asks for a redelivery, after `delay` when given. On a consumer with a
   * `backoff` the server adds `delay` to the backoff entry's timer rather
   * than using it instead (the subscriber's own retries do not nak then).
   */
  readonly nak: (delay?: Duration.Input) => Effect.Effect<void, NatsError>
  /** Never delivers it again (the reason goes to the server from nats-server 2.11). */
  readonly term: (reason?: string) => Effect.Effect<void, NatsError>
  /** Still working on it: restarts the server's ack-wait timer. */
  readonly inProgress: Effect.Effect<void, NatsError>
}

/**
 * Whether a message came from a JetStream subscriber.
 *
 * @since 0.1.0
 * @category guards
 */
export const isJetStream = (message: Message): message is JetStreamMessage => "sequence" in message

/**
 * The message being handled, provided to a subscriber's handler.
 *
 * @since 0.1.0
 * @category services
 */
export class NatsMessage extends Context.Service<NatsMessage, Message>()("@nats-effect/core/NatsMessage") {}
