/**
 * What only the in-memory NATS can show: time driven by `TestClock` (max age,
 * ack wait, nak delays, the duplicate window), independent builds,
 * deterministic queue groups, and its speed. The behaviour it shares with
 * nats-server is tested by the conformance suites in @nats-effect/testing.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { Clock, Context, Duration, Effect, Exit, Fiber, Layer, Queue, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Memory from "../src/internal/memory/client.ts"

const encoder = new TextEncoder()
const bytes = (text: string) => encoder.encode(text)
const text = (data: Uint8Array) => new TextDecoder().decode(data)

const client = NatsClient.NatsClient
const memory = NatsClient.layerMemory()

/** A stream on `S.>`. */
const withStream = (config: Omit<NatsClient.StreamConfig, "name" | "subjects"> = {}) =>
  Effect.flatMap(client, (nats) => nats.jetstream.streams.add({ ...config, name: "S", subjects: ["S.>"] }))

/** Reads a durable consumer's deliveries in a fiber into a queue. */
const consumeInto = (consumer: string) =>
  Effect.gen(function*() {
    const nats = yield* client
    const received = yield* Queue.unbounded<NatsClient.JsMsg>()
    yield* nats.jetstream.consumers.consume("S", consumer).pipe(
      Stream.runForEach((msg) => Queue.offer(received, msg)),
      Effect.forkScoped
    )
    return received
  })

