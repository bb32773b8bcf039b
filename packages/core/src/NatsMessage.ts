/**
 * `NatsMessage`: the message a subscriber is handling, as a service. The
 * broker provides it to each handler invocation, so code anywhere in the
 * handler's call tree can read it with `yield* NatsMessage.NatsMessage`
 * instead of threading it through arguments.
 *
 * @since 0.1.0
 */
import { Context } from "effect"
import type { Headers } from "./NatsClient.ts"

/** A received message, as the broker hands it to a handler. */
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

export class NatsMessage extends Context.Service<NatsMessage, Message>()("@nats-effect/core/NatsMessage") {}
