/**
 * JetStream subscriber timing driven by `TestClock`, on the in-memory NATS
 * (whose redeliveries follow Effect's `Clock`): the backoff delays to the
 * millisecond, progress reports that outlast the ack wait, and a batch handed
 * over when its timeout has passed since its first message. The behaviour
 * shared with nats-server is tested by the NatsBroker JetStream conformance
 * suite in @nats-effect/testing.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsBroker, NatsClient } from "@nats-effect/core"
import { Cause, Clock, type Duration, Effect, Exit, Layer, Option, Queue, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Memory from "../src/internal/memory/client.ts"

class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", { message: Schema.String }) {}

const withApp = <A, E, R, E2, R2>(app: Layer.Layer<never, E2, R2>, program: Effect.Effect<A, E, R>) =>
  Effect.provide(program, app.pipe(Layer.provideMerge(NatsBroker.layer), Layer.provideMerge(NatsClient.layerMemory())))

describe("NatsBroker JetStream subscribers with TestClock", () => {
  it.effect("redelivers a failed message after the backoff entry for its delivery count", () =>
    Effect.gen(function*() {
      const deliveries = yield* Queue.unbounded<readonly [number, number]>()
      const app = NatsBroker.subscriber(
        "jobs.run",
        { stream: "JOBS", durable: "runner", backoff: ["10 seconds", "1 minute"], maxDeliver: 4 },
        (_, message) =>
          Effect.andThen(
            Effect.flatMap(Clock.currentTimeMillis, (now) => Queue.offer(deliveries, [message.deliveryCount, now])),
            Effect.fail(new Unavailable({ message: "try later" }))
          )
      )
      yield* withApp(
        app,
        Effect.gen(function*() {
          yield* NatsBroker.publish("jobs.run", "job", { stream: "JOBS" })
          // Each delivery is recorded at the test clock's time: one that came early would show it.
          assert.deepStrictEqual(yield* Queue.take(deliveries), [1, 0])
          yield* TestClock.adjust("10 seconds")
          assert.deepStrictEqual(yield* Queue.take(deliveries), [2, 10_000])
          yield* TestClock.adjust("1 minute")
          assert.deepStrictEqual(yield* Queue.take(deliveries), [3, 70_000])
          // The last entry repeats.
          yield* TestClock.adjust("1 minute")
          assert.deepStrictEqual(yield* Queue.take(deliveries), [4, 130_000])
        })
      )
    }))

  it.effect("keeps a handler that runs ten times its ack wait from being redelivered", () =>
    Effect.gen(function*() {
      const deliveries = yield* Queue.unbounded<string>()
      const app = NatsBroker.subscriber(
        "reports.build",
        { stream: "REPORTS", durable: "builder", ackWait: "30 seconds" },
        (payload, message) =>
          Effect.andThen(
            Queue.offer(deliveries, `${payload}/${message.deliveryCount}`),
            payload === "slow" ? Effect.sleep("5 minutes") : Effect.void
          )
      )
      yield* withApp(
        app,
        Effect.gen(function*() {
          yield* NatsBroker.publish("reports.build", "slow", { stream: "REPORTS" })
          yield* NatsBroker.publish("reports.build", "next", { stream: "REPORTS" })
          assert.strictEqual(yield* Queue.take(deliveries), "slow/1")
          yield* TestClock.adjust("5 minutes")
          // The second message, not a redelivery of the first.
          assert.strictEqual(yield* Queue.take(deliveries), "next/1")
          const nats = yield* NatsClient.NatsClient
          const info = yield* nats.jetstream.consumers.info("REPORTS", "builder")
          assert.strictEqual(info.numRedelivered, 0)
        })
      )
    }))

  it.effect("hands a partial batch over when its timeout has passed since its first message", () =>
    Effect.gen(function*() {
      const batches = yield* Queue.unbounded<readonly [ReadonlyArray<unknown>, number]>()
      const app = NatsBroker.subscriber(
        "events.seen",
        { stream: "EVENTS", durable: "collector", batch: { size: 5, timeout: "10 seconds" } },
        (payloads) => Effect.flatMap(Clock.currentTimeMillis, (now) => Queue.offer(batches, [payloads, now]))
      )
      yield* withApp(
        app,
        Effect.gen(function*() {
          yield* NatsBroker.publish("events.seen", "a", { stream: "EVENTS" })
          yield* NatsBroker.publish("events.seen", "b", { stream: "EVENTS" })
          yield* TestClock.adjust("9999 millis")
          assert.isTrue(Option.isNone(yield* Queue.poll(batches)))
          yield* TestClock.adjust("1 millis")
          assert.deepStrictEqual(yield* Queue.take(batches), [["a", "b"], 10_000])
        })
      )
    }))

  it.effect("refuses a batch size that is not a positive integer, or a timeout that is not positive, as a defect", () =>
    Effect.gen(function*() {
      const build = (batch: { size: number; timeout: Duration.Input }) =>
        Layer.build(NatsBroker.subscriber("events.seen", { stream: "EVENTS", batch }, () => Effect.void)).pipe(
          Effect.provide(Layer.provideMerge(NatsBroker.layer, NatsClient.layerMemory())),
          Effect.scoped,
          Effect.exit
        )
      for (
        const batch of [{ size: 0, timeout: "1 second" }, { size: 1.5, timeout: "1 second" }, { size: 2, timeout: "0 millis" }] as const
      ) {
        const exit = yield* build(batch)
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), JSON.stringify(batch))
      }
    }))
})

describe("NatsBroker JetStream subscribers on an older server", () => {
  it.effect("refuses several subjects before nats-server 2.10 with FeatureNotSupported, declaring nothing", () =>
    Effect.gen(function*() {
      const driver = yield* Memory.make({})
      const current = NatsClient.make(driver)
      const older = NatsClient.make({ ...driver, server: () => ({ ...driver.server(), version: "2.9.10" }) })
      const app = NatsBroker.subscriber(
        "orders.{region}",
        { stream: "ORDERS", subjects: ["orders.eu", "orders.us"] },
        () => Effect.void
      )
      const error = yield* Effect.flip(
        Layer.build(app.pipe(Layer.provideMerge(NatsBroker.layer), Layer.provide(Layer.succeed(NatsClient.NatsClient, older))))
      )
      assert.deepInclude(error.reason, {
        _tag: "FeatureNotSupported",
        feature: "several filter subjects",
        requiredVersion: "2.10.0",
        serverVersion: "2.9.10"
      })
      assert.strictEqual((yield* Effect.flip(current.jetstream.streams.info("ORDERS"))).reason._tag, "StreamNotFound")
    }))
})
