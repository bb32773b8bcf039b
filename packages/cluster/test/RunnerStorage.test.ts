/**
 * `NatsCluster.layerRunnerStorage`: registration with machine ids no two
 * live runners share, health, shard locks held by one runner at a time
 * (taken, refreshed, released, lost), and a runner that stops refreshing
 * losing its registration and locks after the shard lock expiration. On the
 * in-memory NATS (expiry on the TestClock) and on each nats-server (expiry
 * on the server's clock, awaited with a deadline).
 */
import { assert, describe, expect, it, layer } from "@effect/vitest"
import { NatsCluster } from "@nats-effect/cluster"
import { NatsClient } from "@nats-effect/core"
import { Adapters } from "@nats-effect/testing"
import { Context, type Duration, Effect, Layer, Schedule } from "effect"
import { Runner, RunnerAddress, RunnerStorage, ShardId, ShardingConfig } from "effect/cluster"
import { TestClock } from "effect/testing"

let buckets = 0
/** A storage of its own (its own bucket), or another handle on the one named `bucket`. */
const storage = (options: { readonly bucket?: string; readonly expiration?: Duration.Input } = {}) =>
  Layer.build(
    NatsCluster.layerRunnerStorage({ bucket: options.bucket ?? `runners_${++buckets}` }).pipe(
      Layer.provide(ShardingConfig.layer({ shardLockExpiration: options.expiration ?? "15 seconds" }))
    )
  ).pipe(Effect.map((context) => Context.get(context, RunnerStorage.RunnerStorage)))

const runner = (port: number) => Runner.make({ address: RunnerAddress.make("host", port), groups: ["default"], weight: 1 })
const a = runner(1)
const b = runner(2)
const shards = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ShardId.make("default", from + i))
const numbers = (acquired: ReadonlyArray<ShardId.ShardId>) => acquired.map((shard) => shard.id).sort((x, y) => x - y)

for (const adapter of Adapters.adapters) {
  describe(`NatsCluster.layerRunnerStorage (${adapter.name})`, () => {
    layer(adapter.layer(), { excludeTestServices: true, timeout: "120 seconds" })((it) => {
      it.effect("registers runners with machine ids of their own, their health, and unregisters them", () =>
        Effect.gen(function*() {
          const first = yield* storage()
          const second = yield* storage({ bucket: `runners_${buckets}` })
          const ids = [yield* first.register(a, true), yield* second.register(b, true)]
          expect(new Set(ids).size).toBe(2)
          // Registering again keeps the machine id.
          expect(yield* first.register(a, true)).toBe(ids[0])
          yield* second.setRunnerHealth(a.address, false)
          const runners = yield* first.getRunners
          expect(runners.map(([r, healthy]) => [r.address.port, healthy]).sort()).toEqual([[1, false], [2, true]])
          yield* first.unregister(a.address)
          expect((yield* second.getRunners).map(([r]) => r.address.port)).toEqual([2])
          // The machine id of a runner that left can be had again.
          expect(yield* first.register(runner(3), true)).toBe(ids[0])
        }))

      it.effect("a shard lock is held by one runner until it releases it", () =>
        Effect.gen(function*() {
          const storeA = yield* storage()
          const storeB = yield* storage({ bucket: `runners_${buckets}` })
          expect(numbers(yield* storeA.acquire(a.address, shards(1, 5)))).toEqual([1, 2, 3, 4, 5])
          expect(numbers(yield* storeB.acquire(b.address, shards(1, 10)))).toEqual([6, 7, 8, 9, 10])
          // Taking again what one holds keeps it.
          expect(numbers(yield* storeA.acquire(a.address, shards(1, 2)))).toEqual([1, 2])
          expect(numbers(yield* storeA.refresh(a.address, shards(1, 7)))).toEqual([1, 2, 3, 4, 5])
          yield* storeA.release(a.address, ShardId.make("default", 1))
          yield* storeB.release(b.address, ShardId.make("default", 2)) // not its lock: nothing happens
          expect(numbers(yield* storeB.acquire(b.address, shards(1, 2)))).toEqual([1])
          yield* storeA.releaseAll(a.address)
          expect(numbers(yield* storeB.acquire(b.address, shards(1, 10)))).toEqual(numbers(shards(1, 10)))
          expect(yield* storeA.refresh(a.address, shards(1, 10))).toEqual([])
        }))

      it.effect("a runner that stops refreshing loses its registration and its locks after the expiration", () =>
        Effect.gen(function*() {
          const storeA = yield* storage({ expiration: "2 seconds" })
          const storeB = yield* storage({ bucket: `runners_${buckets}`, expiration: "2 seconds" })
          yield* storeA.register(a, true)
          yield* storeB.register(b, true)
          expect(numbers(yield* storeA.acquire(a.address, shards(1, 3)))).toEqual([1, 2, 3])
          // b refreshes (its heartbeat included), a does not: on the server's clock, a's locks go.
          const takenOver = storeB.refresh(b.address, []).pipe(
            Effect.andThen(storeB.acquire(b.address, shards(1, 3))),
            Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: (acquired) => acquired.length === 3 }),
            Effect.timeout("15 seconds")
          )
          expect(numbers(yield* takenOver)).toEqual([1, 2, 3])
          expect((yield* storeB.getRunners).map(([r]) => r.address.port)).toEqual([2])
          expect(yield* storeA.refresh(a.address, shards(1, 3))).toEqual([])
        }))
    })
  })
}

describe("NatsCluster.layerRunnerStorage on the TestClock", () => {
  it.effect("locks and registrations last the shard lock expiration after their last refresh", () =>
    Effect.gen(function*() {
      const storeA = yield* storage()
      const storeB = yield* storage({ bucket: `runners_${buckets}` })
      yield* storeA.register(a, true)
      expect(numbers(yield* storeA.acquire(a.address, shards(1, 3)))).toEqual([1, 2, 3])
      yield* TestClock.adjust("10 seconds")
      expect(numbers(yield* storeA.refresh(a.address, shards(1, 3)))).toEqual([1, 2, 3])
      yield* TestClock.adjust("10 seconds")
      // 20 seconds after the acquire, 10 after the refresh: still a's.
      expect(yield* storeB.acquire(b.address, shards(1, 3))).toEqual([])
      assert.lengthOf(yield* storeB.getRunners, 1)
      yield* TestClock.adjust("6 seconds")
      expect(numbers(yield* storeB.acquire(b.address, shards(1, 3)))).toEqual([1, 2, 3])
      assert.lengthOf(yield* storeB.getRunners, 0)
    }).pipe(Effect.provide(NatsClient.layerMemory())))
})
