/**
 * A shop on Effect Cluster, with NATS as its only infrastructure.
 *
 * - `Cart`, an entity: one per cart id, on whichever runner holds its shard.
 *   Its lines are kept in the KV bucket `carts`, so a cart survives its
 *   runner. `AddItem` is persisted: kept in JetStream until a runner has
 *   handled it, even one that takes the cart over after its runner died.
 * - `Checkout`, a workflow: reserve the stock, wait a grace period (the
 *   customer may still cancel), charge the card. Each step is an activity,
 *   run once even when the runner dies in between: the other runner resumes
 *   the workflow after the last step done. Each step publishes an event
 *   (`shop.stock.reserved`, `shop.card.charged`).
 *
 * Replies say which runner served them (`servedBy`), to see the shards move.
 */
import { NatsBroker } from "@nats-effect/core"
import { KeyValue } from "@nats-effect/kv"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { ClusterSchema, Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"
import { Activity, DurableClock, Workflow } from "effect/workflow"

/** The runner a process is, as replies name it. */
export class RunnerName extends Context.Service<RunnerName, string>()("shop/RunnerName") {}

export const Line = Schema.Struct({ sku: Schema.String, quantity: Schema.Int })
export const CartLines = Schema.Struct({ lines: Schema.Array(Line) })
export const CartView = Schema.Struct({ cartId: Schema.String, lines: Schema.Array(Line), servedBy: Schema.String })

/** The carts' lines, by cart id. */
export class Carts extends KeyValue.Service<Carts>()("shop/Carts", { bucket: "carts", schema: CartLines }) {}

export const Cart = Entity.make("Cart", [
  Rpc.make("AddItem", { payload: Line, success: CartView }).annotate(ClusterSchema.Persisted, true),
  Rpc.make("GetCart", { success: CartView })
])

export const CartLive = Cart.toLayer(Effect.gen(function*() {
  const { entityId } = yield* Entity.CurrentAddress
  const carts = yield* Carts
  const servedBy = yield* RunnerName
  const lines = Effect.map(carts.get(entityId), (entry) =>
    Option.match(entry, { onNone: () => [], onSome: ({ value }) => value.lines }))
  const view = (lines: ReadonlyArray<typeof Line.Type>) => ({ cartId: entityId, lines, servedBy })
  return Cart.of({
    AddItem: ({ payload }) =>
      Effect.gen(function*() {
        const current = yield* lines
        const next = current.some((line) => line.sku === payload.sku)
          ? current.map((line) => line.sku === payload.sku ? { ...line, quantity: line.quantity + payload.quantity } : line)
          : [...current, payload]
        yield* carts.put(entityId, { lines: next })
        return view(next)
      }).pipe(Effect.orDie),
    GetCart: () => Effect.map(lines, view).pipe(Effect.orDie)
  })
}))

export const Order = Schema.Struct({ orderId: Schema.String, cartId: Schema.String })
export const Receipt = Schema.Struct({ orderId: Schema.String, items: Schema.Int, chargedBy: Schema.String })

export class CheckoutFailed extends Schema.TaggedError<CheckoutFailed>()("CheckoutFailed", { reason: Schema.String }) {}

export const Checkout = Workflow.make("Checkout", {
  payload: Order,
  success: Receipt,
  error: CheckoutFailed,
  idempotencyKey: ({ orderId }) => orderId
})

/** What each step of a checkout publishes when it runs. */
export const StepEvent = Schema.Struct({ orderId: Schema.String, runner: Schema.String, items: Schema.Int })

export const CheckoutLive = Checkout.toLayer(Effect.fnUntraced(function*({ cartId, orderId }) {
  const carts = yield* Carts
  const runner = yield* RunnerName
  const items = yield* Activity.make({
    name: "ReserveStock",
    success: Schema.Int,
    error: CheckoutFailed,
    execute: Effect.gen(function*() {
      const entry = yield* Effect.orDie(carts.get(cartId))
      const count = Option.match(entry, {
        onNone: () => 0,
        onSome: ({ value }) => value.lines.reduce((sum, line) => sum + line.quantity, 0)
      })
      if (count === 0) return yield* new CheckoutFailed({ reason: `cart ${cartId} is empty` })
      yield* Effect.orDie(NatsBroker.publish("shop.stock.reserved", { orderId, runner, items: count }, { schema: StepEvent }))
      return count
    })
  })
  yield* Effect.log(`stock reserved for order ${orderId}`)
  yield* DurableClock.sleep({ name: "grace-period", duration: "3 seconds" })
  const chargedBy = yield* Activity.make({
    name: "ChargeCard",
    success: Schema.String,
    execute: Effect.as(
      Effect.orDie(NatsBroker.publish("shop.card.charged", { orderId, runner, items }, { schema: StepEvent })),
      runner
    )
  })
  return { orderId, items, chargedBy }
}))

/** The shop's entity and workflow, for a runner (on `NatsCluster.layer` and `ClusterWorkflowEngine.layer`). */
export const Shop = Layer.mergeAll(CartLive, CheckoutLive)
