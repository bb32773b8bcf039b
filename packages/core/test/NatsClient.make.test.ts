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

/**
 * A driver that records every call and answers with nothing in particular, as
 * a server of `version`, but for what `jetstream` overrides.
 */
const recordingDriver = (version = "2.9.0", jetstream: Partial<NatsClient.Driver["jetstream"]> = {}) => {
  const server: NatsClient.ServerInfo = {
    serverId: "recording",
    version,
    maxPayload: 100,
    maxControlLine: 256,
    jetstream: true
  }
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
        pause: (stream, name, until) =>
          Effect.sync(() => (record("consumer pause", stream, name, until), { paused: false, pauseUntil: undefined })),
        list: (stream) =>
          Effect.sync(() => (record("consumer list", stream), ["b", "c", "a"].map((name) => ({ ...consumerInfo, name })))),
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
      assert.strictEqual(yield* reason(nats.jetstream.consumers.list("a b")), "InvalidName")
      assert.strictEqual(yield* reason(nats.jetstream.streams.purge("S", { keep: 1, seq: 2 })), "JetStreamApiError")
      assert.strictEqual(yield* reason(nats.jetstream.getMessage("S", { seq: 0 })), "JetStreamApiError")
      assert.strictEqual(
        yield* reason(nats.jetstream.publish("s", bytes("x"), { ttl: "1 second" })),
        "FeatureNotSupported"
      )
      assert.strictEqual(
        yield* reason(nats.jetstream.streams.add({ name: "S", subjects: ["s"], metadata: { a: "b" } })),
        "FeatureNotSupported"
      )
      assert.strictEqual(
        yield* reason(Stream.runDrain(nats.jetstream.ordered("S", { filterSubjects: ["a", "b"] }))),
        "FeatureNotSupported"
      )
      assert.strictEqual(yield* reason(nats.jetstream.consumers.pause("S", "C", new Date())), "FeatureNotSupported")
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
      // Listed by name, whatever order the driver answers in.
      assert.deepStrictEqual((yield* nats.jetstream.consumers.list("S")).map((consumer) => consumer.name), ["a", "b", "c"])
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
        ["consume", "S", "C", 64],
        ["consumer list", "S"]
      ])
    }))

  it.effect("refuses what the server is too old for with FeatureNotSupported, naming the feature and both versions", () =>
    Effect.gen(function*() {
      const { calls, nats } = recordingDriver("2.10.24")
      const refusals = [
        yield* Effect.flip(nats.jetstream.publish("s", bytes("x"), { ttl: "1 minute" })),
        yield* Effect.flip(nats.jetstream.streams.add({ name: "S", subjects: ["s"], allowMsgTtl: true })),
        yield* Effect.flip(nats.jetstream.streams.update({ name: "S", subjects: ["s"], subjectDeleteMarkerTtl: "1 minute" })),
        yield* Effect.flip(nats.jetstream.consumers.pause("S", "C", new Date())),
        yield* Effect.flip(nats.jetstream.consumers.resume("S", "C"))
      ].map((error) => error.reason)
      assert.deepStrictEqual(
        refusals.map((reason) => reason._tag === "FeatureNotSupported" ? [reason.feature, reason.requiredVersion] : []),
        [
          ["per-message TTL", "2.11.0"],
          ["per-message TTL", "2.11.0"],
          ["subject delete markers", "2.11.0"],
          ["consumer pause", "2.11.0"],
          ["consumer pause", "2.11.0"]
        ]
      )
      const first = refusals[0] as NatsError.FeatureNotSupported
      assert.strictEqual(first.serverVersion, "2.10.24")
      assert.strictEqual(
        first.message,
        "jetstream publish: per-message TTL: needs nats-server 2.11.0 or later, the server is 2.10.24"
      )
      assert.isFalse(refusals.some((reason) => reason.isRetryable))
      // 2.10 has these; TTLs and markers turned off ask for nothing (a configuration read back, say).
      yield* nats.jetstream.streams.add({ name: "S", subjects: ["s"], metadata: { a: "b" }, compression: "s2" })
      yield* Stream.runDrain(nats.jetstream.ordered("S", { filterSubjects: ["a", "b"] }))
      yield* nats.jetstream.streams.update({ name: "S", subjects: ["s"], allowMsgTtl: false, subjectDeleteMarkerTtl: 0 })
      assert.deepStrictEqual(calls.map(([operation]) => operation), ["stream add", "ordered", "stream update"])
    }))

  it.effect("sends a message's ttl as nats.go does, in whole seconds, and refuses one under a second", () =>
    Effect.gen(function*() {
      const { calls, nats } = recordingDriver("2.11.0")
      const ttls = ["1 second", "90 seconds", "1 hour", "2500 millis", Duration.infinity] as const
      for (const ttl of ttls) yield* nats.jetstream.publish("s", bytes("x"), { ttl, msgId: "m" })
      assert.deepStrictEqual(
        calls.map((call) => (call[1] as NatsClient.OutgoingMsg).headers),
        ["1s", "1m30s", "1h0m0s", "2s", "never"].map((ttl) => ({ "Nats-Msg-Id": ["m"], "Nats-TTL": [ttl] }))
      )
      const short = yield* Effect.flip(nats.jetstream.publish("s", bytes("x"), { ttl: "999 millis" }))
      assert.strictEqual(short.reason._tag, "JetStreamApiError")
      assert.strictEqual(short.reason.message, "jetstream publish: a message's ttl is at least 1 second, got 999ms")
      const pause = yield* Effect.flip(nats.jetstream.consumers.pause("S", "C", new Date(Number.NaN)))
      assert.strictEqual(pause.reason._tag, "JetStreamApiError")
      assert.strictEqual(calls.length, ttls.length)
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
      const { nats } = recordingDriver("2.9.0", {
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
