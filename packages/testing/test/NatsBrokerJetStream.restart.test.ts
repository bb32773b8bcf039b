/**
 * A JetStream subscriber across a lost server: the nats-server is killed
 * while messages are being handled and started again on the same port and
 * store; every message is still handled (some twice: acknowledgements sent
 * while the server was away are lost, and their messages redelivered).
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsBroker } from "@nats-effect/core"
import { NatsServer } from "@nats-effect/testing"
import { Deferred, Effect, Layer } from "effect"

for (const server of NatsServer.matrix()) describe(`NatsBroker JetStream subscriber across a server restart (nats.js) (nats-server ${server.version})`, () => {
  it.live("handles every message at least once when the server is killed and started again", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const total = 30
      const handled = new Set<string>()
      const halfway = yield* Deferred.make<void>()
      const restarted = yield* Deferred.make<void>()
      const all = yield* Deferred.make<void>()
      const app = NatsBroker.subscriber(
        "restart.tasks",
        { stream: { name: "RESTART", storage: "file" }, durable: "tasks", concurrency: 2, ackWait: "2 seconds" },
        (payload) =>
          Effect.gen(function*() {
            // From the tenth message on, handlers wait for the server to be back: their
            // messages are in flight while it is away.
            if (handled.size >= total / 3) {
              Deferred.doneUnsafe(halfway, Effect.void)
              yield* Deferred.await(restarted)
            }
            handled.add(payload as string)
            if (handled.size === total) Deferred.doneUnsafe(all, Effect.void)
          })
      )
      yield* Effect.gen(function*() {
        for (let i = 1; i <= total; i++) yield* NatsBroker.publish("restart.tasks", `t${i}`, { stream: "RESTART" })
        yield* Deferred.await(halfway)
        yield* server.kill
        yield* server.start
        yield* Deferred.succeed(restarted, undefined)
        yield* Deferred.await(all)
      }).pipe(Effect.provide(app.pipe(Layer.provideMerge(NatsBroker.layer))))
      assert.strictEqual(handled.size, total)
    }).pipe(Effect.provide(NatsServer.layerClient({ bin: server.bin }))), { timeout: 90_000 })
})
