import { assert, describe, it } from "@effect/vitest"
import { NatsBroker, NatsClient } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { NatsServer } from "@nats-effect/testing"
import { Context, Deferred, Effect, Layer } from "effect"
import { FileChecked, Handler, run } from "../src/app.ts"
import { recordingLogs } from "../../logs.ts"


describe("object storage example", () => {
  it.live("the handler gets Hi! and reads File mock, on the in-memory NATS", () =>
    Effect.gen(function*() {
      const [checked, lines] = yield* recordingLogs(run(NatsClient.layerMemory()))
      assert.deepStrictEqual(checked, { message: "Hi!", file: "File mock" })
      assert.strictEqual(lines[0], "using the in-memory NATS (no server; JetStream on)")
      // The object watcher logged the file the app put.
      assert.include(lines, `object "file" stored: 9 bytes`)
    }))

  for (const server of NatsServer.matrix()) it.live(`the same app on a real nats-server (nats-server ${server.version})`, () =>
    Effect.gen(function*() {
      const [checked, lines] = yield* recordingLogs(run(NatsServer.layerClient({ bin: server.bin })))
      assert.deepStrictEqual(checked, { message: "Hi!", file: "File mock" })
      assert.match(lines[0]!, /^connected to NATS at nats:\/\/127\.0\.0\.1:\d+ \(nats-server [\d.]+, JetStream on\)$/)
    }))

  for (const server of NatsServer.matrix()) it.live(`on a server, removes the bucket it created and leaves one that was there before (nats-server ${server.version})`, () =>
    Effect.gen(function*() {
      const nats = yield* Effect.map(Layer.build(NatsServer.layerClient({ bin: server.bin })), Context.get(NatsClient.NatsClient))
      const onServer = Layer.succeed(NatsClient.NatsClient, nats)

      const [, created] = yield* recordingLogs(run(onServer))
      assert.include(created, `removed the bucket "bucket" it created`)
      assert.deepStrictEqual(yield* nats.jetstream.streams.list(), [])

      yield* ObjectStore.make({ bucket: "bucket" }).pipe(Effect.provide(onServer))
      const [, found] = yield* recordingLogs(run(onServer))
      assert.include(found, `left the bucket "bucket", which was there before`)
      assert.deepStrictEqual((yield* nats.jetstream.streams.list()).map((stream) => stream.config.name), ["OBJ_bucket"])
    }).pipe(Effect.scoped))

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
