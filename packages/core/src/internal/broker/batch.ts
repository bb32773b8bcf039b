/**
 * The dispatcher's path for a batch: its payloads decoded (what does not
 * decode is settled as such and left out), the handler called once with the
 * rest, each message then settled with the batch's outcome. A batch is
 * handled in one context: the subscriber's log annotations and the batch
 * size (its messages' subjects and correlation ids differ), no
 * `NatsMessage`, and when tracing one consumer span. Batches have no replies.
 */
import { Effect, Exit, Option } from "effect"
import type { Message } from "../../NatsMessage.ts"
import * as Codec from "./codec.ts"
import * as Dispatch from "./dispatch.ts"
import { secondsSince } from "./metrics.ts"
import { notify } from "./observer.ts"
import * as Replies from "./replies.ts"

/** A batch subscriber's handler: the decoded payloads of a batch, and their messages (same order). */
export type BatchHandler<A, M extends Message> = (
  payloads: ReadonlyArray<A>,
  messages: ReadonlyArray<M>
) => Effect.Effect<unknown, unknown, unknown>

export const handle = <A, M extends Message>(context: Dispatch.Context<A, M>, handler: BatchHandler<A, M>) =>
(messages: ReadonlyArray<M>): Effect.Effect<void> => {
  const { metrics, observer, subscriberId, template } = context
  metrics.received.count += messages.length
  const start = performance.now()
  const payloads: Array<A> = []
  const decodedMessages: Array<M> = []
  const undecodable: Array<Effect.Effect<void>> = []
  for (const message of messages) {
    const decoded = context.decode(message.data, message.contentType, message)
    if (decoded instanceof Codec.DecodeFailure) {
      metrics.failed("DecodeError", 1, secondsSince(start))
      undecodable.push(
        context.settled(context.withMessage(context.onDecodeFailure(message, decoded.reason), message, undefined), message, decoded)
      )
    } else {
      payloads.push(decoded)
      decodedMessages.push(message)
    }
  }
  const rejected = Effect.all(undecodable, { discard: true })
  if (payloads.length === 0) return rejected
  const settleAll = (exit: Exit.Exit<unknown, unknown>) =>
    Effect.forEach(decodedMessages, (message, i) =>
      context.settled(
        notify(Effect.void, observer?.onHandled, () => ({ subscriberId, message, payload: Option.some(payloads[i]!), exit })),
        message,
        exit
      ), { discard: true })
  // One handling of the batch: one duration, its messages counted.
  const body = Effect.matchCauseEffect(Dispatch.call(() => handler(payloads, decodedMessages)), {
    onSuccess: (value) => {
      metrics.succeeded(payloads.length, secondsSince(start))
      return settleAll(Exit.succeed(value))
    },
    onFailure: (cause) => {
      const { tag, text } = Replies.errorReply(cause, decodedMessages[0]!.correlationId)
      metrics.failed(tag, payloads.length, secondsSince(start))
      return Effect.andThen(context.logFailure(cause, tag, text), settleAll(Exit.failCause(cause)))
    }
  }).pipe(
    Effect.annotateLogs({ subscriber: context.name, batch_size: payloads.length })
  )
  const onReceived = observer?.onReceived
  const received = onReceived === undefined
    ? body
    : Effect.andThen(Effect.forEach(decodedMessages, (message) => onReceived({ subscriberId, message })), body)
  const traced = !context.tracing ? received : Effect.withSpan(received, `process ${template.template}`, {
    kind: "consumer",
    root: true,
    attributes: {
      "messaging.system": "nats",
      "messaging.operation.type": "process",
      "messaging.destination.template": template.template,
      "messaging.batch.message_count": payloads.length
    }
  })
  return Effect.andThen(rejected, traced)
}
