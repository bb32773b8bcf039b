/**
 * A small order service on the broker:
 *
 * - `orders.created`: orders (a Schema) are logged and booked;
 * - `prices.quote`: request/reply, a symbol in, a `Quote` (a Schema) out,
 *   an `UnknownSymbol` error back to the requester for a symbol it does not
 *   know;
 * - `jobs.{kind}`: two workers in the queue group `workers`, each job done by
 *   one of them, its kind taken from the subject.
 *
 * Once every subscriber is live, the demo (`NatsBroker.afterStartup`)
 * publishes an order, asks for quotes, hands out jobs, logs what came back
 * and resolves `DemoDone`; `run` then stops the app, gracefully.
 */
import { NatsBroker, type NatsClient, type NatsError, NatsMessage } from "@nats-effect/core"
import { Context, Deferred, Effect, Layer, Queue, Schema } from "effect"

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

export const Order = Schema.Struct({
  id: Schema.String,
  item: Schema.String,
  quantity: Schema.Int.check(Schema.isGreaterThan(0))
})
export type Order = typeof Order.Type

export const Quote = Schema.Struct({ symbol: Schema.String, price: Schema.Number })
export type Quote = typeof Quote.Type

export const Job = Schema.Struct({ id: Schema.Int })

export const JobDone = Schema.Struct({ id: Schema.Int, kind: Schema.String, worker: Schema.String })
export type JobDone = typeof JobDone.Type

// ---------------------------------------------------------------------------
// Services the handlers use
// ---------------------------------------------------------------------------

export class UnknownSymbol extends Schema.TaggedError<UnknownSymbol>()("UnknownSymbol", {
  symbol: Schema.String
}) {
  override get message() {
    return `no price for ${this.symbol}`
  }
}

/** Prices by symbol. */
export class Prices extends Context.Service<Prices, {
  readonly quote: (symbol: string) => Effect.Effect<number, UnknownSymbol>
}>()("examples/pubsub/Prices") {
  static readonly layer = Layer.succeed(Prices, {
    quote: (symbol) => {
      const price = ({ ACME: 12.5, GLOBEX: 48 } as Record<string, number>)[symbol]
      return price === undefined ? Effect.fail(new UnknownSymbol({ symbol })) : Effect.succeed(price)
    }
  })
}

/** The orders booked so far, in order. */
export class OrderBook extends Context.Service<OrderBook, {
  readonly book: (order: Order) => Effect.Effect<void>
  /** The next booked order, waiting for one. */
  readonly next: Effect.Effect<Order>
}>()("examples/pubsub/OrderBook") {
  static readonly layer = Layer.effect(
    OrderBook,
    Effect.map(Queue.unbounded<Order>(), (booked) => ({
      book: (order) => Queue.offer(booked, order).pipe(Effect.asVoid),
      next: Queue.take(booked)
    }))
  )
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

export const OrderCreated = NatsBroker.subscriber("orders.created", { schema: Order }, (order) =>
  Effect.gen(function*() {
    yield* Effect.log(`order ${order.id}: ${order.quantity} x ${order.item}`)
    yield* OrderBook.use((book) => book.book(order))
  }))

export const PriceQuote = NatsBroker.subscriber(
  "prices.quote",
  { schema: Schema.String, response: Quote },
  (symbol) => Effect.map(Prices.use((prices) => prices.quote(symbol)), (price) => ({ symbol, price }))
)

/** Reads the job's kind from the current message, deeper in the call tree. */
const jobKind = Effect.map(NatsMessage.NatsMessage, (message) => message.params["kind"] ?? "unknown")

const worker = (name: string) =>
  NatsBroker.subscriber("jobs.{kind}", { schema: Job, response: JobDone, queue: "workers", name }, (job) =>
    Effect.gen(function*() {
      const kind = yield* jobKind
      yield* Effect.log(`${kind} job ${job.id}`)
      return { id: job.id, kind, worker: name }
    }))

export const Workers = Layer.mergeAll(worker("worker-1"), worker("worker-2"))

export const Handlers = Layer.mergeAll(OrderCreated, PriceQuote, Workers)

// ---------------------------------------------------------------------------
// The demo
// ---------------------------------------------------------------------------

export interface DemoResult {
  readonly booked: Order
  readonly quote: Quote
  /** The error the requester got for an unknown symbol. */
  readonly unknownSymbol: string
  readonly jobs: ReadonlyArray<JobDone>
}

/** Resolved by the demo once it has run, with what it saw. */
export class DemoDone extends Context.Service<DemoDone, Deferred.Deferred<DemoResult>>()("examples/pubsub/DemoDone") {}

export const Demo = Effect.gen(function*() {
  const order: Order = { id: "o-1", item: "widget", quantity: 3 }
  yield* NatsBroker.publish("orders.created", order, { schema: Order })

  const quote = yield* NatsBroker.request("prices.quote", "ACME", { schema: Schema.String, response: Quote })
  yield* Effect.log(`ACME costs ${quote.price}`)

  // The responder's error comes back as a RemoteError, with its tag.
  const unknownSymbol = yield* NatsBroker.request("prices.quote", "NOPE", { schema: Schema.String, response: Quote }).pipe(
    Effect.as("no error"),
    Effect.catchReason("NatsError", "RemoteError", (remote) => Effect.succeed(remote.error))
  )
  yield* Effect.log(`NOPE: ${unknownSymbol}`)

  const jobs = yield* Effect.forEach(
    [1, 2, 3, 4],
    (id) => NatsBroker.request(`jobs.${id % 2 === 0 ? "resize" : "thumbnail"}`, { id }, { schema: Job, response: JobDone }),
    { concurrency: "unbounded" }
  )
  for (const job of jobs) yield* Effect.log(`job ${job.id} (${job.kind}) done by ${job.worker}`)

  const booked = yield* OrderBook.use((book) => book.next)
  yield* Deferred.succeed(yield* DemoDone, { booked, quote, unknownSymbol, jobs })
})

// ---------------------------------------------------------------------------
// The app
// ---------------------------------------------------------------------------

/** The handlers and the demo, with their services and the broker; needs NATS and `DemoDone`. */
export const App = Handlers.pipe(
  NatsBroker.afterStartup(Demo),
  Layer.provide(Layer.mergeAll(Prices.layer, OrderBook.layer)),
  Layer.provide(NatsBroker.layer)
)

/**
 * Runs the app on `nats` with `NatsBroker.launch`, as a service runs, until the
 * demo is done; then the app stops (subscribers finish their messages, the
 * connection drains) and `run` completes with what the demo saw. A
 * long-running service is just `NatsBroker.launch(App)`, stopped by a signal.
 */
export const run = <E>(
  nats: Layer.Layer<NatsClient.NatsClient, E>
): Effect.Effect<DemoResult, E | NatsError.NatsError> =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<DemoResult>()
    return yield* NatsBroker.launch(App.pipe(Layer.provide(nats))).pipe(
      Effect.raceFirst(Deferred.await(done)),
      Effect.provideService(DemoDone, done)
    )
  })
