/**
 * What subscribers write to the log, on the in-memory NATS: a flood of bad
 * input over time (driven by `TestClock`), and the lines of a shutdown. The
 * behaviour shared with nats-server is tested by the NatsBroker conformance
 * suite in @nats-effect/testing.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsBroker, NatsClient } from "@nats-effect/core"
import { Deferred, Effect, Fiber, Layer, Logger, Queue, References, Schema } from "effect"
import { TestClock } from "effect/testing"

interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

const captureLogs = Effect.gen(function*() {
  const lines = yield* Queue.unbounded<LogLine>()
  const logger = Logger.make((options) => {
    Queue.offerUnsafe(lines, {
      level: options.logLevel,
      message: Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message),
      annotations: options.fiber.getRef(References.CurrentLogAnnotations)
    })
  })
  return { lines, layer: Logger.layer([logger]) }
})

/** How many bad payloads a line of the log stands for: one when logged in full, else its `count`. */
const payloadsIn = (line: LogLine): number => line.message.startsWith("dropped a message") ? 1 : Number(line.annotations["count"])

describe("NatsBroker.subscriber with TestClock", () => {
  it.effect("logs a flood of bad payloads in a few lines per interval whose counts add up", () =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const handled = yield* Queue.unbounded<number>()
      const app = NatsBroker.subscriber("orders", { schema: Schema.Struct({ id: Schema.Number }) }, (order) =>
        Queue.offer(handled, order.id))
      const sendBad = (count: number) =>
        Effect.gen(function*() {
          for (let i = 0; i < count; i++) yield* NatsBroker.publish("orders", `garbage ${i}`)
          // Handled in order: once this one is, every bad payload before it has been seen.
          yield* NatsBroker.publish("orders", { id: count })
          assert.strictEqual(yield* Queue.take(handled), count)
        })
      yield* Effect.gen(function*() {
        yield* sendBad(600)
        yield* TestClock.adjust("10 seconds")
        yield* sendBad(390)
        yield* TestClock.adjust("10 seconds")
        // Counted when the subscriber stops, before its interval ends.
        yield* sendBad(10)
      }).pipe(
        Effect.provide(app.pipe(Layer.provideMerge(NatsBroker.layer), Layer.provide(NatsClient.layerMemory()))),
        Effect.provide(logs.layer)
      )
      const warnings = (yield* Queue.takeAll(logs.lines)).filter((line) => line.level === "Warn")
      // The first five in full, then one line per interval with the count of the others.
      assert.deepStrictEqual(warnings.map(payloadsIn), [1, 1, 1, 1, 1, 595, 390, 10])
      assert.strictEqual(warnings.map(payloadsIn).reduce((sum, count) => sum + count), 1000)
      assert.include(warnings[5]!.message, "could not be decoded")
      assert.strictEqual(warnings[5]!.annotations["subscriber"], "orders")
    }))
})

describe("NatsBroker.launch", () => {
  /** Launches an app of two subscribers, one of them stuck in its handler when `stuck`; stops it; its Info lines. */
  const stop = (stuck: boolean) =>
    Effect.gen(function*() {
      const logs = yield* captureLogs
      const started = yield* Deferred.make<void>()
      const app = Layer.mergeAll(
        NatsBroker.subscriber("jobs", {}, () => Effect.andThen(Deferred.succeed(started, undefined), Effect.never)),
        NatsBroker.subscriber("other", {}, () => Effect.void)
      ).pipe(
        NatsBroker.afterStartup(stuck ? NatsBroker.publish("jobs", "work") : Deferred.succeed(started, undefined)),
        Layer.provide(NatsBroker.layerWith({ gracefulTimeout: "100 millis" })),
        Layer.provide(NatsClient.layerMemory())
      )
      const launched = yield* NatsBroker.launch(app).pipe(Effect.provide(logs.layer), Effect.forkChild)
      yield* Deferred.await(started)
      yield* Fiber.interrupt(launched)
      const lines = (yield* Queue.takeAll(logs.lines)).filter((line) => line.level === "Info")
      // The app's lines, not those of a subscriber.
      for (const line of lines.slice(-2)) assert.notProperty(line.annotations, "subscriber")
      return lines.map((line) => line.message)
    })

  it.live("says when the app begins to stop (its subscribers, the graceful timeout) and when it has stopped", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual((yield* stop(false)).slice(-2), ["stopping: 2 subscriber(s), waiting up to 100ms", "stopped"])
    }))

  it.live("says how many handlers it interrupted after the graceful timeout", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(
        (yield* stop(true)).slice(-2),
        ["stopping: 2 subscriber(s), waiting up to 100ms", "stopped (1 handler(s) interrupted)"]
      )
    }))
})
