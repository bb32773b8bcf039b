/**
 * `NatsClient.make(driver)`: the port's rules apply before a driver is
 * called, whatever the driver. A driver that only records what it is asked
 * shows what reaches a third adapter: checked input, encoded headers and
 * expectations, the defaults, the server's limits.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsClient, type NatsError } from "@nats-effect/core"
import { Duration, Effect, Option, Stream } from "effect"

const bytes = (text: string) => new TextEncoder().encode(text)

type Call = readonly [operation: string, ...args: ReadonlyArray<unknown>]

const server: NatsClient.ServerInfo = {
  serverId: "recording",
  version: "2.9.0",
  maxPayload: 100,
  maxControlLine: 256,
  jetstream: true
}

/** A driver that records every call and answers with nothing in particular, but for what `jetstream` overrides. */
const recordingDriver = (jetstream: Partial<NatsClient.Driver["jetstream"]> = {}) => {
  const calls: Array<Call> = []
  const record = (...call: Call) => {
    calls.push(call)
  }
  const info: NatsClient.StreamInfo = {
    config: {} as NatsClient.StreamConfigResolved,
    state: { messages: 0, bytes: 0, firstSeq: 0, lastSeq: 0, consumerCount: 0 },
    created: new Date(0)
  }
  const consumerInfo = {} as NatsClient.ConsumerInfo
  const driver: NatsClient.Driver = {
    adapter: "recording",
    server: () => server,
    publish: (msg) => Effect.sync(() => record("publish", msg)),
    subscribe: (subject, queue) => Effect.sync(() => (record("subscribe", subject, queue), Stream.empty)),
    request: (msg, timeout) =>
      Effect.sync(() => (record("request", msg, Duration.toMillis(timeout)), { ...msg, reply: undefined })),
    flush: Effect.void,
    jetstream: {
      publish: (msg, timeout) =>
        Effect.sync(() => (record("jetstream publish", msg, Duration.toMillis(timeout)), {
          stream: "S",
          seq: 1,
          duplicate: false
        })),
      streams: {
        add: (config) => Effect.sync(() => (record("stream add", config.name), info)),
        update: (config) => Effect.sync(() => (record("stream update", config.name), info)),
        info: (name) => Effect.sync(() => (record("stream info", name), info)),
        delete: (name) => Effect.sync(() => record("stream delete", name)),
        purge: (name) => Effect.sync(() => (record("stream purge", name), { purged: 0 })),
        list: () => Effect.sync(() => (record("stream list"), []))
      },
      getMessage: (stream, query) => Effect.sync(() => (record("get message", stream, query), Option.none())),
      ordered: (stream, request) => Effect.sync(() => (record("ordered", stream, request), Stream.empty)),
      consumers: {
        add: (stream, config) => Effect.sync(() => (record("consumer add", stream, config.name), consumerInfo)),
        info: (stream, name) => Effect.sync(() => (record("consumer info", stream, name), consumerInfo)),
        delete: (stream, name) => Effect.sync(() => record("consumer delete", stream, name)),
        consume: (stream, name, bufferMessages) =>
          Stream.fromEffect(Effect.sync(() => record("consume", stream, name, bufferMessages))).pipe(Stream.drain)
      },
      ...jetstream
    }
  }
  return { calls, nats: NatsClient.make(driver) }
}

const reason = <A, R>(effect: Effect.Effect<A, NatsError.NatsError, R>) =>
  Effect.map(Effect.flip(effect), (error) => error.reason._tag)

