/**
 * The pub/sub example as two services, each exporting its traces and metrics
 * over OTLP (`Otlp.layerJson` from `effect/observability`):
 *
 * - `orders`: the pub/sub example's handlers, `orders.created` and
 *   `prices.quote` (the same layers, unchanged);
 * - `checkout`: once `orders` is live, checks an order out in one span,
 *   `checkout o-1`: it publishes the order and asks `prices.quote` for its
 *   price.
 *
 * The broker writes the `traceparent` of its `publish` / `request` span on
 * each message and `orders` handles it in a `process` span of the same
 * trace: the collector shows one trace from `checkout`'s request to `orders`'
 * handler. Each service reads its own metrics registry, so each exports only
 * its own series (`messaging.client.sent.messages` for `checkout`,
 * `messaging.client.consumed.messages` for `orders`, ...).
 *
 * Here both run in one process on one connection (the in-memory NATS is
 * per connection); deployed, each has its own.
 */
import { NatsBroker, type NatsClient, type NatsError } from "@nats-effect/core"
import { Context, Deferred, Effect, Layer, Metric, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp } from "effect/observability"
import { Order, OrderBook, OrderCreated, PriceQuote, Prices, Quote } from "../../pubsub/src/app.ts"

export interface CheckoutResult {
  readonly order: Order
  readonly quote: Quote
}

/** Resolved by `checkout` once it has run, with what it saw. */
export class CheckoutDone
  extends Context.Service<CheckoutDone, Deferred.Deferred<CheckoutResult>>()("examples/observability/CheckoutDone")
{}

/** One checkout, one trace: the order published, its price asked for, in the span `checkout o-1`. */
export const Checkout: Effect.Effect<CheckoutResult, NatsError.NatsError, NatsBroker.NatsBroker> = Effect.gen(
  function*() {
    const order: Order = { id: "o-1", item: "widget", quantity: 3 }
    yield* NatsBroker.publish("orders.created", order, { schema: Order })
    const quote = yield* NatsBroker.request("prices.quote", "ACME", { schema: Schema.String, response: Quote })
    yield* Effect.log(`${order.quantity} x ${order.item} at ${quote.price}`)
    return { order, quote }
  }
).pipe(Effect.withSpan("checkout o-1"))

/**
 * A service named `name`: its layers with a broker of their own, traces and
 * metrics exported to the OTLP collector at `collector` (`/v1/traces`,
 * `/v1/metrics`, `/v1/logs`), metrics read from a registry of its own. The
 * exporters flush when the service stops.
 */
export const service = <E, R>(name: string, collector: string, app: Layer.Layer<never, E, R>) =>
  app.pipe(
    // A broker per service: it is built with the service's tracer.
    Layer.provide(Layer.fresh(NatsBroker.layer)),
    Layer.provide(Otlp.layerJson({ baseUrl: collector, resource: { serviceName: name } })),
    Layer.provide(FetchHttpClient.layer),
    Layer.provide(Layer.sync(Metric.MetricRegistry, () => new Map()))
  )

/** `orders` and `checkout`, exporting to `collector`; needs NATS and `CheckoutDone`. */
export const App = (collector: string) =>
  service(
    "checkout",
    collector,
    Layer.effectDiscard(Effect.flatMap(Checkout, (result) => Effect.flatMap(CheckoutDone, (done) => Deferred.succeed(done, result))))
  ).pipe(
    // Built first: the checkout's request needs its responder live.
    Layer.provide(
      service(
        "orders",
        collector,
        Layer.mergeAll(OrderCreated, PriceQuote).pipe(Layer.provide(Layer.mergeAll(Prices.layer, OrderBook.layer)))
      )
    )
  )

/**
 * Runs both services on `nats` until the checkout is done, then stops them:
 * subscribers finish, exporters flush, and `run` completes with what the
 * checkout saw.
 */
export const run = <E>(
  nats: Layer.Layer<NatsClient.NatsClient, E>,
  collector: string
): Effect.Effect<CheckoutResult, E | NatsError.NatsError> =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<CheckoutResult>()
    return yield* NatsBroker.launch(App(collector).pipe(Layer.provide(nats))).pipe(
      Effect.raceFirst(Deferred.await(done)),
      Effect.provideService(CheckoutDone, done)
    )
  })
