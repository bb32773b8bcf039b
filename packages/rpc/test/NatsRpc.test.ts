/**
 * Effect RPC over the in-memory NATS: calls, errors, streams with
 * backpressure, interruption both ways, replicas sharing calls in a queue
 * group, servers and clients that die, every serialization. Time is the
 * TestClock's: heartbeats and timeouts are driven, not waited for.
 */
import specs from "@asyncapi/specs"
import { assert, describe, it } from "@effect/vitest"
import { NatsBroker, NatsClient, NatsError } from "@nats-effect/core"
import { NatsRpc } from "@nats-effect/rpc"
import { Ajv, type SchemaObject } from "ajv"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Option, Queue, Scope, Stream } from "effect"
import { RpcClient, RpcClientError, RpcSerialization, RpcServer } from "effect/rpc"
import { TestClock } from "effect/testing"
import { type Killable, killable } from "./fixtures/killable.ts"
import { handlers, makeProbe, type Probe, Refused, TestRpcs } from "./fixtures/rpcs.ts"

const subject = "test.rpcs"

/** A replica serving `TestRpcs` on `subject` in the queue group "test". */
const serve = (replica: string, probe: Probe, nats?: Killable) =>
  Layer.build(
    RpcServer.layer(TestRpcs).pipe(
      Layer.provide(handlers(replica, probe)),
      Layer.provide(NatsRpc.layerProtocolServer({ subject, queue: "test" })),
      nats === undefined ? (layer) => layer : Layer.provide(nats.layer)
    )
  )

/** A client of `TestRpcs`, its protocol built in the current scope. */
const connect = (options: Partial<NatsRpc.ClientOptions & { subject: string }> = {}, nats?: Killable) =>
  Effect.gen(function*() {
    const protocol = NatsRpc.layerProtocolClient({ subject, ...options })
    const context = yield* Layer.build(nats === undefined ? protocol : Layer.provide(protocol, nats.layer))
    return yield* RpcClient.make(TestRpcs).pipe(Effect.provideContext(context))
  })

const Memory = Layer.merge(NatsClient.layerMemory(), RpcSerialization.layerJson)

/** The NATS failure an `RpcClientError` carries. */
const natsCause = (error: unknown): NatsError.NatsError => {
  assert.instanceOf(error, RpcClientError.RpcClientError)
  const cause = (error as RpcClientError.RpcClientError).reason.cause
  assert.isTrue(NatsError.isNatsError(cause), `not a NatsError: ${String(cause)}`)
  return cause as NatsError.NatsError
}

