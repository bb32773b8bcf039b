import { assert, describe, it } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { Config, ConfigProvider, Deferred, Effect, Fiber, Latch, Layer, Stream, Tracer } from "effect"
import { TestClock } from "effect/testing"

/** A tracer that keeps every span it makes. */
const recordingTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { spans, tracer }
}

/** The names of the spans current where `currentSpanName` ran ("none" outside any span), in order. */
const seenNames: Array<string> = []
const currentSpanName = Effect.currentSpan.pipe(
  Effect.map((span) => span.name),
  Effect.orElseSucceed(() => "none"),
  Effect.map((name) => {
    seenNames.push(name)
  })
)

describe("ObjectStore", () => {
  it.effect("objects expire after the bucket's ttl", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore.make({ bucket: "ephemeral", ttl: "1 minute" })
      yield* store.putBytes("soon-gone", "data")
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual(new TextDecoder().decode(yield* store.getBytes("soon-gone")), "data")
      yield* TestClock.adjust("2 seconds")
      const gone = yield* Effect.flip(store.info("soon-gone"))
      assert.strictEqual(gone.reason._tag, "ObjectNotFound")
      assert.deepStrictEqual(yield* store.list(), [])
    }).pipe(Effect.provide(NatsClient.layerMemory())))

  it.live("layerConfig reads its options from Config", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore.ObjectStore
      assert.strictEqual(store.bucket, "from_config")
      const info = yield* store.putBytes("x", new Uint8Array(3000))
      assert.strictEqual(info.chunks, 3)
    }).pipe(
      Effect.provide(
        ObjectStore.layerConfig({
          bucket: Config.String("OBJECT_BUCKET"),
          chunkSize: Config.Int("OBJECT_CHUNK_SIZE")
        }).pipe(
          Layer.provide(NatsClient.layerMemory()),
          Layer.provide(ConfigProvider.layer(
            ConfigProvider.fromUnknown({ OBJECT_BUCKET: "from_config", OBJECT_CHUNK_SIZE: 1024 })
          ))
        )
      )
    ))

  it.live("put and get are traced with messaging attributes", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const store = yield* ObjectStore.make({ bucket: "traced", chunkSize: 1024 })
      const source = Stream.concat(Stream.make(new Uint8Array(2500)), Stream.fromEffectDrain(currentSpanName))
      yield* store.put("a/b", source).pipe(Effect.withTracer(tracer))
      // The source is read inside the put's span.
      assert.deepStrictEqual(seenNames.splice(0), ["ObjectStore.put"])
      yield* Stream.runDrain(store.get("a/b")).pipe(Effect.withTracer(tracer))
      const put = spans.find((span) => span.name === "ObjectStore.put")
      const get = spans.find((span) => span.name === "ObjectStore.get")
      assert.isDefined(put)
      assert.isDefined(get)
      assert.strictEqual(put!.kind, "producer")
      assert.strictEqual(get!.kind, "consumer")
      for (const span of [put!, get!]) {
        assert.strictEqual(span.attributes.get("messaging.system"), "nats")
        assert.strictEqual(span.attributes.get("messaging.destination.name"), "$O.traced.M.YS9i")
        assert.strictEqual(span.attributes.get("nats.object_store.bucket"), "traced")
        assert.strictEqual(span.attributes.get("nats.object_store.object"), "a/b")
      }
      for (const span of [put!, get!]) {
        assert.strictEqual(span.attributes.get("nats.object_store.size"), 2500)
        assert.strictEqual(span.attributes.get("nats.object_store.chunks"), 3)
      }
    }).pipe(Effect.provide(NatsClient.layerMemory())))

  it.live("without a tracer that records spans, no span is made", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore.make({ bucket: "untraced", chunkSize: 1024 })
      const source = Stream.concat(Stream.make(new Uint8Array(2500)), Stream.fromEffectDrain(currentSpanName))
      // Effect's built-in tracer: the source is read in the caller's span, not in one of the put's.
      const put = store.put("a/b", source).pipe(Effect.withSpan("caller"))
      yield* put
      // A recording tracer, turned off.
      const { spans, tracer } = recordingTracer()
      yield* put.pipe(Effect.withTracer(tracer), Effect.withTracerEnabled(false))
      assert.deepStrictEqual(seenNames.splice(0), ["caller", "caller"])
      yield* Stream.runDrain(store.get("a/b")).pipe(Effect.withTracer(tracer), Effect.withTracerEnabled(false))
      assert.deepStrictEqual(spans, [])
      // Nor are the put's and the get's attributes set on the caller's span.
      const caller = yield* Effect.gen(function*() {
        yield* store.put("c", Stream.make(new Uint8Array(10)))
        yield* store.getBytes("c")
        return yield* Effect.currentSpan
      }).pipe(Effect.withSpan("caller"))
      assert.deepStrictEqual([...caller.attributes.keys()], [])
    }).pipe(Effect.provide(NatsClient.layerMemory())))

  it.live("a put keeps publishWindow acknowledgements in flight and pulls the source no further ahead", () =>
    Effect.gen(function*() {
      const nats = yield* NatsClient.NatsClient
      const window = 4
      const acks = yield* Latch.make(false)
      const windowFull = yield* Deferred.make<void>()
      let inFlight = 0
      let maxInFlight = 0
      let pulled = 0
      // Chunk publishes wait for the test to let the acknowledgements through.
      const gated = NatsClient.NatsClient.of({
        ...nats,
        jetstream: {
          ...nats.jetstream,
          publish: (subject, data, options) =>
            subject.includes(".C.")
              ? Effect.gen(function*() {
                inFlight++
                maxInFlight = Math.max(maxInFlight, inFlight)
                if (inFlight === window) yield* Deferred.succeed(windowFull, undefined)
                yield* acks.await
                const ack = yield* nats.jetstream.publish(subject, data, options)
                inFlight--
                return ack
              })
              : nats.jetstream.publish(subject, data, options)
        }
      })
      const store = yield* ObjectStore.make({ bucket: "window", chunkSize: 1024, publishWindow: window }).pipe(
        Effect.provideService(NatsClient.NatsClient, gated)
      )
      const source = Stream.range(1, 64, 1).pipe(Stream.map(() => {
        pulled++
        return new Uint8Array(1024)
      }))
      const put = yield* Effect.forkChild(store.put("windowed", source))
      yield* Deferred.await(windowFull)
      // Give the put every chance to go further.
      for (let i = 0; i < 100; i++) yield* Effect.yieldNow
      assert.strictEqual(inFlight, window)
      assert.isAtMost(pulled, window + 2)
      yield* acks.open
      const info = yield* Fiber.join(put)
      assert.strictEqual(info.chunks, 64)
      assert.strictEqual(maxInFlight, window)
      assert.strictEqual(pulled, 64)
    }).pipe(Effect.provide(NatsClient.layerMemory())))
})
