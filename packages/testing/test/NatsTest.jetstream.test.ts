/**
 * `NatsTest` waits for what reads JetStream as it waits for core subscribers:
 * JetStream subscribers (single and batch; a redelivery held back for later
 * waits for `TestClock` in memory and comes in real time on a server), KV and
 * object watchers. Every test runs on the in-memory NATS and on each
 * nats-server installed, and never polls or sleeps.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsBroker } from "@nats-effect/core"
import { KeyValue } from "@nats-effect/kv"
import { ObjectStore } from "@nats-effect/object-store"
import { NatsServer, NatsTest } from "@nats-effect/testing"
import { Effect, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"

const Job = Schema.Struct({ id: Schema.Int })

const targets: ReadonlyArray<{ readonly name: string; readonly nats: NatsTest.NatsChoice }> = [
  { name: "memory", nats: "memory" },
  ...NatsServer.matrix().map((server) => ({
    name: `nats-server ${server.version}`,
    nats: NatsServer.layerClient({ bin: server.bin })
  }))
]

for (const { name, nats } of targets) {
  describe(`NatsTest with JetStream and watchers (${name})`, () => {
    it.effect("publish with a stream returns the PubAck once the JetStream subscriber and what it published are done", () =>
      Effect.gen(function*() {
        const ack = yield* NatsTest.publish("jobs.new", { id: 1 }, { stream: "JOBS", schema: Job })
        assert.deepStrictEqual([ack.stream, ack.seq], ["JOBS", 1])
        const call = yield* NatsTest.assertCalledOnceWith("jobs.new", { id: 1 })
        assert.strictEqual(call.deliveryCount, 1)
        yield* NatsTest.assertCalledOnceWith("jobs.done", 1)
      }).pipe(Effect.provide(NatsTest.layer(
        Layer.mergeAll(
          NatsBroker.subscriber("jobs.new", { stream: "JOBS", durable: "worker", schema: Job }, (job) =>
            NatsBroker.publish("jobs.done", job.id)),
          NatsBroker.subscriber("jobs.done", {}, () => Effect.void)
        ),
        { nats }
      ))))

    it.effect("awaitIdle waits for messages published into the stream some other way", () =>
      Effect.gen(function*() {
        for (let id = 1; id <= 20; id++) yield* NatsBroker.publish("jobs.new", { id }, { stream: "JOBS", schema: Job })
        yield* NatsTest.awaitIdle
        const calls = yield* NatsTest.calls("jobs.new")
        assert.sameMembers(calls.map((call) => (call.payload as typeof Job.Type).id), Array.from({ length: 20 }, (_, i) => i + 1))
      }).pipe(Effect.provide(NatsTest.layer(
        NatsBroker.subscriber("jobs.new", { stream: "JOBS", durable: "worker", schema: Job, concurrency: 4 }, () => Effect.void),
        { nats }
      ))))

    it.effect("a nak with a delay waits for TestClock in memory, and for real time on a server", () =>
      Effect.gen(function*() {
        yield* NatsTest.publish("jobs.new", { id: 1 }, { stream: "JOBS", schema: Job })
        yield* TestClock.adjust("300 millis")
        yield* NatsTest.awaitIdle
        const calls = yield* NatsTest.calls("jobs.new")
        assert.deepStrictEqual(calls.map((call) => call.deliveryCount), [1, 2])
      }).pipe(Effect.provide(NatsTest.layer(
        NatsBroker.subscriber(
          "jobs.new",
          { stream: "JOBS", durable: "worker", schema: Job, ackPolicy: "manual" },
          (_, message) => message.deliveryCount === 1 ? message.nak("300 millis") : message.ack
        ),
        { nats }
      ))))

    it.effect("counts a batch handler's messages", () =>
      Effect.gen(function*() {
        for (let id = 1; id <= 5; id++) yield* NatsBroker.publish("jobs.new", { id }, { stream: "JOBS", schema: Job })
        // Two full batches are handled; the last one waits for its timeout, on the test's clock.
        yield* NatsTest.awaitIdle
        const ids = (calls: ReadonlyArray<NatsTest.Call>) => calls.map((call) => (call.payload as typeof Job.Type).id)
        assert.sameMembers(ids(yield* NatsTest.calls("jobs.new")), [1, 2, 3, 4])
        yield* TestClock.adjust("100 millis")
        yield* NatsTest.awaitIdle
        assert.sameMembers(ids(yield* NatsTest.calls("jobs.new")), [1, 2, 3, 4, 5])
      }).pipe(Effect.provide(NatsTest.layer(
        NatsBroker.subscriber(
          "jobs.new",
          { stream: "JOBS", durable: "batcher", schema: Job, batch: { size: 2, timeout: "100 millis" } },
          () => Effect.void
        ),
        { nats }
      ))))

    it.effect("fails with IdleTimeout naming a consumer left with an unacknowledged message", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(NatsTest.publish("jobs.new", { id: 1 }, { stream: "JOBS", schema: Job }))
        assert.strictEqual(error._tag, "IdleTimeout")
        assert.include(error.message, `"jobs.new" (jobs.new): its consumer "forgetful" has 0 message(s) to deliver and 1 unacknowledged`)
      }).pipe(Effect.provide(NatsTest.layer(
        NatsBroker.subscriber(
          "jobs.new",
          { stream: "JOBS", durable: "forgetful", schema: Job, ackPolicy: "manual" },
          () => Effect.void
        ),
        { nats, idleTimeout: "300 millis" }
      ))))

    it.effect("awaitIdle waits for the KV and object watchers to see every change", () =>
      Effect.gen(function*() {
        const flags = yield* KeyValue.make({ bucket: "flags" })
        const uploads = yield* ObjectStore.make({ bucket: "uploads" })
        for (let i = 1; i <= 10; i++) yield* flags.put(`f${i % 3}`, `${i}`)
        yield* uploads.putBytes("a.txt", "a")
        yield* uploads.delete("a.txt")
        yield* NatsTest.awaitIdle
        const changes = yield* NatsTest.calls("flags:{name}")
        assert.deepStrictEqual(
          changes.map((call) => new TextDecoder().decode(call.payload as Uint8Array)),
          ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
        )
        const objects = yield* NatsTest.calls("uploads:>")
        assert.deepStrictEqual(objects.map((call) => [call.subject, (call.payload as ObjectStore.ObjectInfo).deleted]), [
          ["a.txt", false],
          ["a.txt", true]
        ])
      }).pipe(Effect.provide(NatsTest.layer(
        Layer.mergeAll(
          KeyValue.watcher("flags", "{name}", { include: "updatesOnly" }, () => Effect.void),
          ObjectStore.watcher("uploads", {}, () => Effect.void)
        ),
        { nats }
      ))))
  })
}
