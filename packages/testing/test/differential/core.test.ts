/**
 * Core NATS, the in-memory NATS against nats-server: subscriptions with
 * wildcards and queue groups come and go while messages are published; each
 * plain subscriber receives each matching message once, in order, and each
 * queue group (its members on every subject that matches) one copy.
 */
import { describe } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { Effect, Exit, Scope, Stream } from "effect"
import * as fc from "fast-check"
import { bytes, text } from "../../src/internal/fixtures.ts"
import { differential } from "./harness.ts"

type Op =
  | { readonly op: "subscribe"; readonly subject: string; readonly queue: string | undefined }
  | { readonly op: "unsubscribe"; readonly index: number }
  | { readonly op: "publish"; readonly subject: string }

const tokens = fc.array(fc.constantFrom("a", "b", "c"), { minLength: 1, maxLength: 3 })
const pattern = fc.tuple(fc.array(fc.constantFrom("a", "b", "*"), { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([parts, rest]) => (rest ? [...parts, ">"] : parts).join("."))

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({ op: fc.constant("subscribe"), subject: pattern, queue: fc.constantFrom(undefined, "q1", "q2") }),
    weight: 2
  },
  { arbitrary: fc.record({ op: fc.constant("unsubscribe"), index: fc.nat(7) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("publish"), subject: tokens.map((parts) => parts.join(".")) }), weight: 4 }
)

interface Subscription {
  readonly subject: string
  readonly queue: string | undefined
  readonly scope: Scope.Closeable
  readonly messages: Stream.Stream<NatsClient.Msg, unknown>
}

describe("differential: core publish/subscribe", () => {
  differential({
    name: "wildcards and queue groups: each plain subscriber gets each message once, each queue group one copy",
    input: fc.array(op, { minLength: 1, maxLength: 30 }),
    run: (ops, { id }) =>
      Effect.gen(function*() {
        const nats = yield* NatsClient.NatsClient
        const subscriptions: Array<Subscription> = []
        for (const [index, next] of ops.entries()) {
          if (next.op === "subscribe") {
            const scope = yield* Scope.make()
            const messages = yield* Scope.provide(nats.subscribe(`${id}.${next.subject}`, { queue: next.queue }), scope)
            subscriptions.push({ subject: next.subject, queue: next.queue, scope, messages })
          } else if (next.op === "unsubscribe") {
            // What was published before reaches it first: a client drops what arrives after it unsubscribed.
            yield* nats.flush
            const subscription = subscriptions[next.index % subscriptions.length]
            if (subscription !== undefined) yield* Scope.close(subscription.scope, Exit.void)
          } else {
            yield* nats.publish(`${id}.${next.subject}`, bytes(String(index)))
          }
        }
        // Everything published has reached the subscriptions once the server answered.
        yield* nats.flush
        const received = yield* Effect.forEach(subscriptions, (subscription) =>
          Effect.andThen(
            Scope.close(subscription.scope, Exit.void),
            Effect.map(Stream.runCollect(subscription.messages), (messages) =>
              messages.map((msg) => `${msg.subject.slice(id.length + 1)}#${text(msg.data)}`))
          ))
        const plain = subscriptions.flatMap((subscription, i) =>
          subscription.queue === undefined ? [{ subject: subscription.subject, received: received[i] }] : []
        )
        // Which member of a group gets a message is the server's choice: the
        // group's copies, and each member's in publish order.
        const byIndex = (message: string) => Number(message.split("#")[1])
        const groups = Object.fromEntries(["q1", "q2"].map((queue) => {
          const members = received.filter((_, i) => subscriptions[i]!.queue === queue)
          return [queue, {
            received: members.flat().sort((a, b) => byIndex(a) - byIndex(b)),
            inOrder: members.every((messages) =>
              messages.every((message, i) => i === 0 || byIndex(messages[i - 1]!) < byIndex(message))
            )
          }]
        }))
        return { plain, groups }
      })
  })
})