describe("NatsClient.make", () => {
  it.effect("refuses what breaks the port's rules before the driver sees it", () =>
    Effect.gen(function*() {
      const { calls, nats } = recordingDriver()
      assert.strictEqual(nats.adapter, "recording")
      assert.strictEqual(nats.server.maxControlLine, 256)
      assert.strictEqual(yield* reason(nats.publish("a.*", bytes("x"))), "InvalidSubject")
      assert.strictEqual(yield* reason(nats.publish("a", bytes("x"), { reply: "r r" })), "InvalidSubject")
      // The driver's server says 100 bytes, 256 per line.
      assert.strictEqual(yield* reason(nats.publish("a", new Uint8Array(101))), "PayloadTooLarge")
      assert.strictEqual(yield* reason(nats.publish(`a.${"x".repeat(250)}`, bytes("x"))), "InvalidSubject")
      assert.strictEqual(yield* reason(nats.request("a", bytes("x"), { headers: { "bad name": "x" } })), "EncodeError")
      assert.strictEqual(yield* reason(nats.subscribe("a", { queue: "q".repeat(250) })), "InvalidSubject")
      assert.strictEqual(yield* reason(nats.jetstream.streams.info("a.b")), "InvalidName")
      assert.strictEqual(yield* reason(nats.jetstream.consumers.info("S", "N".repeat(250))), "InvalidName")
      assert.strictEqual(yield* reason(nats.jetstream.streams.purge("S", { keep: 1, seq: 2 })), "JetStreamApiError")
      assert.strictEqual(yield* reason(nats.jetstream.getMessage("S", { seq: 0 })), "JetStreamApiError")
      assert.strictEqual(
        yield* reason(nats.jetstream.streams.add({ name: "S", subjects: ["s"], metadata: { a: "b" } })),
        "JetStreamApiError"
      )
      assert.strictEqual(
        yield* reason(Stream.runDrain(nats.jetstream.ordered("S", { filterSubjects: ["a", "b"] }))),
        "JetStreamApiError"
      )
      assert.strictEqual(
        yield* reason(Stream.runDrain(nats.jetstream.consumers.consume("S", "C", { bufferMessages: 0 }))),
        "JetStreamApiError"
      )
      assert.deepStrictEqual(calls, [])
    }))

  it.effect("hands the driver encoded headers, the JetStream expectations and the defaults", () =>
    Effect.gen(function*() {
      const { calls, nats } = recordingDriver()
      yield* nats.publish("a", bytes("x"), { headers: { h: [" v1 ", "v2"] }, reply: "r" })
      yield* nats.request("a", bytes("x"))
      yield* nats.jetstream.publish("s.a", bytes("x"), {
        headers: { "Nats-Msg-Id": "replaced" },
        msgId: "m1",
        expect: { lastSubjectSequence: 0 }
      })
      yield* Stream.runDrain(nats.jetstream.ordered("S"))
      yield* Stream.runDrain(nats.jetstream.consumers.consume("S", "C"))
      assert.deepStrictEqual(calls, [
        ["publish", {
          subject: "a",
          data: bytes("x"),
          // Values trimmed as nats.js does; `NATS/1.0\r\n` + `h: v1\r\n` + `h: v2\r\n` + `\r\n`.
          headers: { h: ["v1", "v2"] },
          headerBytes: 10 + 7 + 7 + 2,
          reply: "r"
        }],
        ["request", { subject: "a", data: bytes("x"), headers: undefined, headerBytes: 0, reply: undefined }, 5000],
        ["jetstream publish", {
          subject: "s.a",
          data: bytes("x"),
          headers: { "Nats-Msg-Id": ["m1"], "Nats-Expected-Last-Subject-Sequence": ["0"] },
          headerBytes: 10 + 17 + 40 + 2,
          reply: undefined
        }, 5000],
        ["ordered", "S", {
          filterSubjects: [],
          deliver: "all",
          headersOnly: false,
          bufferMessages: 64
        }],
        ["consume", "S", "C", 64]
      ])
    }))

  it.effect("ends a listing on the last message its filters had when it began, whatever the pending counts say", () =>
    Effect.gen(function*() {
      const stored = (seq: number, pending: number): NatsClient.StoredMsg => ({
        stream: "S",
        subject: `s.${seq}`,
        seq,
        time: new Date(seq * 1000),
        data: bytes(String(seq)),
        headers: undefined,
        pending
      })
      // A server that counts a message overwritten after the consumer was
      // created (nats-server 2.9): the last one comes with 1 pending, and
      // nothing follows.
      const { nats } = recordingDriver({
        getMessage: (_, query) =>
          Effect.succeed("lastBySubject" in query && query.lastBySubject === "s.>" ? Option.some(stored(3, 0)) : Option.none()),
        ordered: () => Effect.succeed(Stream.concat(Stream.make(stored(1, 2), stored(3, 1)), Stream.never))
      })
      const listed = yield* Stream.runCollect(nats.jetstream.ordered("S", { filterSubjects: ["s.>"], untilCaughtUp: true }))
      assert.deepStrictEqual(listed.map((msg) => msg.seq), [1, 3])
      // Nothing stored on the filters, or only before where the consumer starts: nothing to list.
      const none = { filterSubjects: ["t.>"], untilCaughtUp: true }
      assert.deepStrictEqual(yield* Stream.runCollect(nats.jetstream.ordered("S", none)), [])
      for (const deliver of ["new", { startSequence: 4 }, { startTime: new Date(3001) }] as const) {
        const after = { filterSubjects: ["s.>"], deliver, untilCaughtUp: true }
        assert.deepStrictEqual(yield* Stream.runCollect(nats.jetstream.ordered("S", after)), [])
      }
    }))
})
