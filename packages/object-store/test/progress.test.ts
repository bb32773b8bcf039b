import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import type { Progress } from "../src/ObjectStore.ts"
import * as Progresses from "../src/internal/progress.ts"

describe("progress", () => {
  it.effect("reports at most every 100 ms of the Clock, and always at the end", () =>
    Effect.gen(function*() {
      const events: Array<Progress> = []
      const reporter = yield* Progresses.reporter({ onProgress: (p) => Effect.sync(() => events.push(p)) }, 1000)
      assert.isDefined(reporter)
      yield* reporter!.update(10, 1)
      yield* TestClock.adjust("99 millis")
      yield* reporter!.update(20, 2)
      assert.deepStrictEqual(events, [])
      yield* TestClock.adjust("1 millis")
      yield* reporter!.update(30, 3)
      yield* reporter!.update(40, 4)
      assert.deepStrictEqual(events, [{ bytes: 30, total: 1000, chunks: 3 }])
      yield* TestClock.adjust("150 millis")
      yield* reporter!.update(50, 5)
      // The next one is due 100 ms after the last call, not on a fixed beat.
      yield* TestClock.adjust("60 millis")
      yield* reporter!.update(60, 6)
      yield* reporter!.end(1000, 7)
      assert.deepStrictEqual(events, [
        { bytes: 30, total: 1000, chunks: 3 },
        { bytes: 50, total: 1000, chunks: 5 },
        { bytes: 1000, total: 1000, chunks: 7 }
      ])
    }))

  it.effect("leaves total out when it is not known, and makes no reporter without onProgress", () =>
    Effect.gen(function*() {
      const events: Array<Progress> = []
      const reporter = yield* Progresses.reporter({ onProgress: (p) => Effect.sync(() => events.push(p)) }, undefined)
      yield* reporter!.end(5, 1)
      assert.deepStrictEqual(events, [{ bytes: 5, chunks: 1 }])
      assert.isFalse("total" in events[0]!)
      assert.isUndefined(yield* Progresses.reporter({}, 10))
      assert.isUndefined(yield* Progresses.reporter(undefined, 10))
    }))
})
