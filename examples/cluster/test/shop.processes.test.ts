/**
 * The shop on a real nats-server, with two runner processes (`runner.ts`)
 * and this process as a client only. 100 carts answered by both runners.
 * Then the runner running a checkout is killed (`kill -9`) between its two
 * steps: every cart answers again within 30 seconds (the other runner took
 * the shards over), a persisted `AddItem` sent while the cart's runner was
 * down is handled once after the takeover and its sender gets the reply,
 * and the checkout completes with each step run once.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { NatsServer, NodeProcess } from "@nats-effect/testing"
import { Effect, Fiber, Layer, Queue, Schedule, Schema, Stream } from "effect"
import { fileURLToPath } from "node:url"
import { client } from "../src/cluster.ts"
import { Cart, Checkout, StepEvent } from "../src/shop.ts"

const runnerEntry = fileURLToPath(new URL("../runner.ts", import.meta.url))
const names = ["runner-a", "runner-b"] as const
const cartIds = Array.from({ length: 100 }, (_, i) => `cart-${i}`)

for (const server of NatsServer.matrix()) {
  describe(`the cluster example with runner processes (nats-server ${server.version})`, () => {
    it.live("kill -9 of a runner: its carts answer within 30 s, a message sent meanwhile is handled once, its checkout completes", () =>
      Effect.gen(function*() {
        const { url } = yield* NatsServer.NatsServer
        const nats = yield* NatsClient.NatsClient
        const events = yield* Queue.unbounded<{ readonly subject: string; readonly event: typeof StepEvent.Type }>()
        const decode = Schema.decodeUnknownSync(Schema.fromJsonString(StepEvent))
        yield* Effect.forkScoped(Stream.runForEach(yield* nats.subscribe("shop.>"), (msg) =>
          Queue.offer(events, { subject: msg.subject, event: decode(new TextDecoder().decode(msg.data)) })))

        const [a, b] = yield* Effect.all(
          names.map((name) =>
            NodeProcess.spawn(runnerEntry, { env: { NATS_URL: url, RUNNER_NAME: name }, ready: `runner ${name} ready` })
          ),
          { concurrency: 2 }
        )
        const processes = { "runner-a": a!, "runner-b": b! }
        const carts = yield* Cart.client

        // Once both runners hold shards (the second to start takes its share from the first).
        const views = yield* Effect.forEach(cartIds, (cartId) => carts(cartId).GetCart(), { concurrency: 20 }).pipe(
          Effect.repeat({
            schedule: Schedule.spaced("500 millis"),
            until: (views) => new Set(views.map((view) => view.servedBy)).size === names.length
          }),
          Effect.timeout("30 seconds")
        )
        const owners = new Map(views.map((view) => [view.cartId, view.servedBy]))

        // A checkout, its runner killed once the stock is reserved (during the grace period).
        yield* carts("cart-checkout").AddItem({ sku: "book", quantity: 2 })
        const checkout = yield* Effect.forkChild(Checkout.execute({ orderId: "order-kill", cartId: "cart-checkout" }))
        const victim = yield* Effect.raceAll(names.map((name) =>
          Effect.as(processes[name].written("stock reserved for order order-kill"), name)
        ))
        const survivor = names.find((name) => name !== victim)!
        yield* processes[victim].kill
        const killedAt = Date.now()

        // Persisted, to a cart of the dead runner: kept until a runner takes the cart over.
        const orphan = cartIds.find((cartId) => owners.get(cartId) === victim)!
        const added = yield* Effect.forkChild(carts(orphan).AddItem({ sku: "pen", quantity: 1 }))

        const answered = yield* Effect.forEach(
          cartIds,
          (cartId) => carts(cartId).GetCart().pipe(Effect.retry(Schedule.spaced("200 millis"))),
          { concurrency: 20 }
        ).pipe(Effect.timeout("30 seconds"))
        const takeover = Date.now() - killedAt
        yield* Effect.logInfo(`every cart answered ${takeover} ms after ${victim} was killed`)
        assert.isBelow(takeover, 30_000)
        assert.deepStrictEqual(new Set(answered.map((view) => view.servedBy)), new Set([survivor]))

        const reply = yield* Fiber.join(added)
        assert.strictEqual(reply.servedBy, survivor)
        assert.deepStrictEqual(reply.lines, [{ sku: "pen", quantity: 1 }])
        assert.deepStrictEqual((yield* carts(orphan).GetCart()).lines, [{ sku: "pen", quantity: 1 }])

        const receipt = yield* Fiber.join(checkout)
        assert.deepStrictEqual(receipt, { orderId: "order-kill", items: 2, chargedBy: survivor })
        const steps = (yield* Queue.takeAll(events)).filter((step) => step.event.orderId === "order-kill")
        assert.deepStrictEqual(steps.map((step) => [step.subject, step.event.runner]), [
          ["shop.stock.reserved", victim],
          ["shop.card.charged", survivor]
        ])
      }).pipe(
        Effect.provide(client().pipe(Layer.provideMerge(NatsServer.layerClient({ bin: server.bin }))))
      ), { timeout: 120_000 })
  })
}