describe("NatsRpc on the in-memory NATS", () => {
  it.effect("two replicas in one queue group share 200 calls; typed errors and defects reach the caller", () =>
    Effect.gen(function*() {
      const [a, b] = [yield* makeProbe, yield* makeProbe]
      yield* serve("a", a)
      yield* serve("b", b)
      const client = yield* connect()

      const served = yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => i),
        (i) => client.Echo({ text: `call ${i}` }),
        { concurrency: 16 }
      )
      assert.deepStrictEqual(served.map((s) => s.text), Array.from({ length: 200 }, (_, i) => `call ${i}`))
      assert.deepStrictEqual(new Set(served.map((s) => s.replica)), new Set(["a", "b"]))

      const refused = yield* Effect.flip(client.Refuse({ why: "not today" }))
      assert.instanceOf(refused, Refused)
      assert.strictEqual((refused as Refused).why, "not today")

      const crashed = yield* Effect.exit(client.Crash({ why: "boom" }))
      assert.isTrue(Exit.hasDies(crashed))
      assert.match(String(Cause.squash((crashed as Exit.Failure<unknown, unknown>).cause)), /boom/)
    }).pipe(Effect.provide(Memory)))

  it.effect("a stream of 10,000 items read slowly: the server is never more than a window ahead", () =>
    Effect.gen(function*() {
      const [a, b] = [yield* makeProbe, yield* makeProbe]
      yield* serve("a", a)
      yield* serve("b", b)
      const client = yield* connect()
      let consumed = 0
      let ahead = 0
      yield* client.Count({ to: 10_000, chunk: 100 }).pipe(
        Stream.runForEach((item) => {
          consumed++
          assert.strictEqual(item.n, consumed)
          ahead = Math.max(ahead, (item.replica === "a" ? a : b).produced - consumed)
          // A slow reader: the server, left alone, would run to the end meanwhile.
          return Effect.yieldNow
        })
      )
      assert.strictEqual(consumed, 10_000)
      // One chunk sent and waiting for its ack, the client's buffer (16), the next chunk.
      assert.isAtMost(ahead, 2 * 100 + 16)
    }).pipe(Effect.provide(Memory)))

  it.effect("interrupting a call or leaving a stream early interrupts it on the server", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      yield* serve("a", probe)
      const client = yield* connect()
      const call = yield* Effect.forkChild(client.Hang())
      yield* Deferred.await(probe.hanging)
      yield* Fiber.interrupt(call)
      yield* Deferred.await(probe.interrupted)

      const streamProbe = yield* makeProbe
      yield* serve("b", streamProbe)
      // Both replicas serve; take 5 items from streams until one ran on "b".
      while (!Deferred.isDoneUnsafe(streamProbe.interrupted)) {
        const items = yield* Stream.runCollect(Stream.take(client.Count({ to: 1_000_000, chunk: 10 }), 5))
        assert.deepStrictEqual(items.map((item) => item.n), [1, 2, 3, 4, 5])
        if (items[0]!.replica === "b") yield* Deferred.await(streamProbe.interrupted)
      }
    }).pipe(Effect.provide(Memory)))

  it.effect("a call to a subject nobody serves fails at once with the no-responders answer", () =>
    Effect.gen(function*() {
      const client = yield* connect({ subject: "nobody.home" })
      const error = yield* Effect.flip(client.Echo({ text: "hello?" }))
      assert.strictEqual(natsCause(error).reason._tag, "NoResponders")
    }).pipe(Effect.provide(Memory)))

  it.effect("a call nobody takes fails after the timeout", () =>
    Effect.gen(function*() {
      const nats = yield* NatsClient.NatsClient
      // Subscribed, but never answering: a stalled server.
      yield* nats.subscribe("stalled")
      const client = yield* connect({ subject: "stalled", timeout: "2 seconds" })
      const call = yield* Effect.forkChild(Effect.flip(client.Echo({ text: "hello?" })))
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(natsCause(yield* Fiber.join(call)).reason._tag, "TimeoutError")
    }).pipe(Effect.provide(Memory)))

  it.effect("a replica that dies mid-stream fails that stream within a ping, and the next call goes to the other", () =>
    Effect.gen(function*() {
      const nats = { a: yield* killable, b: yield* killable }
      const probes = { a: yield* makeProbe, b: yield* makeProbe }
      yield* serve("a", probes.a, nats.a)
      yield* serve("b", probes.b, nats.b)
      const client = yield* connect()
      const items = yield* client.Count({ to: 1_000_000, chunk: 10 }, { asQueue: true })
      const first = yield* Queue.take(items)
      yield* nats[first.replica as "a" | "b"].kill
      const failed = yield* Effect.forkChild(Effect.flip(Effect.forever(Queue.take(items))))
      // The client pings the replica every second: no responders.
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(failed)
      assert.strictEqual(natsCause(error).reason._tag, "NoResponders")
      const next = yield* client.Echo({ text: "still there?" })
      assert.notStrictEqual(next.replica, first.replica)
    }).pipe(Effect.provide(Memory)))

  it.effect("a replica that hangs fails its calls once a ping goes unanswered for the ping timeout", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const nats = yield* killable
      yield* serve("a", probe, nats)
      const client = yield* connect({ pingTimeout: "3 seconds" })
      const call = yield* Effect.forkChild(Effect.flip(client.Hang()))
      yield* Deferred.await(probe.hanging)
      yield* nats.freeze
      yield* TestClock.adjust("1 second")
      assert.isUndefined(call.pollUnsafe())
      yield* TestClock.adjust("3 seconds")
      assert.strictEqual(natsCause(yield* Fiber.join(call)).reason._tag, "TimeoutError")
    }).pipe(Effect.provide(Memory)))

  it.effect("a client that dies is dropped by the server after its timeout, and its calls interrupted", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      yield* serve("a", probe)
      const nats = yield* killable
      const client = yield* connect({}, nats)
      yield* Effect.forkChild(client.Hang())
      yield* Deferred.await(probe.hanging)
      // A live client's pings keep its call running.
      yield* TestClock.adjust("30 seconds")
      assert.isFalse(Deferred.isDoneUnsafe(probe.interrupted))
      yield* nats.kill
      // Silent for 5 seconds, seen at the next sweep (every second).
      yield* TestClock.adjust("6 seconds")
      yield* Deferred.await(probe.interrupted)
    }).pipe(Effect.provide(Memory)))

  it.effect("a client that closes stops its calls on the server at once", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      yield* serve("a", probe)
      const scope = yield* Scope.make()
      const client = yield* connect().pipe(Scope.provide(scope))
      yield* Effect.forkChild(client.Hang())
      yield* Deferred.await(probe.hanging)
      yield* Scope.close(scope, Exit.void)
      yield* Deferred.await(probe.interrupted)
    }).pipe(Effect.provide(Memory)))

  it.effect("the caller's span is the parent of the server's", () =>
    Effect.gen(function*() {
      yield* serve("a", yield* makeProbe)
      const client = yield* connect()
      const [caller, seen] = yield* Effect.all([Effect.currentSpan, client.Trace()]).pipe(Effect.withSpan("caller"))
      assert.strictEqual(seen.traceId, caller.traceId)
      assert.notStrictEqual(seen.parent, "")
      assert.notStrictEqual(seen.parent, caller.spanId) // the client's own span is in between
    }).pipe(Effect.provide(Memory)))

  it.effect("messages in the client's inbox that are not responses do not break it", () =>
    Effect.gen(function*() {
      const nats = yield* NatsClient.NatsClient
      yield* serve("a", yield* makeProbe)
      const seen = yield* nats.subscribe("_PROBE.>")
      const client = yield* connect({ inboxPrefix: "_PROBE" })
      yield* client.Echo({ text: "first" })
      const inbox = Option.getOrThrow(yield* Stream.runHead(seen)).subject
      const garbage = new TextEncoder().encode("not json")
      yield* nats.publish(inbox, new Uint8Array(0))
      yield* nats.publish(inbox, garbage)
      yield* nats.publish(inbox, garbage, { headers: { "Nats-Rpc-Server": "_INBOX.nobody" } })
      assert.strictEqual((yield* client.Echo({ text: "second" })).text, "second")
    }).pipe(Effect.provide(Memory)))
})

