/**
 * The pub/sub example (`examples/pubsub`), tested on the in-memory NATS: each
 * handler on its own, then the whole app with its startup demo.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsTest } from "@nats-effect/testing"
import { Cause, Deferred, Effect, Exit, Layer, Option, Schema } from "effect"
import { App, DemoDone, Handlers, Job, JobDone, Order, OrderBook, Prices, Quote, UnknownSymbol } from "../../pubsub/src/app.ts"

/** The handlers with their services, one message at a time. */
const TestHandlers = NatsTest.layer(
  Handlers.pipe(Layer.provideMerge(Layer.mergeAll(Prices.layer, OrderBook.layer))),
  { maxConcurrency: 1 }
)

const errorOf = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.findErrorOption(exit.cause)) : undefined

describe("pubsub example", () => {
  it.effect("books an order", () =>
    Effect.gen(function*() {
      const order = { id: "o-1", item: "widget", quantity: 3 }
      yield* NatsTest.publish("orders.created", order, { schema: Order })
      yield* NatsTest.assertCalledOnceWith("orders.created", order)
      assert.deepStrictEqual(yield* OrderBook.use((book) => book.next), order)
    }).pipe(Effect.provide(TestHandlers)))

  it.effect("drops an order that does not match the schema", () =>
    Effect.gen(function*() {
      yield* NatsTest.publish("orders.created", { id: "o-2", item: "widget", quantity: 0 })
      const [call] = yield* NatsTest.calls("orders.created")
      assert.isUndefined(call!.payload)
      assert.deepInclude(errorOf(call!.exit), { _tag: "DecodeError" })
    }).pipe(Effect.provide(TestHandlers)))

  it.effect("quotes a price, and answers an unknown symbol with its error", () =>
    Effect.gen(function*() {
      const quote = yield* NatsTest.request("prices.quote", "ACME", { schema: Schema.String, response: Quote })
      assert.deepStrictEqual(quote, { symbol: "ACME", price: 12.5 })

      const error = yield* Effect.flip(NatsTest.request("prices.quote", "NOPE", { schema: Schema.String }))
      assert.deepInclude(error, { _tag: "NatsError" })
      assert.deepInclude(error._tag === "NatsError" ? error.reason : undefined, { _tag: "RemoteError", error: "UnknownSymbol" })

      const [, failed] = yield* NatsTest.calls("prices.quote")
      assert.instanceOf(errorOf(failed!.exit), UnknownSymbol)
    }).pipe(Effect.provide(TestHandlers)))

  it.effect("hands each job to one worker of the group, with its kind from the subject", () =>
    Effect.gen(function*() {
      for (const id of [1, 2, 3, 4]) {
        const kind = id % 2 === 0 ? "resize" : "thumbnail"
        const done = yield* NatsTest.request(`jobs.${kind}`, { id }, { schema: Job, response: JobDone })
        assert.deepInclude(done, { id, kind })
      }
      const calls = yield* NatsTest.calls("jobs.{kind}")
      assert.deepStrictEqual(calls.map((call) => call.params), [
        { kind: "thumbnail" },
        { kind: "resize" },
        { kind: "thumbnail" },
        { kind: "resize" }
      ])
      // The in-memory server serves a queue group's members in turn.
      assert.strictEqual((yield* NatsTest.calls("worker-1")).length, 2)
      assert.strictEqual((yield* NatsTest.calls("worker-2")).length, 2)
    }).pipe(Effect.provide(TestHandlers)))

  it.effect("the whole app: the startup demo gets its answers", () =>
    Effect.gen(function*() {
      const result = yield* Deferred.await(yield* DemoDone)
      // A requester may get its reply before the handler is done: wait for the handlers before looking at calls.
      yield* NatsTest.awaitIdle
      assert.deepStrictEqual(result.quote, { symbol: "ACME", price: 12.5 })
      assert.strictEqual(result.unknownSymbol, "UnknownSymbol")
      assert.deepStrictEqual(yield* NatsTest.published("orders.created", Order), [
        { id: "o-1", item: "widget", quantity: 3 }
      ])
      assert.strictEqual((yield* NatsTest.calls("jobs.{kind}")).length, 4)
    }).pipe(Effect.provide(NatsTest.layer(App.pipe(Layer.provideMerge(Layer.effect(DemoDone, Deferred.make())))))))
})
