/**
 * The object storage example (`examples/object-storage`), tested on the
 * in-memory NATS: the real broker and the real object store, no server.
 */
import { assert, describe, it } from "@effect/vitest"
import { ObjectStore } from "@nats-effect/object-store"
import { NatsTest } from "@nats-effect/testing"
import { Deferred, Effect, Layer } from "effect"
import { App, FileChecked, Handler } from "../../object-storage/src/app.ts"

/** The handler alone, with its bucket and `FileChecked`: the test plays the startup. */
const HandlerWithBucket = NatsTest.layer(
  Handler.pipe(
    Layer.provideMerge(ObjectStore.layer({ bucket: "bucket" })),
    Layer.provideMerge(FileChecked.layer)
  )
)

const checked = Effect.flatMap(FileChecked, Deferred.await)

describe("object storage example", () => {
  it.effect("at startup the app puts the file and says Hi!; the handler reads File mock", () =>
    Effect.gen(function*() {
      // The app published while it started: wait for its handlers.
      yield* NatsTest.awaitIdle
      yield* NatsTest.assertCalledOnceWith("subject", "Hi!")
      assert.deepStrictEqual(yield* NatsTest.published("subject"), ["Hi!"])
      assert.deepStrictEqual(yield* checked, { message: "Hi!", file: "File mock" })
    }).pipe(Effect.provide(NatsTest.layer(App))))

  it.effect("the handler reports a file that is not File mock", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore.ObjectStore
      yield* store.putBytes("file", "something else")
      yield* NatsTest.publish("subject", "Hi!")
      const error = yield* Effect.flip(checked)
      assert.strictEqual(error._tag, "FileCheckFailed")
      assert.include(error.message, `"something else"`)
    }).pipe(Effect.provide(HandlerWithBucket)))

  it.effect("the handler reports a missing file", () =>
    Effect.gen(function*() {
      yield* NatsTest.publish("subject", "Hi!")
      const error = yield* Effect.flip(checked)
      assert.strictEqual(error._tag === "ObjectStoreError" && error.reason._tag, "ObjectNotFound")
    }).pipe(Effect.provide(HandlerWithBucket)))

  it.effect("a large file goes through the store in chunks", () =>
    Effect.gen(function*() {
      const store = yield* ObjectStore.ObjectStore
      const big = "File mock".padEnd(512 * 1024, ".")
      const info = yield* store.putBytes("file", big)
      assert.isAbove(info.chunks, 1)
      yield* NatsTest.publish("subject", "Hi!")
      const error = yield* Effect.flip(checked)
      assert.strictEqual(error._tag === "FileCheckFailed" && error.actual.length, big.length)
    }).pipe(Effect.provide(HandlerWithBucket)))
})
