/**
 * Effect RPC on a real nats-server, with replicas in processes of their own:
 * two in one queue group share a client's calls, a stream read slowly keeps
 * its server within a window, and killing the replica that serves a stream
 * (`kill -9`) fails that stream within 5 seconds while the next call goes to
 * the other. Also the no-responders answer and the status messages it puts
 * in an inbox.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsClient, NatsError } from "@nats-effect/core"
import { NatsRpc } from "@nats-effect/rpc"
import { NatsServer, NodeProcess } from "@nats-effect/testing"
import { Effect, Layer, Queue, Stream } from "effect"
import { RpcClient, RpcClientError, RpcSerialization } from "effect/rpc"
import { fileURLToPath } from "node:url"
import { Refused, TestRpcs } from "./fixtures/rpcs.ts"

const replicaEntry = fileURLToPath(new URL("./fixtures/replica.ts", import.meta.url))
const subject = "test.rpcs"

const startReplica = (name: string) =>
  Effect.flatMap(NatsServer.NatsServer, (server) =>
    NodeProcess.spawn(replicaEntry, {
      env: { NATS_URL: server.url, RPC_SUBJECT: subject, RPC_QUEUE: "test", RPC_REPLICA: name },
      ready: `replica ${name} ready`
    }))

const connect = (options: Partial<NatsRpc.ClientOptions & { subject: string }> = {}) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(NatsRpc.layerProtocolClient({ subject, ...options }))
    return yield* RpcClient.make(TestRpcs).pipe(Effect.provideContext(context))
  })

/** How many stream items the replica has produced, asked of its process. */
const produced = (replica: string) =>
  Effect.flatMap(NatsClient.NatsClient, (nats) => nats.request(`progress.${replica}`, new Uint8Array(0))).pipe(
    Effect.map((reply) => Number(new TextDecoder().decode(reply.data)))
  )

const natsCause = (error: unknown): NatsError.NatsError => {
  assert.instanceOf(error, RpcClientError.RpcClientError)
  const cause = (error as RpcClientError.RpcClientError).reason.cause
  assert.isTrue(NatsError.isNatsError(cause), `not a NatsError: ${String(cause)}`)
  return cause as NatsError.NatsError
}

for (const server of NatsServer.matrix()) {
  describe(`NatsRpc with replica processes (nats-server ${server.version})`, () => {
    const Nats = Layer.merge(NatsServer.layerClient({ bin: server.bin }), RpcSerialization.layerJson)

    it.live("two replicas share 200 calls; a slow stream; kill -9 mid-stream fails it within 5 s, the next call succeeds", () =>
      Effect.gen(function*() {
        const replicas = yield* Effect.all({ a: startReplica("a"), b: startReplica("b") }, { concurrency: 2 })
        const client = yield* connect()

        const served = yield* Effect.forEach(
          Array.from({ length: 200 }, (_, i) => i),
          (i) => client.Echo({ text: `call ${i}` }),
          { concurrency: 16 }
        )
        assert.deepStrictEqual(served.map((s) => s.text), Array.from({ length: 200 }, (_, i) => `call ${i}`))
        assert.deepStrictEqual(new Set(served.map((s) => s.replica)), new Set(["a", "b"]))
        assert.instanceOf(yield* Effect.flip(client.Refuse({ why: "no" })), Refused)

        // 10,000 items read slowly (a round trip to the replica every 500): it stays a window ahead.
        let consumed = 0
        let ahead = 0
        yield* client.Count({ to: 10_000, chunk: 100 }).pipe(
          Stream.runForEach((item) => {
            consumed++
            assert.strictEqual(item.n, consumed)
            if (consumed % 500 !== 0) return Effect.void
            return Effect.map(produced(item.replica), (count) => {
              ahead = Math.max(ahead, count - consumed)
            })
          })
        )
        assert.strictEqual(consumed, 10_000)
        assert.isAtMost(ahead, 2 * 100 + 16)

        // A stream that would run for long; its replica killed after the first item.
        const items = yield* client.Count({ to: 1_000_000, chunk: 100 }, { asQueue: true })
        const first = yield* Queue.take(items)
        const killedAt = Date.now()
        yield* replicas[first.replica as "a" | "b"].kill
        const error = yield* Effect.flip(Effect.forever(Queue.take(items)))
        const failedAfter = Date.now() - killedAt
        yield* Effect.logInfo(`the stream failed ${failedAfter} ms after its replica was killed`)
        assert.isBelow(failedAfter, 5_000)
        assert.include(["NoResponders", "TimeoutError"], natsCause(error).reason._tag)

        const next = yield* client.Echo({ text: "still there?" })
        assert.notStrictEqual(next.replica, first.replica)
      }).pipe(Effect.provide(Nats)), { timeout: 60_000 })

    it.live("a subject nobody serves fails at once, and the no-responders status in the inbox breaks nothing", () =>
      Effect.gen(function*() {
        const nats = yield* NatsClient.NatsClient
        const started = Date.now()
        const nobody = yield* connect({ subject: "nobody.home" })
        assert.strictEqual(natsCause(yield* Effect.flip(nobody.Echo({ text: "hello?" }))).reason._tag, "NoResponders")
        assert.isBelow(Date.now() - started, 1_000)

        yield* startReplica("a")
        const seen = yield* Queue.unbounded<NatsClient.Msg>()
        yield* Effect.forkScoped(Stream.runForEach(yield* nats.subscribe("_PROBE.>"), (msg) => Queue.offer(seen, msg)))
        const client = yield* connect({ inboxPrefix: "_PROBE" })
        yield* client.Echo({ text: "first" })
        const inbox = (yield* Queue.take(seen)).subject
        // Sent with the client's inbox as its reply subject, to nobody: the server answers there with a 503.
        yield* nats.publish("nobody.home", new Uint8Array(0), { reply: inbox })
        const status = yield* Queue.take(seen)
        assert.strictEqual(status.subject, inbox)
        assert.strictEqual(status.data.length, 0)
        assert.strictEqual((yield* client.Echo({ text: "second" })).text, "second")
      }).pipe(Effect.provide(Nats)), { timeout: 60_000 })
  })
}
