/**
 * The shop on the in-memory NATS, in one process: two runners and a client.
 * 100 carts answered, by both runners; a cart filled; a checkout completes,
 * each of its steps run once.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { Effect, Layer, Queue, Schedule, Schema, Stream } from "effect"
import { client, runner } from "../src/cluster.ts"
import { Cart, Checkout, StepEvent } from "../src/shop.ts"

describe("the cluster example on the in-memory NATS", () => {
  it.live("two runners serve 100 carts between them; a checkout runs each step once", () =>
    Effect.gen(function*() {
      const nats = yield* NatsClient.NatsClient
      const events = yield* Queue.unbounded<{ readonly subject: string; readonly event: typeof StepEvent.Type }>()
      const decode = Schema.decodeUnknownSync(Schema.fromJsonString(StepEvent))
      yield* Effect.forkScoped(Stream.runForEach(yield* nats.subscribe("shop.>"), (msg) =>
        Queue.offer(events, { subject: msg.subject, event: decode(new TextDecoder().decode(msg.data)) })))

      const carts = yield* Cart.client
      // Once both runners hold shards (the second to start takes its share from the first).
      const views = yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => `cart-${i}`),
        (cartId) => carts(cartId).GetCart(),
        { concurrency: 20 }
      ).pipe(
        Effect.repeat({
          schedule: Schedule.spaced("500 millis"),
          until: (views) => new Set(views.map((view) => view.servedBy)).size === 2
        }),
        Effect.timeout("30 seconds")
      )
      assert.strictEqual(views.length, 100)

      yield* carts("cart-1").AddItem({ sku: "mug", quantity: 2 })
      const filled = yield* carts("cart-1").AddItem({ sku: "mug", quantity: 1 })
      assert.deepStrictEqual(filled.lines, [{ sku: "mug", quantity: 3 }])

      const receipt = yield* Checkout.execute({ orderId: "order-1", cartId: "cart-1" })
      assert.strictEqual(receipt.items, 3)
      const steps = yield* Queue.takeAll(events)
      assert.deepStrictEqual(steps.map((step) => [step.subject, step.event.orderId, step.event.items]), [
        ["shop.stock.reserved", "order-1", 3],
        ["shop.card.charged", "order-1", 3]
      ])
      assert.strictEqual(steps[1]!.event.runner, receipt.chargedBy)
    }).pipe(
      Effect.provide(
        Layer.mergeAll(runner("runner-a"), runner("runner-b"), client()).pipe(Layer.provideMerge(NatsClient.layerMemory()))
      )
    ), { timeout: 60_000 })
})
