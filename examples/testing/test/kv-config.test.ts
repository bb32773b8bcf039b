/**
 * The feature flags example (`examples/kv-config`), tested on the in-memory
 * NATS: the real broker, the real key-value bucket and its watch, no server.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValue } from "@nats-effect/kv"
import { NatsTest } from "@nats-effect/testing"
import { Deferred, Effect, Layer, Schema } from "effect"
import { App, DemoDone, FeatureFlags, Flag, Handlers } from "../../kv-config/src/app.ts"

/** The handlers with the flags, watched, on a bucket of the in-memory NATS. */
const TestHandlers = NatsTest.layer(
  Handlers.pipe(
    Layer.provideMerge(FeatureFlags.layer),
    Layer.provideMerge(KeyValue.layer({ bucket: "flags" }))
  )
)

const greet = NatsTest.request("greet", "Ada", { schema: Schema.String, response: Schema.String })

describe("kv-config example", () => {
  it.effect("greets quietly, and loudly once loud-greeting is set through flags.set", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* greet, "Hello, Ada")
      const revision = yield* NatsTest.request("flags.set.loud-greeting", true, { schema: Flag, response: Schema.Number })
      yield* NatsTest.assertCalledOnceWith("flags.set.{flag}", true, { params: { flag: "loud-greeting" } })
      // The reply says the bucket has the flag; the watch sees it a moment later.
      yield* FeatureFlags.use((flags) => flags.seen(revision))
      assert.strictEqual(yield* greet, "HELLO, ADA!")
    }).pipe(Effect.provide(TestHandlers)))

  it.effect("sees a flag written straight into the bucket, by another service", () =>
    Effect.gen(function*() {
      const bucket = yield* KeyValue.KeyValue
      const revision = yield* KeyValue.typed(Flag)(bucket).put("loud-greeting", true)
      yield* FeatureFlags.use((flags) => flags.seen(revision))
      assert.strictEqual(yield* greet, "HELLO, ADA!")
    }).pipe(Effect.provide(TestHandlers)))

  it.effect("answers a flag name that is not a key with the bucket's error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(NatsTest.request("flags.set.not+a+key", true, { schema: Flag }))
      assert.deepInclude(error._tag === "NatsError" ? error.reason : undefined, { _tag: "RemoteError", error: "KeyValueError" })
    }).pipe(Effect.provide(TestHandlers)))

  it.effect("the whole app: the startup demo greets, loud only while the flag is on", () =>
    Effect.gen(function*() {
      const result = yield* Deferred.await(yield* DemoDone)
      assert.deepStrictEqual(result.greetings, ["Hello, Ada", "HELLO, ADA!", "Hello, Ada"])
      yield* NatsTest.awaitIdle
      assert.deepStrictEqual((yield* NatsTest.calls("flags.set.{flag}")).map((call) => call.payload), [true, false])
    }).pipe(Effect.provide(NatsTest.layer(App.pipe(Layer.provideMerge(Layer.effect(DemoDone, Deferred.make())))))))
})
