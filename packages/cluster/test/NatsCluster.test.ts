/**
 * `NatsCluster.layer` and `layerClientOnly` on the in-memory NATS: runners
 * each on a subject of their own (never Effect's shared default address),
 * entities served across them and reached from a client-only process, the
 * storage on NATS unless the app gives its own, the client leaving the
 * runners' bucket as they set it.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsCluster } from "@nats-effect/cluster"
import { NatsClient } from "@nats-effect/core"
import { Duration, Effect, Layer, Schedule, Schema } from "effect"
import { ClusterSchema, Entity, MessageStorage, RunnerStorage, ShardingConfig } from "effect/cluster"
import { Rpc } from "effect/rpc"

const Echo = Entity.make("Echo", [
  Rpc.make("Where", { success: Schema.String }),
  Rpc.make("Keep", { payload: { text: Schema.String }, success: Schema.String }).annotate(ClusterSchema.Persisted, true)
])

const echo = (name: string) =>
  Echo.toLayer(Effect.succeed(Echo.of({
    Where: () => Effect.succeed(name),
    Keep: ({ payload }) => Effect.succeed(`${payload.text} kept by ${name}`)
  })))

const runner = (name: string, options: NatsCluster.ClusterOptions = {}) =>
  Layer.fresh(echo(name).pipe(Layer.provideMerge(NatsCluster.layer(options))))

const streamExists = (name: string) =>
  Effect.flatMap(NatsClient.NatsClient, (nats) => nats.jetstream.streams.info(name)).pipe(Effect.isSuccess)

describe("NatsCluster on the in-memory NATS", () => {
  it.live("two runners and a client: entities answered by both, persisted messages kept in JetStream", () =>
    Effect.gen(function*() {
      const clientFor = yield* Echo.client
      // Once both runners hold shards (the second to start takes its share from the first).
      yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => `echo-${i}`),
        (id) => clientFor(id).Where(),
        { concurrency: 10 }
      ).pipe(
        Effect.repeat({ schedule: Schedule.spaced("500 millis"), until: (served) => new Set(served).size === 2 }),
        Effect.timeout("30 seconds")
      )
      assert.match(yield* clientFor("echo-1").Keep({ text: "note" }), /^note kept by [ab]$/)
      assert.isTrue(yield* streamExists("KV_cluster_messages"))
      assert.isTrue(yield* streamExists("KV_cluster_runners"))
    }).pipe(Effect.provide(
      Layer.mergeAll(runner("a"), runner("b"), NatsCluster.layerClientOnly()).pipe(
        Layer.provideMerge(NatsClient.layerMemory())
      )
    )), { timeout: 60_000 })

  it.live("each runner serves on a subject of its own: given, or made for the process, never the shared default", () =>
    Effect.gen(function*() {
      const nats = yield* NatsClient.NatsClient
      const storage = yield* RunnerStorage.RunnerStorage
      // Registration runs once the runners have started.
      const registered = yield* storage.getRunners.pipe(
        Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (runners) => runners.length === 2 }),
        Effect.timeout("10 seconds")
      )
      const runners = registered.map(([runner]) => runner.address)
      assert.isTrue(runners.some((address) => address.host === "shop-1" && address.port === 7000))
      const made = runners.find((address) => address.host !== "shop-1")!
      assert.notStrictEqual(`${made.host}:${made.port}`, "localhost:34431")
      assert.strictEqual(made.port, process.pid)
      // Each answers on its own subject (a ping of Effect's runner RPCs).
      for (const address of runners) {
        const subject = NatsCluster.runnerSubject(address)
        assert.match(subject, /^cluster\.[A-Za-z0-9_=-]+\.\d+$/)
        yield* nats.flush
        const subscribers = yield* Effect.result(nats.request(subject, new Uint8Array(0), { timeout: "1 second" }))
        // Not an RPC call, so no answer, but not "nobody there" either.
        assert.isFalse(subscribers._tag === "Failure" && subscribers.failure.reason._tag === "NoResponders")
      }
      assert.strictEqual(NatsCluster.runnerSubject({ host: "10.0.0.7", port: 34431 }), "cluster.10=2E0=2E0=2E7.34431")
    }).pipe(Effect.provide(
      Layer.mergeAll(
        runner("given", { runnerAddress: { host: "shop-1", port: 7000 } }),
        runner("made"),
        NatsCluster.layerRunnerStorage().pipe(Layer.provide(ShardingConfig.layer()))
      ).pipe(Layer.provideMerge(NatsClient.layerMemory()))
    )), { timeout: 60_000 })

  it.live("the app's own storage, provided to the layer, is used instead", () =>
    Effect.gen(function*() {
      const clientFor = yield* Echo.client
      assert.strictEqual(yield* clientFor("echo-1").Keep({ text: "note" }), "note kept by solo")
      assert.isTrue((yield* MessageStorage.MemoryDriver).requests.size > 0)
      assert.isFalse(yield* streamExists("KV_cluster_messages"))
      assert.isFalse(yield* streamExists("KV_cluster_runners"))
    }).pipe(Effect.provide(
      echo("solo").pipe(
        Layer.provideMerge(NatsCluster.layer()),
        Layer.provideMerge(Layer.mergeAll(MessageStorage.layerMemory, RunnerStorage.layerMemory)),
        Layer.provide(ShardingConfig.layer()),
        Layer.provideMerge(NatsClient.layerMemory())
      )
    )), { timeout: 60_000 })

  it.effect("a client-only process opens the runners' bucket without changing its TTL", () =>
    Effect.gen(function*() {
      const nats = yield* NatsClient.NatsClient
      yield* Layer.build(
        NatsCluster.layerRunnerStorage().pipe(Layer.provide(ShardingConfig.layer({ shardLockExpiration: "42 seconds" })))
      )
      yield* Layer.build(NatsCluster.layerClientOnly())
      const info = yield* nats.jetstream.streams.info("KV_cluster_runners")
      assert.isTrue(Duration.equals(info.config.maxAge, Duration.seconds(42)))
    }).pipe(Effect.provide(NatsClient.layerMemory())))
})
