/**
 * The object store across a lost server: each test has a nats-server of its
 * own, kills it in the middle of an operation and starts it again on the same
 * port and store.
 */
import { assert, describe, it } from "@effect/vitest"
import { ObjectStore } from "@nats-effect/object-store"
import { NatsServer } from "@nats-effect/testing"
import { Effect, Stream } from "effect"
import { createHash } from "node:crypto"

const MiB = 1024 * 1024

/** Deterministic bytes that differ from one offset to the next. */
const pattern = (size: number): Uint8Array => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >> 8)) & 0xff
  return out
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex")

/** Kills the server and starts it again, once `received` reaches `atBytes`. */
const restartOnceAt = (server: NatsServer.NatsServer["Service"], atBytes: number) => {
  let restarted = false
  return (received: number) =>
    restarted || received < atBytes ? Effect.void : Effect.suspend(() => {
      restarted = true
      return Effect.andThen(server.kill, server.start)
    })
}

describe("ObjectStore across a server restart (nats.js)", () => {
  it.live("a get resumes after the server restarts and completes with the right digest", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      // Default options: a 20 s stall timeout, 64 chunks read ahead.
      const store = yield* ObjectStore.make({ bucket: "restart_get" })
      const data = pattern(40 * MiB)
      yield* store.putBytes("big", data)

      const restart = restartOnceAt(server, 8 * MiB)
      const hash = createHash("sha256")
      let received = 0
      yield* store.get("big").pipe(
        Stream.runForEach((piece) => {
          hash.update(piece)
          received += piece.length
          return restart(received)
        })
      )
      assert.strictEqual(received, data.length)
      assert.strictEqual(hash.digest("hex"), sha256(data))
    }).pipe(Effect.provide(NatsServer.layerClient())), { timeout: 60_000 })
})
