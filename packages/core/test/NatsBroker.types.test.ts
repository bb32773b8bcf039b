/**
 * What the compiler says about the broker's API: payload and reply types
 * follow the Schemas, and a subscriber layer requires what its handler needs
 * (besides the current message, which the broker provides).
 */
import { describe, expectTypeOf, it } from "@effect/vitest"
import { NatsBroker, type NatsClient, type NatsError, NatsMessage } from "@nats-effect/core"
import { type Array as Arr, Context, Effect, type Layer, Schema } from "effect"

class Inventory extends Context.Service<Inventory, { readonly reserve: (id: string) => Effect.Effect<void> }>()(
  "test/Inventory"
) {}

class Rejected extends Schema.TaggedError<Rejected>()("Rejected", { message: Schema.String }) {}

const Order = Schema.Struct({ id: Schema.String, quantity: Schema.Int })
const Receipt = Schema.Struct({ id: Schema.String, ok: Schema.Boolean })

describe("NatsBroker types", () => {
  it("a subscriber layer requires the handler's services, not the current message, and may fail to subscribe", () => {
    const layer = NatsBroker.subscriber("orders", { schema: Order }, (order) =>
      Effect.gen(function*() {
        const message = yield* NatsMessage.NatsMessage
        yield* Effect.log(message.subject)
        yield* Inventory.use((inventory) => inventory.reserve(order.id))
      }))
    expectTypeOf(layer).toEqualTypeOf<Layer.Layer<never, NatsError.NatsError, NatsBroker.NatsBroker | Inventory>>()
    expectTypeOf(NatsBroker.launch(layer)).toEqualTypeOf<
      Effect.Effect<never, NatsError.NatsError, NatsBroker.NatsBroker | Inventory>
    >()
  })

  it("the handler gets the Schema's type, or unknown without a Schema", () => {
    NatsBroker.subscriber("orders", { schema: Order }, (order, message) => {
      expectTypeOf(order).toEqualTypeOf<{ readonly id: string; readonly quantity: number }>()
      expectTypeOf(message).toEqualTypeOf<NatsMessage.Message>()
      return Effect.void
    })
    NatsBroker.subscriber("anything", {}, (payload) => {
      expectTypeOf(payload).toBeUnknown()
      return Effect.void
    })
  })

  it("a JetStream subscriber's handler gets a JetStreamMessage; a JetStream publish returns the PubAck", () => {
    const layer = NatsBroker.subscriber("orders", { stream: "ORDERS", schema: Order }, (order, message) => {
      expectTypeOf(order).toEqualTypeOf<{ readonly id: string; readonly quantity: number }>()
      expectTypeOf(message).toEqualTypeOf<NatsMessage.JetStreamMessage>()
      return message.ack
    })
    expectTypeOf(layer).toEqualTypeOf<Layer.Layer<never, NatsError.NatsError, NatsBroker.NatsBroker>>()
    // @ts-expect-error: a JetStream subscriber has no queue group (several processes share a durable instead)
    NatsBroker.subscriber("orders", { stream: "ORDERS", queue: "workers" }, () => Effect.void)
    expectTypeOf(NatsBroker.publish("orders", { id: "o", quantity: 1 }, { schema: Order, stream: "ORDERS" }))
      .toEqualTypeOf<Effect.Effect<NatsClient.PubAck, NatsError.NatsError, NatsBroker.NatsBroker>>()
  })

  it("with publishTo, the handler returns what the publisher's Schema takes", () => {
    const Receipts = NatsBroker.publisher("receipts", { schema: Receipt })
    NatsBroker.subscriber("orders", { schema: Order, publishTo: Receipts }, (order) =>
      Effect.succeed({ id: order.id, ok: true }))
    NatsBroker.subscriber("orders", { stream: "ORDERS", schema: Order, publishTo: Receipts }, (order) =>
      Effect.succeed({ id: order.id, ok: true }))
    // Nothing to publish.
    NatsBroker.subscriber("orders", { schema: Order, publishTo: Receipts }, () => Effect.void)
    // @ts-expect-error: an order id is not a Receipt
    NatsBroker.subscriber("orders", { schema: Order, publishTo: Receipts }, (order) => Effect.succeed(order.id))
    // @ts-expect-error: a Receipt needs its `ok`
    NatsBroker.subscriber("orders", { stream: "ORDERS", publishTo: Receipts }, () => Effect.succeed({ id: "o-1" }))
    // The result is the reply too: it must be of both types.
    NatsBroker.subscriber(
      "orders",
      { response: Schema.Struct({ id: Schema.String }), publishTo: Receipts },
      () => Effect.succeed({ id: "o-1", ok: true })
    )
  })

  it("a batch handler gets non-empty arrays of payloads and JetStreamMessages, and no NatsMessage", () => {
    const layer = NatsBroker.subscriber(
      "orders",
      { stream: "ORDERS", schema: Order, batch: { size: 10, timeout: "1 second" } },
      (orders, messages) => {
        expectTypeOf(orders).toEqualTypeOf<Arr.NonEmptyReadonlyArray<typeof Order.Type>>()
        expectTypeOf(messages).toEqualTypeOf<Arr.NonEmptyReadonlyArray<NatsMessage.JetStreamMessage>>()
        return Effect.void
      }
    )
    expectTypeOf(layer).toEqualTypeOf<Layer.Layer<never, NatsError.NatsError, NatsBroker.NatsBroker>>()
    // A batch has no current message: a handler that asks for one needs it provided.
    const asking = NatsBroker.subscriber(
      "orders",
      { stream: "ORDERS", batch: { size: 10, timeout: "1 second" } },
      () =>
        Effect.gen(function*() {
          yield* NatsMessage.NatsMessage
        })
    )
    expectTypeOf(asking).toEqualTypeOf<
      Layer.Layer<never, NatsError.NatsError, NatsBroker.NatsBroker | NatsMessage.NatsMessage>
    >()
    // @ts-expect-error: a batch has no reply to encode
    NatsBroker.subscriber("orders", { stream: "ORDERS", batch: { size: 10, timeout: "1 second" }, response: Order }, () =>
      Effect.void)
  })

  it("a publisher takes its Schema's type; publish returns the PubAck with a stream", () => {
    const stored = NatsBroker.publisher("orders", { schema: Order, stream: "ORDERS" })
    expectTypeOf(stored.publish({ id: "o", quantity: 1 })).toEqualTypeOf<
      Effect.Effect<NatsClient.PubAck, NatsError.NatsError, NatsBroker.NatsBroker>
    >()
    // @ts-expect-error: the payload does not match the Schema
    stored.publish({ id: "o" })
    expectTypeOf(NatsBroker.publisher("orders").publish("x")).toEqualTypeOf<
      Effect.Effect<void, NatsError.NatsError, NatsBroker.NatsBroker>
    >()
  })

  it("a reply must match the response Schema; failures may be anything", () => {
    NatsBroker.subscriber("orders", { schema: Order, response: Receipt }, (order) =>
      order.quantity > 0 ? Effect.succeed({ id: order.id, ok: true }) : Effect.fail(new Rejected({ message: "none" })))
    // @ts-expect-error: the reply does not match the response Schema
    NatsBroker.subscriber("orders", { schema: Order, response: Receipt }, () => Effect.succeed({ id: 1 }))
  })

  it("publish and request take and return the Schemas' types", () => {
    expectTypeOf(NatsBroker.publish("orders", { id: "o", quantity: 1 }, { schema: Order })).toEqualTypeOf<
      Effect.Effect<void, NatsError.NatsError, NatsBroker.NatsBroker>
    >()
    // @ts-expect-error: the payload does not match the Schema
    NatsBroker.publish("orders", { id: "o" }, { schema: Order })
    expectTypeOf(
      NatsBroker.request("orders", { id: "o", quantity: 1 }, { schema: Order, response: Receipt })
    ).toEqualTypeOf<
      Effect.Effect<{ readonly id: string; readonly ok: boolean }, NatsError.NatsError, NatsBroker.NatsBroker>
    >()
    expectTypeOf(NatsBroker.request("orders", "hi")).toEqualTypeOf<
      Effect.Effect<unknown, NatsError.NatsError, NatsBroker.NatsBroker>
    >()
  })

  it("afterStartup keeps the layer's output and adds the work's other requirements and errors", () => {
    const handler = NatsBroker.subscriber("orders", {}, () => Inventory.use((inventory) => inventory.reserve("x")))
    const work = Effect.gen(function*() {
      yield* NatsBroker.publish("orders", "start")
      return yield* Effect.fail(new Rejected({ message: "no" }))
    })
    const app = handler.pipe(NatsBroker.afterStartup(work))
    expectTypeOf(app).toEqualTypeOf<
      Layer.Layer<never, NatsError.NatsError | Rejected, NatsBroker.NatsBroker | Inventory>
    >()
  })
})