describe("NatsRpc with each serialization", () => {
  it.effect("a call in another serialization than the server's is refused at once, saying so", () =>
    Effect.gen(function*() {
      yield* serve("a", yield* makeProbe).pipe(Effect.provide(RpcSerialization.layerJson))
      const client = yield* connect().pipe(Effect.provide(RpcSerialization.layerNdjson))
      const error = yield* Effect.flip(client.Echo({ text: "hi" }))
      assert.instanceOf(error, RpcClientError.RpcClientError)
      assert.include(error.message, "reads application/json, not application/x-ndjson")
    }).pipe(Effect.provide(NatsClient.layerMemory())))

  it.effect("a call the server cannot read whole (another framing under the same content type) is refused at once", () =>
    Effect.gen(function*() {
      yield* serve("a", yield* makeProbe).pipe(Effect.provide(RpcSerialization.layerNdJsonRpc({ contentType: "application/json" })))
      const client = yield* connect().pipe(Effect.provide(RpcSerialization.layerJson))
      const error = yield* Effect.flip(client.Echo({ text: "hi" }))
      assert.instanceOf(error, RpcClientError.RpcClientError)
      assert.include(error.message, "found no whole message in the call")
    }).pipe(Effect.provide(NatsClient.layerMemory())))


  const serializations = [
    ["json", RpcSerialization.layerJson],
    ["ndjson", RpcSerialization.layerNdjson],
    ["JSON-RPC", RpcSerialization.layerJsonRpc()],
    ["ndjson JSON-RPC", RpcSerialization.layerNdJsonRpc()],
    ["schema-binary", RpcSerialization.layerSchemaBinary()]
  ] as const
  for (const [name, serialization] of serializations) {
    it.effect(`${name}: calls, typed errors and streams`, () =>
      Effect.gen(function*() {
        yield* serve("a", yield* makeProbe)
        const client = yield* connect()
        assert.strictEqual((yield* client.Echo({ text: "hi" })).text, "hi")
        assert.instanceOf(yield* Effect.flip(client.Refuse({ why: "no" })), Refused)
        const items = yield* Stream.runCollect(client.Count({ to: 50, chunk: 7 }))
        assert.deepStrictEqual(items.map((item) => item.n), Array.from({ length: 50 }, (_, i) => i + 1))
      }).pipe(Effect.provide(Layer.merge(NatsClient.layerMemory(), serialization))))
  }
})

