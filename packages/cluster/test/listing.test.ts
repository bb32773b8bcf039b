import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { listAll } from "../src/internal/listing.ts"

describe("listAll", () => {
  it.effect("starts a listing that stalls (its last message removed meanwhile) again", () =>
    Effect.gen(function*() {
      let attempts = 0
      // The first attempt delivers one entry and waits for one that will never come.
      const listing = Stream.suspend(() =>
        ++attempts === 1 ? Stream.concat(Stream.make("a"), Stream.never) : Stream.make("a", "b")
      )
      const fiber = yield* Effect.forkChild(listAll(listing), { startImmediately: true })
      yield* TestClock.adjust("2 seconds")
      assert.deepStrictEqual(yield* Fiber.join(fiber), ["a", "b"])
      assert.strictEqual(attempts, 2)
    }))
})
