/**
 * The demo: two runners and a client on one NATS (in one process here; in
 * production, each runner is a process of its own: `runner.ts`). Fills a
 * cart and checks it out.
 */
import type { NatsClient, NatsError } from "@nats-effect/core"
import type { KeyValueError } from "@nats-effect/kv"
import { Effect, Layer } from "effect"
import type { ClusterError } from "effect/cluster"
import { client, runner } from "./cluster.ts"
import { Cart, Checkout, type CheckoutFailed, type Receipt } from "./shop.ts"

export const demo = Effect.gen(function*() {
  const carts = yield* Cart.client
  const cart = carts("cart-1")
  yield* cart.AddItem({ sku: "mug", quantity: 2 })
  const filled = yield* cart.AddItem({ sku: "tea", quantity: 1 })
  yield* Effect.log(`cart-1 is on ${filled.servedBy}: ${filled.lines.map((l) => `${l.quantity} ${l.sku}`).join(", ")}`)
  const receipt = yield* Checkout.execute({ orderId: "order-1", cartId: "cart-1" })
  yield* Effect.log(`order-1: ${receipt.items} items, card charged on ${receipt.chargedBy}`)
  return receipt
})

/** Runs the demo on `nats`: two runners and a client. */
export const run = <E>(
  nats: Layer.Layer<NatsClient.NatsClient, E>
): Effect.Effect<
  typeof Receipt.Type,
  | E
  | CheckoutFailed
  | KeyValueError.KeyValueError
  | NatsError.NatsError
  | ClusterError.PersistenceError
  | ClusterError.EntityNotAssignedToRunner
  | ClusterError.MailboxFull
  | ClusterError.AlreadyProcessingMessage
> =>
  demo.pipe(
    Effect.provide(Layer.mergeAll(runner("runner-a"), runner("runner-b"), client()).pipe(Layer.provide(nats)))
  )