// The AsyncAPI schema bundles the draft-07 meta-schema it is written in: Ajv's own copy is left out.
const validateAsyncApi = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false, validateFormats: false })
  .compile(specs.schemas["3.0.0"] as SchemaObject)

describe("NatsRpc.layerServer", () => {
  const App = (probe: Probe) =>
    NatsRpc.layerServer(TestRpcs, { subject, queue: "test" }).pipe(
      Layer.provide(handlers("a", probe)),
      Layer.provide(RpcSerialization.layerJson)
    )

  it.effect("serves the group", () =>
    Effect.gen(function*() {
      yield* Layer.build(App(yield* makeProbe))
      const client = yield* connect()
      assert.strictEqual((yield* client.Echo({ text: "hi" })).replica, "a")
    }).pipe(Effect.provide(Memory)))

  it.effect("documents each RPC as a request/reply operation of the app's AsyncAPI document", () =>
    Effect.gen(function*() {
      const document = yield* NatsBroker.asyncApi(App(yield* makeProbe), { title: "rpcs", version: "1.0.0" })
      assert.isTrue(validateAsyncApi(document), JSON.stringify(validateAsyncApi.errors, null, 2))
      assert.deepStrictEqual(Object.keys(document.operations).sort(), [
        "receive.Count",
        "receive.Crash",
        "receive.Echo",
        "receive.Hang",
        "receive.Refuse",
        "receive.Trace"
      ])
      const echo = document.operations["receive.Echo"]!
      assert.strictEqual(document.channels[echo.channel.$ref.split("/").at(-1)!]!.address, subject)
      assert.deepStrictEqual(echo.bindings, { nats: { queue: "test", bindingVersion: "0.1.0" } })
      assert.deepStrictEqual(echo["x-effect-rpc"], { tag: "Echo", stream: false })
      assert.deepStrictEqual(document.operations["receive.Count"]!["x-effect-rpc"], { tag: "Count", stream: true })
      // The reply is the RPC's own answer: no broker error message beside it.
      assert.strictEqual(echo.reply!.messages.length, 1)
      const text = JSON.stringify(document)
      assert.include(text, "\"Refused\"")
      assert.include(text, "\"Chunk\"")
    }))
})
