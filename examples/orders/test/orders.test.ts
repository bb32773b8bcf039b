/**
 * The orders service tested the way the README tells you to: `NatsTest`
 * publishes and waits for every handler (JetStream subscribers, request/reply,
 * KV watchers, what the handlers published in turn), then the test looks.
 * No polling, no sleeps, no `yieldNow`: the same tests run on the in-memory
 * NATS and on each nats-server installed (`{ nats: "server" }` starts one).
 * `TestClock.adjust` moves the in-memory NATS's time to a retry; on a server,
 * `awaitIdle` waits for the retry in real time, and the test ends in the
 * same state.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsHeaders } from "@nats-effect/core"
import { NatsServer, NatsTest } from "@nats-effect/testing"
import { Effect, Exit, Schema } from "effect"
import { TestClock } from "effect/testing"
import { App, backoff, Confirmation, Inventory, Invoices, Order, stream } from "../src/app.ts"

const order = (id: string, sku: string, quantity: number): Order => ({ id, sku, quantity })

const targets: ReadonlyArray<{ readonly name: string; readonly nats: NatsTest.NatsChoice }> = [
  { name: "the in-memory NATS", nats: "memory" },
  // The first is what `{ nats: "server" }` starts; the others by their binary.
  ...NatsServer.matrix().map((server, i) => ({
    name: `nats-server ${server.version}`,
    nats: i === 0 ? "server" as const : NatsServer.layerClient({ bin: server.bin })
  }))
]

for (const { name, nats } of targets) {
  describe(`the orders service on ${name}`, () => {
    const TestApp = NatsTest.layer(App, { nats })

    it.effect("handles an order, publishes its confirmation and stores its invoice", () =>
      Effect.gen(function*() {
        yield* (yield* Inventory).put("mug", { available: 5 })
        const ack = yield* NatsTest.publish("orders.created", order("o-1", "mug", 2), { stream, schema: Order })
        assert.strictEqual(ack.stream, stream)

        const call = yield* NatsTest.assertCalledOnceWith("orders.created", order("o-1", "mug", 2))
        assert.strictEqual(call.deliveryCount, 1)
        assert.deepStrictEqual(yield* NatsTest.published("orders.confirmed", Confirmation), [{ id: "o-1", total: 16 }])
        const invoice = yield* (yield* Invoices).getBytes("invoices/o-1.json")
        assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(invoice)), { ...order("o-1", "mug", 2), total: 16 })
      }).pipe(Effect.provide(TestApp)))

    it.effect("retries an order it cannot fill after each backoff step, then dead-letters it with its headers", () =>
      Effect.gen(function*() {
        yield* (yield* Inventory).put("tea", { available: 1 })
        yield* NatsTest.publish("orders.created", order("o-2", "tea", 3), { stream })
        // On the in-memory NATS each retry waits for the clock; on a server it came in real time.
        for (const step of backoff) {
          yield* TestClock.adjust(step)
          yield* NatsTest.awaitIdle
        }

        const calls = yield* NatsTest.calls("orders.created")
        assert.deepStrictEqual(calls.map((call) => call.deliveryCount), [1, 2, 3])
        for (const call of calls) assert.isTrue(Exit.isFailure(call.exit))
        const [dead, ...more] = yield* NatsTest.publishedMessages("orders.dead")
        assert.deepStrictEqual(more, [])
        assert.deepStrictEqual(dead!.payload, order("o-2", "tea", 3))
        assert.strictEqual(NatsHeaders.get(dead!.headers, "nats-effect-dead-letter-delivery-count"), "3")
        assert.strictEqual(NatsHeaders.get(dead!.headers, "nats-effect-dead-letter-error-tag"), "OutOfStock")
        assert.strictEqual(NatsHeaders.get(dead!.headers, "nats-effect-dead-letter-error-message"), "1 tea left, 3 ordered")
        assert.deepStrictEqual(yield* NatsTest.published("orders.confirmed"), [])
      }).pipe(Effect.provide(TestApp)))

    it.effect("answers a price request", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* NatsTest.request("prices.get", "tea", { response: Schema.Number }), 4.5)
        const failure = yield* Effect.flip(NatsTest.request("prices.get", "coffee", { response: Schema.Number }))
        assert.include(failure.message, "no price for coffee")
      }).pipe(Effect.provide(TestApp)))

    it.effect("hands every stock change to the watcher, in order", () =>
      Effect.gen(function*() {
        const inventory = yield* Inventory
        yield* inventory.put("mug", { available: 5 })
        yield* inventory.put("mug", { available: 4 })
        yield* inventory.delete("mug")
        yield* NatsTest.awaitIdle
        const calls = yield* NatsTest.calls("inventory:{sku}")
        assert.deepStrictEqual(calls.map((call) => [call.params.sku, call.payload]), [
          ["mug", { available: 5 }],
          ["mug", { available: 4 }],
          ["mug", undefined]
        ])
      }).pipe(Effect.provide(TestApp)))
  })
}
