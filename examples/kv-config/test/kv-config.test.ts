import { assert, describe, it } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { KeyValue } from "@nats-effect/kv"
import { NatsServer } from "@nats-effect/testing"
import { Context, Deferred, Effect, Layer, Logger, Stream } from "effect"
import { FeatureFlags, run } from "../src/app.ts"
import { recordingLogs } from "../../logs.ts"


const quiet = ["Hello, Ada", "HELLO, ADA!", "Hello, Ada"]

/** A bucket `flags` on the in-memory NATS, and `FeatureFlags` built on it when the test asks for it. */
const Bucket = KeyValue.layer({ bucket: "flags" }).pipe(Layer.provideMerge(NatsClient.layerMemory()))
const startFlags = Effect.map(Layer.build(FeatureFlags.layer), Context.get(FeatureFlags))

/** Waits until `flag` is absent from the watched flags: deleted or purged. */
const awaitRemoved = (flags: FeatureFlags["Service"], flag: string) =>
  flags.changes.pipe(Stream.filter((state) => !state.flags.has(flag)), Stream.runHead)

describe("kv-config example", () => {
  it.live("greets, turns loud while the flag is on, and stops, on the in-memory NATS", () =>
    Effect.gen(function*() {
      const [result, lines] = yield* recordingLogs(run(NatsClient.layerMemory()))
      assert.deepStrictEqual(result.greetings, quiet)
      assert.strictEqual(lines[0], "using the in-memory NATS (no server; JetStream on)")
      assert.includeMembers(lines, [
        "flag loud-greeting is on (revision 1)",
        "flag loud-greeting is off (revision 2)",
        `removed the bucket "flags" it created`
      ])
    }))

  for (const server of NatsServer.matrix()) it.live(`the same app on a real nats-server (nats-server ${server.version})`, () =>
    Effect.gen(function*() {
      const [result, lines] = yield* recordingLogs(run(NatsServer.layerClient({ bin: server.bin })))
      assert.deepStrictEqual(result.greetings, quiet)
      assert.match(lines[0]!, /^connected to NATS at nats:\/\/127\.0\.0\.1:\d+ \(nats-server [\d.]+, JetStream on\)$/)
    }))

  for (const server of NatsServer.matrix()) it.live(`on a server, removes the bucket it created; reads and leaves one that was there before (nats-server ${server.version})`, () =>
    Effect.gen(function*() {
      const nats = yield* Effect.map(Layer.build(NatsServer.layerClient({ bin: server.bin })), Context.get(NatsClient.NatsClient))
      const onServer = Layer.succeed(NatsClient.NatsClient, nats)

      const [created, createdLines] = yield* recordingLogs(run(onServer))
      assert.deepStrictEqual(created.greetings, quiet)
      assert.include(createdLines, `removed the bucket "flags" it created`)
      assert.deepStrictEqual(yield* nats.jetstream.streams.list(), [])

      // The flag is on before the app starts: its first greeting is already loud.
      const flags = yield* KeyValue.make({ bucket: "flags" }).pipe(Effect.provide(onServer))
      yield* flags.put("loud-greeting", "true")
      const [found, foundLines] = yield* recordingLogs(run(onServer))
      assert.deepStrictEqual(found.greetings, ["HELLO, ADA!", "HELLO, ADA!", "Hello, Ada"])
      assert.include(foundLines, `left the bucket "flags", which was there before`)
      const left = yield* flags.get("loud-greeting")
      assert.strictEqual(left._tag === "Some" && new TextDecoder().decode(left.value.value), "false")
    }).pipe(Effect.scoped))

  it.live("flags stored before the watch starts are read before FeatureFlags is ready", () =>
    Effect.gen(function*() {
      const bucket = yield* KeyValue.KeyValue
      yield* bucket.put("loud-greeting", "true")
      yield* bucket.put("beta", "true")
      yield* bucket.put("old", "true")
      yield* bucket.delete("old")
      const flags = yield* startFlags
      assert.isTrue(yield* flags.isEnabled("loud-greeting"))
      assert.isTrue(yield* flags.isEnabled("beta"))
      assert.isFalse(yield* flags.isEnabled("old"))
      assert.isFalse(yield* flags.isEnabled("never-set"))
    }).pipe(Effect.scoped, Effect.provide(Bucket)))

  it.live("a change written by someone else is seen live; a delete or a purge turns the flag off", () =>
    Effect.gen(function*() {
      const bucket = yield* KeyValue.KeyValue
      const flags = yield* startFlags
      assert.isFalse(yield* flags.isEnabled("beta"))

      yield* flags.seen(yield* bucket.put("beta", "true"))
      assert.isTrue(yield* flags.isEnabled("beta"))

      yield* bucket.delete("beta")
      yield* awaitRemoved(flags, "beta")
      assert.isFalse(yield* flags.isEnabled("beta"))

      yield* flags.seen(yield* bucket.put("beta", "true"))
      yield* bucket.purge("beta")
      yield* awaitRemoved(flags, "beta")
      assert.isFalse(yield* flags.isEnabled("beta"))
    }).pipe(Effect.scoped, Effect.provide(Bucket)))

  it.live("a value that is not a flag is logged and ignored: the flag keeps its value", () =>
    Effect.gen(function*() {
      const bucket = yield* KeyValue.KeyValue
      const [, lines] = yield* recordingLogs(Effect.gen(function*() {
        const flags = yield* startFlags
        yield* flags.seen(yield* bucket.put("beta", "true"))
        const revision = yield* bucket.put("beta", "yes")
        yield* flags.seen(revision)
        assert.isTrue(yield* flags.isEnabled("beta"))
        return revision
      }).pipe(Effect.scoped))
      assert.include(lines, "ignored the value of beta at revision 2: not true or false")
    }).pipe(Effect.provide(Bucket)))

  it.live("when the watch fails, says so once and keeps the flags it had", () =>
    Effect.gen(function*() {
      const bucket = yield* KeyValue.KeyValue
      const failed = Deferred.makeUnsafe<string>()
      const errors = Logger.make(({ logLevel, message }) => {
        if (logLevel === "Error") Deferred.doneUnsafe(failed, Effect.succeed(String(message)))
      })
      const flags = yield* startFlags.pipe(Effect.provide(Logger.layer([errors])))
      yield* flags.seen(yield* bucket.put("beta", "true"))
      yield* bucket.destroy()
      assert.strictEqual(yield* Deferred.await(failed), "the flags watch failed: flags keep their last values")
      assert.isTrue(yield* flags.isEnabled("beta"))
    }).pipe(Effect.scoped, Effect.provide(Bucket)))
})
