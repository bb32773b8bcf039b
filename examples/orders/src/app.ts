/**
 * An orders service, the kind an app built on NATS is: every part of it is
 * one of the things `NatsTest` waits for.
 *
 * - `orders.created` (JetStream, stream `ORDERS`, durable `billing`): takes
 *   an order, checks the stock in the `inventory` KV bucket, prices it,
 *   stores its invoice in the `invoices` object store and publishes the
 *   confirmation to `orders.confirmed`. An order that cannot be filled is
 *   retried after the backoff delays, then dead-lettered to `orders.dead`.
 * - `prices.get` (request/reply): the unit price of a SKU.
 * - a KV watcher on `inventory`: logs each stock level as it changes.
 */
import { NatsBroker, type NatsClient, type NatsError } from "@nats-effect/core"
import { KeyValue, type KeyValueError } from "@nats-effect/kv"
import { ObjectStore, type ObjectStoreError } from "@nats-effect/object-store"
import { Effect, Layer, Schema } from "effect"

export const Order = Schema.Struct({ id: Schema.String, sku: Schema.String, quantity: Schema.Int })
export type Order = typeof Order.Type

export const Confirmation = Schema.Struct({ id: Schema.String, total: Schema.Number })

/** A SKU's stock, in the `inventory` bucket under its SKU. */
export const Stock = Schema.Struct({ available: Schema.Int })

/** An order the stock cannot fill: retried, then dead-lettered. */
export class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", {
  sku: Schema.String,
  message: Schema.String
}) {}

export const stream = "ORDERS"
/** Short, so that a test on a real server sees every retry within its idle timeout. */
export const backoff = ["200 millis", "400 millis"] as const

const prices: Readonly<Record<string, number>> = { "mug": 8, "tea": 4.5 }

/** The `inventory` bucket, values typed by `Stock`. */
export class Inventory extends KeyValue.Service<Inventory>()("orders/Inventory", { bucket: "inventory", schema: Stock }) {}

/** The `invoices` object store. */
export class Invoices extends ObjectStore.Service<Invoices>()("orders/Invoices", { bucket: "invoices" }) {}

export const Confirmations = NatsBroker.publisher("orders.confirmed", { schema: Confirmation })

const priceOf = (sku: string) =>
  sku in prices ? Effect.succeed(prices[sku]!) : Effect.fail(new OutOfStock({ sku, message: `no price for ${sku}` }))

export const OrderCreated: Layer.Layer<never, NatsError.NatsError, NatsBroker.NatsBroker | Inventory | Invoices> =
  NatsBroker.subscriber("orders.created", {
  stream,
  durable: "billing",
  schema: Order,
  backoff: [...backoff],
  maxDeliver: backoff.length + 1,
  deadLetter: "orders.dead",
  publishTo: Confirmations
}, (order) =>
  Effect.gen(function*() {
    const stock = yield* (yield* Inventory).get(order.sku)
    const available = stock._tag === "Some" ? stock.value.value.available : 0
    if (available < order.quantity) {
      return yield* new OutOfStock({ sku: order.sku, message: `${available} ${order.sku} left, ${order.quantity} ordered` })
    }
    const total = (yield* priceOf(order.sku)) * order.quantity
    yield* (yield* Invoices).putBytes(`invoices/${order.id}.json`, JSON.stringify({ ...order, total }))
    return { id: order.id, total }
  }))

export const PriceEndpoint: Layer.Layer<never, NatsError.NatsError, NatsBroker.NatsBroker> = NatsBroker.subscriber(
  "prices.get",
  { schema: Schema.String, response: Schema.Number },
  priceOf
)

export const StockWatcher: Layer.Layer<
  never,
  KeyValueError.KeyValueError,
  NatsClient.NatsClient | NatsBroker.NatsBroker
> = KeyValue.watcher("inventory", "{sku}", { schema: Stock }, (stock, message) =>
  Effect.log(`${message.params.sku}: ${stock === undefined ? "gone" : `${stock.available} left`}`))

/** The whole service: its subscribers and watcher, with the buckets they use. */
export const App: Layer.Layer<
  Inventory | Invoices,
  NatsError.NatsError | KeyValueError.KeyValueError | ObjectStoreError.ObjectStoreError,
  NatsClient.NatsClient | NatsBroker.NatsBroker
> = Layer.mergeAll(OrderCreated, PriceEndpoint, StockWatcher).pipe(
  Layer.provideMerge(Layer.mergeAll(Inventory.layer, Invoices.layer))
)
