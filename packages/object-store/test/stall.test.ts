import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Queue, Stream } from "effect"
import { TestClock } from "effect/testing"
import { failWhenStalled } from "../src/internal/stall.ts"

const stall = failWhenStalled(Duration.seconds(4), () => "stalled" as const)

describe("failWhenStalled", () => {
  it.effect("fails a pull that waits for a timeout (at most a quarter more)", () =>
    Effect.gen(function*() {
      const upstream = yield* Queue.unbounded<number>()
      const first = yield* Deferred.make<void>()
      const fiber = yield* Stream.fromQueue(upstream).pipe(
        stall,
        Stream.tap(() => Deferred.succeed(first, undefined)),
        Stream.runCollect,
        Effect.flip,
        Effect.forkChild
      )
      yield* Queue.offer(upstream, 1)
      yield* Deferred.await(first)
      yield* TestClock.adjust("3900 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1200 millis")
      assert.strictEqual(yield* Fiber.join(fiber), "stalled")
    }))

  it.effect("does not count the time a slow reader spends between pulls", () =>
    Effect.gen(function*() {
      const read = yield* Stream.make(1, 2, 3).pipe(
        stall,
        Stream.mapEffect((n) => Effect.as(Effect.sleep("1 minute"), n)),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* TestClock.adjust("3 minutes")
      assert.deepStrictEqual(yield* Fiber.join(read), [1, 2, 3])
    }))

  it.effect("lets a stream through that keeps coming", () =>
    Effect.gen(function*() {
      const ticks = Stream.fromEffectRepeat(Effect.as(Effect.sleep("3 seconds"), 1)).pipe(Stream.take(10))
      const fiber = yield* ticks.pipe(stall, Stream.runCollect, Effect.forkChild)
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* Fiber.join(fiber)).length, 10)
    }))
})
