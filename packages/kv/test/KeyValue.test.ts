import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { KeyValue, type KeyValueError } from "@nats-effect/kv"
import { Cause, Config, ConfigProvider, type Context, Effect, Exit, Layer, Option, Schema, Stream, Tracer } from "effect"
import { TestClock } from "effect/testing"

const text = (data: Uint8Array) => new TextDecoder().decode(data)
const valueOf = (found: Option.Option<KeyValue.Entry>) => Option.getOrUndefined(Option.map(found, (e) => text(e.value)))

describe("KeyValue", () => {
  it.effect("values expire after the bucket's ttl", () =>
    Effect.gen(function*() {
      const kv = yield* KeyValue.make({ bucket: "sessions", ttl: "1 minute", history: 3 })
      yield* kv.put("early", "1")
      yield* TestClock.adjust("30 seconds")
      yield* kv.put("late", "1")
      yield* kv.put("early", "2")
      yield* TestClock.adjust("31 seconds")
      // The first value of "early" is gone from its history, the second is still there.
      assert.deepStrictEqual((yield* Stream.runCollect(kv.history("early"))).map((e) => text(e.value)), ["2"])
      assert.strictEqual(valueOf(yield* kv.get("late")), "1")
      yield* TestClock.adjust("30 seconds")
      assert.isTrue(Option.isNone(yield* kv.get("early")))
      assert.isTrue(Option.isNone(yield* kv.get("late")))
      assert.deepStrictEqual(yield* Stream.runCollect(kv.keys()), [])
      assert.strictEqual((yield* kv.status()).values, 0)
      // An expired key can be created again.
      yield* kv.create("early", "3")
      assert.strictEqual(valueOf(yield* kv.get("early")), "3")
    }).pipe(Effect.provide(NatsClient.layerMemory())))

  it.effect("a key with a TTL goes by the clock, leaving a marker watchers see as a purge, which goes in turn", () =>
    Effect.gen(function*() {
      const kv = yield* KeyValue.make({ bucket: "sessions", limitMarkerTtl: "1 minute" })
      const changes = yield* Stream.toPull(yield* kv.openWatch({ include: "updatesOnly" }))
      yield* kv.create("user-1", "token", { ttl: "10 minutes" })
      yield* kv.put("user-2", "token")
      assert.deepStrictEqual((yield* changes).map((entry) => [entry.key, entry.operation]), [
        ["user-1", "PUT"],
        ["user-2", "PUT"]
      ])
      yield* TestClock.adjust("9 minutes")
      assert.strictEqual(valueOf(yield* kv.get("user-1")), "token")
      yield* TestClock.adjust("1 minute")
      const [expired] = yield* changes
      assert.deepStrictEqual(
        [expired!.key, expired!.operation, expired!.created.getTime()],
        ["user-1", "PURGE", 10 * 60_000]
      )
      assert.isTrue(Option.isNone(yield* kv.get("user-1")))
      assert.strictEqual((yield* kv.status()).values, 2)
      // The marker goes after the bucket's limitMarkerTtl.
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* kv.status()).values, 1)
      assert.deepStrictEqual(yield* Stream.runCollect(kv.keys()), ["user-2"])
    }).pipe(Effect.provide(NatsClient.layerMemory())))

  it.effect("purgeDeletes removes the markers older than olderThan, and keeps newer ones", () =>
    Effect.gen(function*() {
      const kv = yield* KeyValue.make({ bucket: "markers", history: 5 })
      yield* kv.put("old", "1")
      yield* kv.delete("old")
      yield* TestClock.adjust("10 minutes")
      yield* kv.put("new", "1")
      yield* kv.purge("new")
      yield* TestClock.adjust("1 minute")
      yield* kv.purgeDeletes({ olderThan: "5 minutes" })
      assert.deepStrictEqual(yield* Stream.runCollect(kv.history("old")), [])
      assert.deepStrictEqual((yield* Stream.runCollect(kv.history("new"))).map((e) => e.operation), ["PURGE"])
      // The default is 30 minutes.
      yield* TestClock.adjust("28 minutes")
      yield* kv.purgeDeletes()
      assert.strictEqual((yield* Stream.runCollect(kv.history("new"))).length, 1)
      yield* TestClock.adjust("2 minutes")
      yield* kv.purgeDeletes()
      assert.deepStrictEqual(yield* Stream.runCollect(kv.history("new")), [])
    }).pipe(Effect.provide(NatsClient.layerMemory())))

  it.live("layerConfig reads its options from Config", () =>
    Effect.gen(function*() {
      const kv = yield* KeyValue.KeyValue
      assert.strictEqual(kv.bucket, "from_config")
      const status = yield* kv.status()
      assert.strictEqual(status.history, 7)
      assert.strictEqual(status.storage, "memory")
    }).pipe(
      Effect.provide(
        KeyValue.layerConfig({
          bucket: Config.String("KV_BUCKET"),
          history: Config.Int("KV_HISTORY"),
          storage: Config.succeed("memory")
        }).pipe(
          Layer.provide(NatsClient.layerMemory()),
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ KV_BUCKET: "from_config", KV_HISTORY: 7 })))
        )
      )
    ))

  it.effect("layer provides the bucket as KeyValue", () =>
    Effect.gen(function*() {
      const kv = yield* KeyValue.KeyValue
      yield* kv.put("k", "v")
      assert.strictEqual(valueOf(yield* kv.get("k")), "v")
      assert.strictEqual((yield* kv.status()).description, "described")
    }).pipe(
      Effect.provide(
        KeyValue.layer({ bucket: "layered", description: "described" }).pipe(Layer.provide(NatsClient.layerMemory()))
      )
    ))

  it("layer with a schema is typed as the Schema's bucket, without one as KeyValue", () => {
    const Flag = Schema.Struct({ enabled: Schema.Boolean })
    type Error = KeyValueError.KeyValueError
    expectTypeOf(KeyValue.layer({ bucket: "typed", schema: Flag })).toEqualTypeOf<
      Layer.Layer<KeyValue.TypedKeyValue<typeof Flag>, Error, NatsClient.NatsClient>
    >()
    expectTypeOf(KeyValue.TypedKeyValue(Flag)).toEqualTypeOf<
      Context.Service<KeyValue.TypedKeyValue<typeof Flag>, KeyValue.TypedBucket<{ readonly enabled: boolean }>>
    >()
    expectTypeOf(KeyValue.layer({ bucket: "bytes" })).toEqualTypeOf<
      Layer.Layer<KeyValue.KeyValue, Error, NatsClient.NatsClient>
    >()
  })

  it.live("operations are traced with messaging attributes", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.NativeSpan> = []
      const tracer = Tracer.make({
        span(options) {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const kv = yield* KeyValue.make({ bucket: "traced" })
      yield* Effect.gen(function*() {
        yield* kv.put("a.b", "1")
        yield* kv.get("a.b")
        yield* kv.update("a.b", "2", 1)
        yield* Stream.runDrain(kv.keys("a.*"))
      }).pipe(Effect.withTracer(tracer))
      const byName = new Map(spans.map((span) => [span.name, span]))
      for (const [name, kind] of [["put", "producer"], ["get", "client"], ["update", "producer"]] as const) {
        const span = byName.get(`KeyValue.${name}`)
        assert.isDefined(span, name)
        assert.strictEqual(span!.kind, kind)
        assert.strictEqual(span!.attributes.get("messaging.system"), "nats")
        assert.strictEqual(span!.attributes.get("messaging.destination.name"), "$KV.traced.a.b")
        assert.strictEqual(span!.attributes.get("nats.kv.bucket"), "traced")
        assert.strictEqual(span!.attributes.get("nats.kv.key"), "a.b")
      }
      const keys = byName.get("KeyValue.keys")
      assert.strictEqual(keys?.kind, "consumer")
      assert.strictEqual(keys?.attributes.get("messaging.destination.name"), "$KV.traced.a.*")
    }).pipe(Effect.provide(NatsClient.layerMemory())))

  it.effect("a failure's trace names the operation, not a line inside the library", () =>
    Effect.gen(function*() {
      const kv = yield* KeyValue.make({ bucket: "traced" })
      const recording = Tracer.make({ span: (options) => new Tracer.NativeSpan(options) })
      const exit = yield* Effect.exit(kv.put("not a key", "1").pipe(Effect.withTracer(recording)))
      assert.isTrue(Exit.isFailure(exit))
      const lines = Exit.isFailure(exit) ? Cause.pretty(exit.cause).split("\n").map((line) => line.trim()) : []
      assert.include(lines, "at KeyValue.put")
    }).pipe(Effect.provide(NatsClient.layerMemory())))

  it.effect("makes no span without a tracer that records spans", () =>
    Effect.gen(function*() {
      const kv = yield* KeyValue.make({ bucket: "untraced" })
      const exit = yield* Effect.exit(kv.put("not a key", "1"))
      assert.isTrue(Exit.isFailure(exit))
      assert.notInclude(Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "", "KeyValue.put")
    }).pipe(Effect.provide(NatsClient.layerMemory())))
})
