/**
 * A subscriber's answers to requests, in one place: the reply with the
 * handler's result, the error reply with a failure's tag and text (FastStream's
 * convention: the `nats-effect-error` header), each told to the observer.
 */
import { Cause, Effect, Option, Predicate } from "effect"
import type { NatsClient } from "../../NatsClient.ts"
import * as NatsHeaders from "../../NatsHeaders.ts"
import type { Message } from "../../NatsMessage.ts"
import * as Codec from "./codec.ts"
import type { Observer } from "./observer.ts"
import { bodyOf, Response } from "./response.ts"

/**
 * What an error reply tells the requester about a failure cause: a typed
 * failure's tag and message; for a defect only `internal error` and the
 * correlation id, since its text is the responder's internals (a connection
 * string, a stack) and stays in the responder's log.
 */
export const errorReply = (cause: Cause.Cause<unknown>, correlationId: string): { tag: string; text: string } => {
  if (Cause.hasInterruptsOnly(cause)) return { tag: "Interrupted", text: "the handler was interrupted" }
  const error = Cause.findErrorOption(cause)
  if (Option.isNone(error)) return { tag: "Defect", text: `internal error (correlation id ${correlationId})` }
  const value: unknown = error.value
  const tag = Predicate.hasProperty(value, "_tag") && typeof value._tag === "string" ? value._tag : "Error"
  return { tag, text: Predicate.hasProperty(value, "message") ? String(value.message) : String(value) }
}

/** Headers of an error reply: the error's tag, and the request's correlation id. */
export const errorReplyHeaders = (tag: string, correlationId: string) => ({
  [Codec.ErrorHeader]: tag,
  [Codec.ContentTypeHeader]: Codec.ContentTypeText,
  [Codec.CorrelationIdHeader]: correlationId
})

export interface Replies {
  /** Answers `message` with the handler's result, encoded by `encode`; a message without a reply subject is not. */
  readonly reply: (message: Message, value: unknown, encode: Codec.Encoder) => Effect.Effect<void>
  /** Answers `message` with an error reply; a message without a reply subject is not. */
  readonly replyError: (message: Message, tag: string, text: string) => Effect.Effect<void>
}

/** `silent`: a subscriber that never replies (`noReply`). */
export const make = (client: NatsClient["Service"], observer: Observer | undefined, silent: boolean): Replies => {
  if (silent) return { reply: () => Effect.void, replyError: () => Effect.void }
  const onPublished = observer?.onPublished
  const send = (
    message: Message & { readonly reply: string },
    data: Uint8Array,
    headers: Record<string, string | ReadonlyArray<string>>,
    correlationId: string
  ) => {
    const published = client.publish(message.reply, data, { headers })
    return onPublished === undefined ? published : Effect.andThen(
      published,
      Effect.suspend(() =>
        onPublished({
          kind: "reply",
          subject: message.reply,
          payload: undefined,
          data,
          headers: NatsHeaders.fromInput(headers),
          correlationId,
          reply: undefined,
          parent: message
        })
      )
    )
  }

  const replyError = (message: Message, tag: string, text: string): Effect.Effect<void> =>
    message.reply === undefined ? Effect.void : send(
      message as Message & { readonly reply: string },
      Codec.fromUtf8(text),
      errorReplyHeaders(tag, message.correlationId),
      message.correlationId
    ).pipe(Effect.catchCause((cause) => Effect.logError("could not send the error reply", cause)))

  const reply = (message: Message, value: unknown, encode: Codec.Encoder): Effect.Effect<void> => {
    if (message.reply === undefined) return Effect.void
    const body = bodyOf(value)
    // A handler that returns nothing answers with an empty message, whatever its response Schema.
    const encoded = body === undefined ? Codec.encodeValue(undefined) : encode(body)
    if (encoded._tag === "Failure") {
      const text = `the reply could not be encoded: ${encoded.failure}`
      return Effect.andThen(Effect.logError(text), replyError(message, "EncodeError", text))
    }
    // A `Response`'s headers over ours, its correlation id over the request's.
    const correlationId = value instanceof Response && value.correlationId !== undefined
      ? value.correlationId
      : message.correlationId
    const headers: Record<string, string | ReadonlyArray<string>> = {}
    if (encoded.success.contentType !== undefined) headers[Codec.ContentTypeHeader] = encoded.success.contentType
    if (value instanceof Response && value.headers !== undefined) Object.assign(headers, value.headers)
    headers[Codec.CorrelationIdHeader] = correlationId
    return send(message as Message & { readonly reply: string }, encoded.success.data, headers, correlationId).pipe(
      Effect.catchCause((cause) => Effect.logError("could not send the reply", cause))
    )
  }

  return { reply, replyError }
}