describe("NatsClient.layerMemory", () => {
  describe("with TestClock", () => {
    it.effect("expires messages once they are older than maxAge", () =>
      Effect.gen(function*() {
        const nats = yield* client
        yield* withStream({ maxAge: "1 minute" })
        yield* nats.jetstream.publish("S.a", bytes("old"))
        yield* TestClock.adjust("30 seconds")
        yield* nats.jetstream.publish("S.b", bytes("newer"))
        yield* TestClock.adjust("30 seconds")
        const info = yield* nats.jetstream.streams.info("S")
        assert.deepStrictEqual([info.state.messages, info.state.firstSeq, info.state.lastSeq], [1, 2, 2])
        yield* TestClock.adjust("30 seconds")
        // As nats-server leaves it: empty, first sequence past the last.
        const empty = (yield* nats.jetstream.streams.info("S")).state
        assert.deepStrictEqual([empty.messages, empty.firstSeq, empty.lastSeq], [0, 3, 2])
      }).pipe(Effect.provide(memory)))

    it.effect("redelivers after the ack wait", () =>
      Effect.gen(function*() {
        const nats = yield* client
        yield* withStream()
        yield* nats.jetstream.publish("S.a", bytes("x"))
        yield* nats.jetstream.consumers.add("S", { name: "worker", ackWait: "10 seconds" })
        const received = yield* consumeInto("worker")
        const first = yield* Queue.take(received)
        assert.strictEqual(first.deliveryCount, 1)
        yield* TestClock.adjust("9 seconds")
        assert.strictEqual(yield* Queue.size(received), 0)
        yield* TestClock.adjust("1 second")
        const second = yield* Queue.take(received)
        assert.deepStrictEqual([second.seq, second.deliveryCount, second.redelivered], [1, 2, true])
        yield* second.ack
        const info = yield* nats.jetstream.consumers.info("S", "worker")
        assert.deepStrictEqual([info.numAckPending, info.numRedelivered], [0, 0])
      }).pipe(Effect.provide(memory)))

    it.effect("restarts the ack wait when working", () =>
      Effect.gen(function*() {
        const nats = yield* client
        yield* withStream()
        yield* nats.jetstream.publish("S.a", bytes("x"))
        yield* nats.jetstream.consumers.add("S", { name: "worker", ackWait: "10 seconds" })
        const received = yield* consumeInto("worker")
        const first = yield* Queue.take(received)
        yield* TestClock.adjust("8 seconds")
        yield* first.working
        yield* TestClock.adjust("8 seconds")
        assert.strictEqual(yield* Queue.size(received), 0)
        yield* TestClock.adjust("2 seconds")
        assert.strictEqual((yield* Queue.take(received)).deliveryCount, 2)
      }).pipe(Effect.provide(memory)))

    it.effect("redelivers a nak after its delay", () =>
      Effect.gen(function*() {
        const nats = yield* client
        yield* withStream()
        yield* nats.jetstream.publish("S.a", bytes("x"))
        yield* nats.jetstream.consumers.add("S", { name: "worker", ackWait: "1 minute" })
        const received = yield* consumeInto("worker")
        yield* Effect.flatMap(Queue.take(received), (msg) => msg.nak("5 seconds"))
        yield* TestClock.adjust("4 seconds")
        assert.strictEqual(yield* Queue.size(received), 0)
        yield* TestClock.adjust("1 second")
        assert.strictEqual((yield* Queue.take(received)).deliveryCount, 2)
      }).pipe(Effect.provide(memory)))

    it.effect("follows the backoff steps", () =>
      Effect.gen(function*() {
        const nats = yield* client
        yield* withStream()
        yield* nats.jetstream.publish("S.a", bytes("x"))
        yield* nats.jetstream.consumers.add("S", {
          name: "worker",
          backoff: ["1 second", "10 seconds"],
          maxDeliver: 4
        })
        const received = yield* consumeInto("worker")
        const deliveredAt: Array<number> = []
        for (let i = 0; i < 4; i++) {
          if (i > 0) {
            // Step the clock one second at a time until the next delivery.
            while ((yield* Queue.size(received)) === 0) yield* TestClock.adjust("1 second")
          }
          yield* Queue.take(received)
          deliveredAt.push(Duration.toSeconds(Duration.millis(yield* Clock.currentTimeMillis)))
        }
        assert.deepStrictEqual(deliveredAt, [0, 1, 11, 21])
        // maxDeliver reached: no fifth delivery.
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* Queue.size(received), 0)
      }).pipe(Effect.provide(memory)))

    it.effect("forgets message ids after the duplicate window", () =>
      Effect.gen(function*() {
        const nats = yield* client
        yield* withStream({ duplicateWindow: "1 minute" })
        const publish = nats.jetstream.publish("S.a", bytes("x"), { msgId: "once" })
        assert.deepStrictEqual(yield* publish, { stream: "S", seq: 1, duplicate: false })
        yield* TestClock.adjust("59 seconds")
        assert.deepStrictEqual(yield* publish, { stream: "S", seq: 1, duplicate: true })
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* publish, { stream: "S", seq: 2, duplicate: false })
      }).pipe(Effect.provide(memory)))

    it.effect("expires a message at its TTL, leaving a marker where it was its subject's last", () =>
      Effect.gen(function*() {
        const nats = yield* client
        yield* withStream({ allowMsgTtl: true, subjectDeleteMarkerTtl: "1 minute" })
        yield* nats.jetstream.publish("S.a", bytes("a"), { ttl: "2 minutes" })
        yield* nats.jetstream.publish("S.b", bytes("b1"), { ttl: "5 minutes" })
        yield* nats.jetstream.publish("S.b", bytes("b2"))
        // Raised to the markers' TTL, so that its subject's marker is not missed.
        yield* nats.jetstream.publish("S.c", bytes("c"), { ttl: "1 second" })
        const read = yield* Queue.unbounded<NatsClient.StoredMsg>()
        yield* nats.jetstream.ordered("S").pipe(Stream.runForEach((msg) => Queue.offer(read, msg)), Effect.forkScoped)
        const taken = yield* Queue.takeN(read, 4)
        assert.deepStrictEqual(taken[3]!.headers, { "Nats-TTL": ["60"] })

        yield* TestClock.adjust("1 minute")
        const cGone = yield* Queue.take(read)
        assert.deepStrictEqual(
          [cGone.seq, cGone.subject, cGone.data.length, cGone.time.getTime(), cGone.headers],
          [5, "S.c", 0, 60_000, { "Nats-Marker-Reason": ["MaxAge"], "Nats-TTL": ["1m0s"], "Nats-Rollup": ["sub"] }]
        )
        yield* TestClock.adjust("1 minute")
        const aGone = yield* Queue.take(read)
        assert.deepStrictEqual([aGone.seq, aGone.subject, aGone.time.getTime()], [6, "S.a", 120_000])
        // S.b's first message is not its subject's last: it goes without a marker; markers go at their own TTL.
        yield* TestClock.adjust("3 minutes")
        const info = yield* nats.jetstream.streams.info("S")
        assert.deepStrictEqual([info.state.messages, info.state.firstSeq, info.state.lastSeq], [1, 3, 6])
        assert.strictEqual(yield* Queue.size(read), 0)
      }).pipe(Effect.provide(memory)))

    it.effect("keeps a message whose TTL is never past the stream's max age", () =>
      Effect.gen(function*() {
        const nats = yield* client
        yield* withStream({ maxAge: "1 minute", allowMsgTtl: true })
        yield* nats.jetstream.publish("S.a", bytes("kept"), { ttl: Duration.infinity })
        yield* nats.jetstream.publish("S.b", bytes("aged"))
        yield* nats.jetstream.publish("S.c", bytes("short"), { ttl: "10 seconds" })
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual((yield* nats.jetstream.streams.info("S")).state.messages, 2)
        yield* TestClock.adjust("50 seconds")
        const info = yield* nats.jetstream.streams.info("S")
        assert.deepStrictEqual([info.state.messages, info.state.firstSeq], [1, 1])
      }).pipe(Effect.provide(memory)))

    it.effect("delivers nothing from a paused consumer until its pause ends, or until it is resumed", () =>
      Effect.gen(function*() {
        const nats = yield* client
        yield* withStream()
        yield* nats.jetstream.consumers.add("S", { name: "worker" })
        const pause = yield* nats.jetstream.consumers.pause("S", "worker", new Date(60_000))
        assert.deepStrictEqual(pause, { paused: true, pauseUntil: new Date(60_000) })
        yield* nats.jetstream.publish("S.a", bytes("1"))
        const received = yield* consumeInto("worker")
        yield* TestClock.adjust("59 seconds")
        assert.strictEqual(yield* Queue.size(received), 0)
        assert.deepInclude(yield* nats.jetstream.consumers.info("S", "worker"), {
          paused: true,
          pauseUntil: new Date(60_000)
        })
        yield* TestClock.adjust("1 second")
        const first = yield* Queue.take(received)
        assert.strictEqual(text(first.data), "1")
        yield* first.ack
        assert.deepInclude(yield* nats.jetstream.consumers.info("S", "worker"), { paused: false, pauseUntil: undefined })

        yield* nats.jetstream.consumers.pause("S", "worker", new Date(Date.UTC(2100, 0)))
        // Adding it again (as a subscriber does when it starts) keeps the pause.
        yield* nats.jetstream.consumers.add("S", { name: "worker" })
        yield* nats.jetstream.publish("S.a", bytes("2"))
        yield* TestClock.adjust("1 hour")
        assert.strictEqual(yield* Queue.size(received), 0)
        yield* nats.jetstream.consumers.resume("S", "worker")
        assert.strictEqual(text((yield* Queue.take(received)).data), "2")
      }).pipe(Effect.provide(memory)))

    it.effect("times out a request nobody answers when the clock says so", () =>
      Effect.gen(function*() {
        const nats = yield* client
        yield* nats.subscribe("silent")
        const request = yield* Effect.forkChild(Effect.flip(nats.request("silent", bytes("?"), { timeout: "3 seconds" })))
        yield* TestClock.adjust("3 seconds")
        const error = yield* Fiber.join(request)
        assert.strictEqual(error.reason._tag, "TimeoutError")
      }).pipe(Effect.provide(memory)))
  })

  it.effect("refuses what nats-server 2.11 added over a driver that reports an older one, before the server sees it", () =>
    Effect.gen(function*() {
      const driver = yield* Memory.make({})
      const current = NatsClient.make(driver)
      const older = NatsClient.make({ ...driver, server: () => ({ ...driver.server(), version: "2.10.24" }) })
      yield* current.jetstream.streams.add({ name: "S", subjects: ["S.>"], allowMsgTtl: true })
      yield* current.jetstream.consumers.add("S", { name: "C" })
      const refused = [
        yield* Effect.flip(older.jetstream.publish("S.a", bytes("x"), { ttl: "1 minute" })),
        yield* Effect.flip(older.jetstream.streams.update({ name: "S", subjects: ["S.>"], subjectDeleteMarkerTtl: "1 minute" })),
        yield* Effect.flip(older.jetstream.consumers.pause("S", "C", new Date(Date.UTC(2100, 0))))
      ]
      assert.deepStrictEqual(
        refused.map(({ reason }) => reason._tag === "FeatureNotSupported" ? [reason.feature, reason.serverVersion] : []),
        [["per-message TTL", "2.10.24"], ["subject delete markers", "2.10.24"], ["consumer pause", "2.10.24"]]
      )
      const info = yield* current.jetstream.streams.info("S")
      assert.deepStrictEqual([info.state.messages, Duration.toMillis(info.config.subjectDeleteMarkerTtl)], [0, 0])
      assert.isFalse((yield* current.jetstream.consumers.info("S", "C")).paused)
    }))

  it.effect("gives each build its own server", () =>
    Effect.gen(function*() {
      const first = Context.get(yield* Layer.build(NatsClient.layerMemory()), client)
      const second = Context.get(yield* Layer.build(NatsClient.layerMemory()), client)
      const onSecond = yield* second.subscribe("shared")
      yield* first.publish("shared", bytes("first"))
      yield* second.publish("shared", bytes("second"))
      const [msg] = yield* Stream.runCollect(Stream.take(onSecond, 1))
      assert.strictEqual(new TextDecoder().decode(msg!.data), "second")
      yield* first.jetstream.streams.add({ name: "ONLY_FIRST", subjects: ["only.>"] })
      const missing = yield* Effect.flip(second.jetstream.streams.info("ONLY_FIRST"))
      assert.strictEqual(missing.reason._tag, "StreamNotFound")
    }))

  it.effect("spreads a queue group's messages across its members in turn", () =>
    Effect.gen(function*() {
      const nats = yield* client
      const members = yield* Scope.make()
      const one = yield* Scope.provide(nats.subscribe("work", { queue: "workers" }), members)
      const two = yield* Scope.provide(nats.subscribe("work", { queue: "workers" }), members)
      const all = yield* nats.subscribe("work")
      for (let i = 0; i < 10; i++) yield* nats.publish("work", bytes(String(i)))
      yield* Scope.close(members, Exit.void)
      const text = (msgs: ReadonlyArray<NatsClient.Msg>) => msgs.map((m) => new TextDecoder().decode(m.data))
      assert.deepStrictEqual(text(yield* Stream.runCollect(one)), ["0", "2", "4", "6", "8"])
      assert.deepStrictEqual(text(yield* Stream.runCollect(two)), ["1", "3", "5", "7", "9"])
      assert.strictEqual((yield* Stream.runCollect(Stream.take(all, 10))).length, 10)
    }).pipe(Effect.provide(memory)))

  it.effect("ends subscriptions and consumers when the layer is released", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const nats = Context.get(yield* Layer.buildWithScope(NatsClient.layerMemory(), scope), client)
      const messages = yield* nats.subscribe("anything")
      yield* nats.jetstream.streams.add({ name: "S", subjects: ["S.>"] })
      yield* nats.jetstream.consumers.add("S", { name: "worker" })
      const consuming = yield* Effect.forkChild(Stream.runDrain(nats.jetstream.consumers.consume("S", "worker")))
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(yield* Stream.runCollect(messages), [])
      const error = yield* Effect.flip(Fiber.join(consuming))
      assert.strictEqual(error.reason._tag, "ConnectionError")
    }))

  it.live("moves 64 MiB through a stream and back in well under a second", () =>
    Effect.gen(function*() {
      const nats = yield* client
      const chunkSize = 128 * 1024
      const chunks = 512
      const data = Array.from({ length: chunks }, (_, i) => new Uint8Array(chunkSize).fill(i & 0xff, 0, 1))
      yield* nats.jetstream.streams.add({ name: "OBJ", subjects: ["OBJ.>"], maxMsgSize: chunkSize })
      const started = performance.now()
      for (const chunk of data) yield* nats.jetstream.publish("OBJ.chunks", chunk)
      let size = 0
      let index = 0
      yield* nats.jetstream.ordered("OBJ", { filterSubjects: ["OBJ.chunks"], untilCaughtUp: true }).pipe(
        Stream.runForEach((msg) =>
          Effect.sync(() => {
            assert.strictEqual(msg.data[0], index++ & 0xff)
            size += msg.data.length
          })
        )
      )
      const elapsed = performance.now() - started
      assert.strictEqual(size, 64 * 1024 * 1024)
      assert.isBelow(elapsed, 1000, `64 MiB put and get took ${elapsed.toFixed(0)} ms`)
    }).pipe(Effect.provide(memory)))
})
