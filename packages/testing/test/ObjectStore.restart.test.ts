/**
 * The object store across a lost server: each test has a nats-server of its
 * own, kills it in the middle of an operation and starts it again on the same
 * port and store.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { NatsServer } from "@nats-effect/testing"
import { Effect, Logger, Option, Queue, Stream } from "effect"
import { createHash } from "node:crypto"

const MiB = 1024 * 1024

/** Deterministic bytes that differ from one offset to the next. */
const pattern = (size: number): Uint8Array => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >> 8)) & 0xff
  return out
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex")

/** Runs `effect` once, when the byte count passed reaches `atBytes`. */
const onceAt = <E>(atBytes: number, effect: Effect.Effect<void, E>) => {
  let done = false
  return (bytes: number): Effect.Effect<void, E> =>
    done || bytes < atBytes ? Effect.void : Effect.suspend(() => {
      done = true
      return effect
    })
}

/** A logger layer, and a way to await a message it receives from an effect it is provided to or its forks. */
const capturingLogs = Effect.map(Queue.unbounded<string>(), (logs) => ({
  logger: Logger.layer([
    Logger.make(({ message }) => {
      Queue.offerUnsafe(logs, (Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
  ]),
  awaitLog: (pattern: RegExp) =>
    Stream.fromQueue(logs).pipe(
      Stream.filter((line) => pattern.test(line)),
      Stream.runHead,
      Effect.map(Option.getOrThrow)
    )
}))

const streamState = (stream: string) =>
  Effect.flatMap(NatsClient.NatsClient, (nats) => nats.jetstream.streams.info(stream)).pipe(
    Effect.map((info) => info.state)
  )

for (const server of NatsServer.matrix()) describe(`ObjectStore across a server restart (nats.js) (nats-server ${server.version})`, () => {
  it.live("the chunks of a put that failed while the server was away go once it is back", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const { awaitLog, logger } = yield* capturingLogs
      const store = yield* ObjectStore.make({ bucket: "restart_put" })
      const previous = pattern(MiB)
      yield* store.putBytes("big", previous)
      const before = yield* streamState("OBJ_restart_put")

      // 64 MiB, the server killed once 16 MiB are read from the source.
      const kill = onceAt(16 * MiB, server.kill)
      let pulled = 0
      const source = Stream.range(1, 64).pipe(
        Stream.mapEffect(() => Effect.as(kill(pulled += MiB), pattern(MiB)))
      )
      const failed = yield* Effect.flip(store.put("big", source).pipe(Effect.provide(logger)))
      assert.strictEqual(failed.reason._tag, "NatsError")

      // Down past the failure, then back: the store removes the chunks within 30 s.
      yield* server.start
      const removed = yield* awaitLog(/removed the \d+ chunks/).pipe(Effect.timeout("30 seconds"))
      assert.match(removed, /removed the [1-9]\d* chunks of the failed put of "big"/)
      const after = yield* streamState("OBJ_restart_put")
      assert.strictEqual(after.messages, before.messages)
      assert.strictEqual(after.bytes, before.bytes)
      assert.strictEqual(sha256(yield* store.getBytes("big")), sha256(previous))
    }).pipe(Effect.provide(NatsServer.layerClient({ bin: server.bin }))), { timeout: 90_000 })

  it.live("a get resumes after the server restarts and completes with the right digest", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      // Default options: a 20 s stall timeout, 64 chunks read ahead.
      const store = yield* ObjectStore.make({ bucket: "restart_get" })
      const data = pattern(40 * MiB)
      yield* store.putBytes("big", data)

      const restart = onceAt(8 * MiB, Effect.andThen(server.kill, server.start))
      const hash = createHash("sha256")
      let received = 0
      yield* store.get("big").pipe(
        Stream.runForEach((piece) => {
          hash.update(piece)
          return restart(received += piece.length)
        })
      )
      assert.strictEqual(received, data.length)
      assert.strictEqual(hash.digest("hex"), sha256(data))
    }).pipe(Effect.provide(NatsServer.layerClient({ bin: server.bin }))), { timeout: 60_000 })
})
