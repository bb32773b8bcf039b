import { assert, describe, it } from "@effect/vitest"
import { NatsBroker, NatsClient } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { NatsServer } from "@nats-effect/testing"
import { Deferred, Effect, Layer } from "effect"
import { FileChecked, Handler, run } from "../src/app.ts"

describe("object storage example", () => {
  it.live("the handler gets Hi! and reads File mock, on the in-memory NATS", () =>
    Effect.gen(function*() {
      const checked = yield* run(NatsClient.layerMemory())
      assert.deepStrictEqual(checked, { message: "Hi!", file: "File mock" })
    }))

  it.live("the same app on a real nats-server", () =>
    Effect.gen(function*() {
      const checked = yield* run(NatsServer.layerClient())
      assert.deepStrictEqual(checked, { message: "Hi!", file: "File mock" })
    }))

  it.live("the handler reports a file that is not File mock", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore.ObjectStore
      yield* store.putBytes("file", "something else")
      yield* NatsBroker.publish("subject", "Hi!")
      const error = yield* Effect.flip(Effect.flatMap(FileChecked, Deferred.await))
      assert.strictEqual(error._tag, "FileCheckFailed")
      assert.include(error.message, "something else")
    }).pipe(
      Effect.provide(
        Handler.pipe(
          Layer.provideMerge(ObjectStore.layer({ bucket: "bucket" })),
          Layer.provideMerge(NatsBroker.layer),
          Layer.provideMerge(FileChecked.layer),
          Layer.provide(NatsClient.layerMemory())
        )
      )
    ))
})
