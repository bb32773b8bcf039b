/**
 * JetStream semantics, run against every adapter: stream limits and discard
 * policies, rollups, sealed and protected streams, configuration rules,
 * retention policies, durable consumers (redelivery, backoff, max deliver,
 * max ack pending, ack policies, deliver policies, shared work, info
 * counts), and what nats-server 2.11 added (per-message TTL, subject delete
 * markers, consumer pause), refused on older servers. Where an adapter
 * differs from nats-server, the suite fails.
 *
 * One NATS (one server process for `nats-server`) per suite; every test uses
 * its own stream.
 *
 * @since 0.1.0
 * @module
 */
import { assert, describe, layer } from "@effect/vitest"
import { NatsClient, NatsError, NatsHeaders } from "@nats-effect/core"
import { Duration, Effect, Fiber, Option, Queue, Stream } from "effect"
import { type Adapter, supports } from "../Adapters.ts"
import { bytes, failure, text, unique, withStream } from "../internal/fixtures.ts"
import { lacking, requires } from "../internal/requires.ts"




/** Asserts a JetStream API error with the server's code and err_code. */
const assertApiError = (reason: NatsError.NatsErrorReason, code: number, errCode: number, text?: string) => {
  assert.strictEqual(reason._tag, "JetStreamApiError", reason.message)
  const error = reason as NatsError.JetStreamApiError
  assert.strictEqual(error.errCode, errCode, error.message)
  assert.strictEqual(error.code, code, error.message)
  if (text !== undefined) assert.include(error.message, text)
}

/** Asserts the stream refused a message for being full. */
const assertStorageLimit = (reason: NatsError.NatsErrorReason, stream: string, limit: NatsError.StorageLimitExceeded["limit"]) => {
  assert.strictEqual(reason._tag, "StorageLimitExceeded", reason.message)
  assert.deepInclude(reason as NatsError.StorageLimitExceeded, { stream, limit })
  assert.isFalse(NatsError.fromReason(reason).isRetryable)
}

const client = NatsClient.NatsClient

/** File storage size of a message without headers, as nats-server counts it. */
const fileSize = (subject: string, dataLength: number) => 30 + subject.length + dataLength

/**
 * Registers the conformance tests of JetStream streams, consumers and publish expectations for one adapter.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = (adapter: Adapter) =>
  describe(`JetStream (${adapter.name})`, () => {
    layer(adapter.layer(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
      const publishAll = (subjects: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const nats = yield* client
          const acks: Array<NatsClient.PubAck> = []
          for (const [i, subject] of subjects.entries()) {
            acks.push(yield* nats.jetstream.publish(subject, bytes(String(i + 1))))
          }
          return acks
        })

      const readAll = (name: string, options: NatsClient.OrderedConsumerOptions = {}) =>
        Effect.flatMap(client, (nats) =>
          Stream.runCollect(nats.jetstream.ordered(name, { ...options, untilCaughtUp: true })))

      const seqs = (messages: ReadonlyArray<NatsClient.StoredMsg>) => messages.map((m) => m.seq)

      // -----------------------------------------------------------------------
      // Limits
      // -----------------------------------------------------------------------

      it.effect("drops the oldest messages over maxMsgs with discard old", () =>
        withStream({ maxMsgs: 3 }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll(Array.from({ length: 5 }, () => `${name}.a`))
            const info = yield* nats.jetstream.streams.info(name)
            assert.deepStrictEqual(
              [info.state.messages, info.state.firstSeq, info.state.lastSeq],
              [3, 3, 5]
            )
            assert.isTrue(Option.isNone(yield* nats.jetstream.getMessage(name, { seq: 1 })))
            assert.deepStrictEqual(seqs(yield* readAll(name)), [3, 4, 5])
          })))

      it.effect("refuses a message over maxMsgs with discard new, with the server's error", () =>
        withStream({ maxMsgs: 2, discard: "new" }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`, `${name}.b`])
            const reason = yield* failure(nats.jetstream.publish(`${name}.c`, bytes("3")))
            assertStorageLimit(reason, name, "messages")
            const info = yield* nats.jetstream.streams.info(name)
            assert.deepStrictEqual([info.state.messages, info.state.lastSeq], [2, 2])
          })))

      it.effect("lets a subject at its per-subject limit replace its oldest with discard new", () =>
        withStream({ maxMsgs: 2, maxMsgsPerSubject: 1, discard: "new" }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`, `${name}.b`])
            // The stream is full, but this message replaces the subject's only one.
            const ack = yield* nats.jetstream.publish(`${name}.a`, bytes("again"))
            assert.strictEqual(ack.seq, 3)
            const reason = yield* failure(nats.jetstream.publish(`${name}.c`, bytes("new subject")))
            assertStorageLimit(reason, name, "messages")
            assert.deepStrictEqual(seqs(yield* readAll(name)), [2, 3])
          })))

      it.effect("counts bytes as the server does, refusing over maxBytes with discard new", () => {
        const data = new Uint8Array(100)
        return Effect.gen(function*() {
          const nats = yield* client
          const name = unique("JS")
          const size = fileSize(`${name}.a`, data.length)
          yield* Effect.acquireRelease(
            nats.jetstream.streams.add({ name, subjects: [`${name}.>`], maxBytes: 2 * size + 50, discard: "new" }),
            () => Effect.ignore(nats.jetstream.streams.delete(name))
          )
          yield* nats.jetstream.publish(`${name}.a`, data)
          yield* nats.jetstream.publish(`${name}.a`, data)
          const info = yield* nats.jetstream.streams.info(name)
          assert.strictEqual(info.state.bytes, 2 * size)
          const reason = yield* failure(nats.jetstream.publish(`${name}.a`, data))
          assertStorageLimit(reason, name, "bytes")
        })
      })

      it.effect("drops the oldest messages over maxBytes with discard old", () => {
        const data = new Uint8Array(100)
        return Effect.gen(function*() {
          const nats = yield* client
          const name = unique("JS")
          const size = fileSize(`${name}.a`, data.length)
          yield* Effect.acquireRelease(
            nats.jetstream.streams.add({ name, subjects: [`${name}.>`], maxBytes: 2 * size + 50 }),
            () => Effect.ignore(nats.jetstream.streams.delete(name))
          )
          for (let i = 0; i < 5; i++) yield* nats.jetstream.publish(`${name}.a`, data)
          const info = yield* nats.jetstream.streams.info(name)
          assert.deepStrictEqual(
            [info.state.messages, info.state.bytes, info.state.firstSeq, info.state.lastSeq],
            [2, 2 * size, 4, 5]
          )
        })
      })

      it.effect("counts headers in the stored size", () =>
        withStream({ storage: "memory" }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const subject = `${name}.a`
            yield* nats.jetstream.publish(subject, bytes("12345"), { headers: { "X-A": "1" } })
            // Memory storage: subject + headers as sent ("NATS/1.0\r\nX-A: 1\r\n\r\n") + data + 16.
            const headers = "NATS/1.0\r\nX-A: 1\r\n\r\n".length
            const info = yield* nats.jetstream.streams.info(name)
            assert.strictEqual(info.state.bytes, subject.length + headers + 5 + 16)
          })))

      it.effect("keeps the newest messages of each subject under maxMsgsPerSubject", () =>
        withStream({ maxMsgsPerSubject: 2 }, (name) =>
          Effect.gen(function*() {
            yield* publishAll([`${name}.a`, `${name}.a`, `${name}.b`, `${name}.a`, `${name}.b`, `${name}.b`])
            assert.deepStrictEqual(seqs(yield* readAll(name)), [2, 4, 5, 6])
          })))

      it.effect("applies a tighter per-subject limit to the stored messages on update", () =>
        withStream({ maxMsgsPerSubject: 3 }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`, `${name}.a`, `${name}.a`, `${name}.b`])
            yield* nats.jetstream.streams.update({ name, subjects: [`${name}.>`], maxMsgsPerSubject: 1 })
            assert.deepStrictEqual(seqs(yield* readAll(name)), [3, 4])
          })))

      it.effect("refuses a message larger than maxMsgSize", () =>
        withStream({ maxMsgSize: 10 }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* nats.jetstream.publish(`${name}.a`, new Uint8Array(10))
            const reason = yield* failure(nats.jetstream.publish(`${name}.a`, new Uint8Array(11)))
            assertStorageLimit(reason, name, "message size")
          })))

      it.effect("delivers headers and the size without the data to a headers-only ordered consumer", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* nats.jetstream.publish(`${name}.a`, bytes("12345"), { headers: { "X-A": "1" } })
            const [msg] = yield* readAll(name, { headersOnly: true })
            assert.strictEqual(msg!.data.length, 0)
            assert.deepStrictEqual(msg!.headers, { "X-A": ["1"], "Nats-Msg-Size": ["5"] })
          })))

      // -----------------------------------------------------------------------
      // Rollups, sealed and protected streams
      // -----------------------------------------------------------------------

      it.effect("keeps only the rollup message in the stream with rollup 'all'", () =>
        withStream({ allowRollup: true }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`, `${name}.b`, `${name}.c`])
            yield* nats.jetstream.publish(`${name}.d`, bytes("all"), { headers: { "Nats-Rollup": "all" } })
            const messages = yield* readAll(name)
            assert.deepStrictEqual(messages.map((m) => [m.seq, text(m.data)]), [[4, "all"]])
          })))

      it.effect("refuses rollups on a stream that denies purges", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = unique("JS")
          const reason = yield* failure(
            nats.jetstream.streams.add({ name, subjects: [`${name}.>`], allowRollup: true, denyPurge: true })
          )
          assertApiError(reason, 500, 10052, "roll-ups require the purge permission")
        }))

      it.effect("seals a stream by update: no more writes or purges, and no unsealing", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`])
            const sealed = yield* nats.jetstream.streams.update({ name, subjects: [`${name}.>`], sealed: true })
            assert.strictEqual(sealed.config.sealed, true)
            assert.strictEqual(sealed.config.denyDelete, true)
            assert.strictEqual(sealed.config.denyPurge, true)
            assert.strictEqual(sealed.config.discard, "new")
            for (
              const refused of [
                nats.jetstream.publish(`${name}.a`, bytes("late")),
                nats.jetstream.streams.purge(name)
              ] as ReadonlyArray<Effect.Effect<unknown, NatsError.NatsError>>
            ) {
              const reason = yield* failure(refused)
              assert.strictEqual(reason._tag, "StreamSealed", reason.message)
              assert.strictEqual((reason as NatsError.StreamSealed).stream, name)
            }
            assertApiError(
              yield* failure(nats.jetstream.streams.update({ name, subjects: [`${name}.>`], sealed: false })),
              500,
              10052,
              "can not unseal a sealed stream"
            )
            assert.strictEqual((yield* nats.jetstream.streams.info(name)).state.messages, 1)
          })))

      it.effect("refuses to create a sealed stream", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = unique("JS")
          const reason = yield* failure(nats.jetstream.streams.add({ name, subjects: [`${name}.>`], sealed: true }))
          assertApiError(reason, 500, 10052, "can not be sealed")
        }))

      it.effect("refuses purges with denyPurge, and keeps denyPurge and denyDelete once set", () =>
        withStream({ denyPurge: true, denyDelete: true }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`])
            assertApiError(
              yield* failure(nats.jetstream.streams.purge(name)),
              500,
              10110,
              "stream purge not permitted"
            )
            assertApiError(
              yield* failure(nats.jetstream.streams.update({ name, subjects: [`${name}.>`], denyPurge: false })),
              500,
              10052,
              "can not cancel deny purge"
            )
            assertApiError(
              yield* failure(nats.jetstream.streams.update({ name, subjects: [`${name}.>`], denyDelete: false })),
              500,
              10052,
              "can not cancel deny message deletes"
            )
          })))

      // -----------------------------------------------------------------------
      // Stream configuration rules
      // -----------------------------------------------------------------------

      it.effect("refuses overlapping subjects, and a name in use with another configuration", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const other = unique("JS")
            assertApiError(
              yield* failure(nats.jetstream.streams.add({ name: other, subjects: [`${name}.a`] })),
              400,
              10065,
              "subjects overlap with an existing stream"
            )
            // The same configuration again is fine; another one is not.
            const again = yield* nats.jetstream.streams.add({ name, subjects: [`${name}.>`] })
            assert.strictEqual(again.config.name, name)
            const exists = yield* failure(nats.jetstream.streams.add({ name, subjects: [`${name}.>`], maxMsgs: 5 }))
            assert.strictEqual(exists._tag, "StreamExists", exists.message)
            assert.strictEqual((exists as NatsError.StreamExists).stream, name)
          })))

      it.effect("tells overlapping wildcard subjects apart as the server does", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const prefix = unique("wild")
          const name = unique("JS")
          yield* Effect.acquireRelease(
            nats.jetstream.streams.add({ name, subjects: [`${prefix}.a.*`] }),
            () => Effect.ignore(nats.jetstream.streams.delete(name))
          )
          const cases: ReadonlyArray<readonly [string, boolean]> = [
            [`${prefix}.a.b`, true],
            [`${prefix}.>`, true],
            [`${prefix}.*.c`, true],
            [`${prefix}.*.>`, true],
            [`${prefix}.a`, false],
            [`${prefix}.b.*`, false],
            [`${prefix}.a.b.c`, false],
            [`${prefix}.*`, false]
          ]
          for (const [subject, overlaps] of cases) {
            const other = unique("JS")
            const result = yield* Effect.result(nats.jetstream.streams.add({ name: other, subjects: [subject] }))
            if (result._tag === "Success") yield* nats.jetstream.streams.delete(other)
            assert.strictEqual(result._tag === "Failure", overlaps, subject)
            if (result._tag === "Failure") assertApiError(result.failure.reason, 400, 10065)
          }
        }))

      it.effect("refuses to change a stream's storage, and checks its windows", () =>
        withStream({ storage: "file" }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            assertApiError(
              yield* failure(nats.jetstream.streams.update({ name, subjects: [`${name}.>`], storage: "memory" })),
              500,
              10052,
              "can not change storage type"
            )
            assertApiError(
              yield* failure(
                nats.jetstream.streams.update({ name, subjects: [`${name}.>`], maxAge: "1 second" })
              ),
              500,
              10052,
              "duplicates window can not be larger then max age"
            )
            const other = unique("JS")
            const info = yield* nats.jetstream.streams.add({ name: other, subjects: [`${other}.>`], maxAge: "1 second" })
            yield* nats.jetstream.streams.delete(other)
            // Without a window of its own, the duplicate window is the max age when shorter than 2 minutes.
            assert.strictEqual(Duration.toMillis(info.config.duplicateWindow), 1000)
          })))

      // -----------------------------------------------------------------------
      // Core NATS and JetStream together
      // -----------------------------------------------------------------------

      it.effect("delivers JetStream publishes to core subscribers, and stores core publishes", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const core = yield* nats.subscribe(`${name}.*`)
            yield* nats.jetstream.publish(`${name}.js`, bytes("js"))
            yield* nats.publish(`${name}.core`, bytes("core"))
            const received = yield* Stream.runCollect(Stream.take(core, 2))
            assert.deepStrictEqual(received.map((m) => text(m.data)), ["js", "core"])
            yield* nats.flush
            const stored = yield* readAll(name)
            assert.deepStrictEqual(stored.map((m) => [m.seq, m.subject]), [[1, `${name}.js`], [2, `${name}.core`]])
          })))

      it.effect("answers a core request to a stream subject with the PubAck", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const reply = yield* nats.request(`${name}.a`, bytes("x"))
            assert.deepStrictEqual(JSON.parse(text(reply.data)), { stream: name, seq: 1 })
          })))

      it.effect("times out a JetStream publish that subscribers get but no stream stores", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const subject = unique("nostream")
          yield* nats.subscribe(subject)
          const reason = yield* failure(nats.jetstream.publish(subject, bytes("x"), { timeout: "200 millis" }))
          assert.strictEqual(reason._tag, "TimeoutError")
        }))

      it.effect("refuses a publish with an unknown rollup value (unanswered before 2.11)", () =>
        withStream({ allowRollup: true }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const reason = yield* failure(
              nats.jetstream.publish(`${name}.a`, bytes("x"), { headers: { "Nats-Rollup": "bogus" }, timeout: "200 millis" })
            )
            if (supports(adapter, 2, 11)) assertApiError(reason, 500, 10111, `rollup value invalid: "bogus"`)
            else assert.strictEqual(reason._tag, "TimeoutError")
            assert.strictEqual((yield* nats.jetstream.streams.info(name)).state.messages, 0)
          })))

      it.effect("answers a core request refused by a stream with the server's error", () =>
        withStream({ maxMsgs: 1, discard: "new" }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* nats.jetstream.publish(`${name}.a`, bytes("1"))
            const reply = yield* nats.request(`${name}.a`, bytes("2"))
            assert.deepStrictEqual(JSON.parse(text(reply.data)), {
              error: { code: 503, err_code: 10077, description: "maximum messages exceeded" },
              stream: name,
              seq: 0
            })
          })))

      // -----------------------------------------------------------------------
      // Retention
      // -----------------------------------------------------------------------

      it.effect("removes acknowledged messages from a work-queue stream", () =>
        withStream({ retention: "workqueue" }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`, `${name}.b`, `${name}.c`])
            yield* nats.jetstream.consumers.add(name, { name: "worker" })
            assertApiError(
              yield* failure(nats.jetstream.consumers.add(name, { name: "second" })),
              400,
              10099,
              "multiple non-filtered consumers not allowed on workqueue stream"
            )
            yield* nats.jetstream.consumers.consume(name, "worker", { bufferMessages: 3 }).pipe(
              Stream.take(3),
              Stream.runForEach((msg) => msg.seq === 2 ? Effect.void : msg.ack)
            )
            yield* nats.flush
            const info = yield* nats.jetstream.streams.info(name)
            assert.deepStrictEqual([info.state.messages, info.state.firstSeq], [1, 2])
          })))

      it.effect("keeps messages of an interest stream only while a consumer needs them", () =>
        withStream({ retention: "interest" }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            // Nobody is interested: the sequence is used, nothing is kept.
            yield* publishAll([`${name}.a`])
            assert.deepStrictEqual(
              [(yield* nats.jetstream.streams.info(name)).state.messages, (yield* nats.jetstream.streams.info(name)).state.lastSeq],
              [0, 1]
            )
            yield* nats.jetstream.consumers.add(name, { name: "one" })
            yield* nats.jetstream.consumers.add(name, { name: "two" })
            yield* nats.jetstream.publish(`${name}.a`, bytes("kept"))
            const ackAll = (consumer: string) =>
              nats.jetstream.consumers.consume(name, consumer, { bufferMessages: 1 }).pipe(
                Stream.take(1),
                Stream.runForEach((msg) => msg.ackSync)
              )
            yield* ackAll("one")
            assert.strictEqual((yield* nats.jetstream.streams.info(name)).state.messages, 1)
            yield* ackAll("two")
            assert.strictEqual((yield* nats.jetstream.streams.info(name)).state.messages, 0)
          })))

      // -----------------------------------------------------------------------
      // Durable consumers
      // -----------------------------------------------------------------------

      /** Reads a consumer's deliveries in a fiber into a queue. */
      const consumeInto = (name: string, consumer: string, options?: NatsClient.ConsumeOptions) =>
        Effect.gen(function*() {
          const nats = yield* client
          const received = yield* Queue.unbounded<NatsClient.JsMsg>()
          const fiber = yield* nats.jetstream.consumers.consume(name, consumer, options).pipe(
            Stream.runForEach((msg) => Queue.offer(received, msg)),
            Effect.forkScoped
          )
          return { received, fiber }
        })

      it.effect("redelivers a message not acked within ackWait", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`])
            yield* nats.jetstream.consumers.add(name, { name: "slow", ackWait: "300 millis" })
            const { received } = yield* consumeInto(name, "slow")
            const first = yield* Queue.take(received)
            const firstAt = Date.now()
            const second = yield* Queue.take(received)
            assert.isAtLeast(Date.now() - firstAt, 250)
            assert.deepStrictEqual(
              [first.seq, first.deliveryCount, first.redelivered, second.seq, second.deliveryCount, second.redelivered],
              [1, 1, false, 1, 2, true]
            )
            yield* second.ack
            yield* nats.flush
            const info = yield* nats.jetstream.consumers.info(name, "slow")
            assert.deepStrictEqual(
              [info.numAckPending, info.numRedelivered, info.delivered.consumerSeq, info.delivered.streamSeq],
              [0, 0, 2, 1]
            )
          })))

      it.effect("restarts the ack wait when the handler says it is still working", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`, `${name}.b`])
            yield* nats.jetstream.consumers.add(name, { name: "busy", ackWait: "500 millis" })
            const { received } = yield* consumeInto(name, "busy")
            const work = yield* Queue.take(received)
            const firstAt = Date.now()
            // The server's own clock: the other message, nak'ed with a delay,
            // comes back half-way through the ack wait. The work reports
            // progress then, and so takes longer than the ack wait.
            const timer = yield* Queue.take(received)
            yield* timer.nak("300 millis")
            const back = yield* Queue.take(received)
            assert.strictEqual(back.seq, timer.seq)
            yield* back.ack
            yield* work.working
            const workingAt = Date.now()
            const second = yield* Queue.take(received)
            assert.isAtLeast(Date.now() - workingAt, 450)
            assert.isAtLeast(Date.now() - firstAt, 750)
            assert.deepStrictEqual([second.seq, second.deliveryCount], [work.seq, 2])
            yield* second.ack
          })))

      it.effect("stops redelivering after maxDeliver deliveries", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`, `${name}.a`])
            yield* nats.jetstream.consumers.add(name, { name: "limited", maxDeliver: 2 })
            const deliveries: Array<string> = []
            yield* nats.jetstream.consumers.consume(name, "limited").pipe(
              Stream.mapEffect((msg) => {
                deliveries.push(`${msg.seq}/${msg.deliveryCount}`)
                if (msg.seq !== 1) return Effect.as(msg.ack, msg.seq === 3)
                // After its last delivery, a new message shows what comes next.
                return msg.deliveryCount === 2
                  ? Effect.as(Effect.andThen(msg.nak(), nats.jetstream.publish(`${name}.a`, bytes("3"))), false)
                  : Effect.as(msg.nak(), false)
              }),
              Stream.takeUntil((done) => done),
              Stream.runDrain
            )
            assert.deepStrictEqual(deliveries, ["1/1", "2/1", "1/2", "3/1"])
            yield* nats.flush
            const info = yield* nats.jetstream.consumers.info(name, "limited")
            assert.strictEqual(info.numAckPending, 0)
          })))

      it.effect("gives up on a message nak'ed at its last delivery; reports no redeliveries with maxDeliver 1 (from 2.12)", () =>
        Effect.forEach([1, 2], (maxDeliver) =>
          withStream({}, (name) =>
            Effect.gen(function*() {
              const nats = yield* client
              yield* publishAll([`${name}.a`, `${name}.a`])
              yield* nats.jetstream.consumers.add(name, { name: "limited", maxDeliver })
              const { received } = yield* consumeInto(name, "limited")
              // The first message is nak'ed at every delivery, the second held;
              // a third, published after the last nak, comes once the server
              // has given up on the first.
              const deliveries: Array<string> = []
              let third: NatsClient.JsMsg | undefined
              while (third === undefined) {
                const msg = yield* Queue.take(received)
                deliveries.push(`${msg.seq}/${msg.deliveryCount}`)
                if (msg.seq === 3) third = msg
                else if (msg.seq === 1) {
                  yield* msg.nak()
                  if (msg.deliveryCount === maxDeliver) yield* nats.jetstream.publish(`${name}.a`, bytes("3"))
                }
              }
              yield* third.ackSync
              const info = yield* nats.jetstream.consumers.info(name, "limited")
              assert.deepStrictEqual(deliveries, maxDeliver === 1 ? ["1/1", "2/1", "3/1"] : ["1/1", "2/1", "1/2", "3/1"])
              // The first message still counts as redelivered; with maxDeliver 1, servers before 2.12 reported it.
              const redelivered = maxDeliver === 1 && supports(adapter, 2, 12) ? 0 : 1
              assert.deepStrictEqual(
                [info.numAckPending, info.numRedelivered, info.ackFloor],
                [1, redelivered, { streamSeq: 0, consumerSeq: 0 }],
                `maxDeliver ${maxDeliver}`
              )
            }))).pipe(Effect.asVoid))

      it.effect("redelivers after each backoff step", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`])
            const tooFewDeliveries = (config: Omit<NatsClient.ConsumerConfig, "name">) =>
              Effect.map(
                failure(nats.jetstream.consumers.add(name, { name: "invalid", ...config })),
                (reason) => assertApiError(reason, 400, 10116, "max deliver is required to be > length of backoff values")
              )
            yield* tooFewDeliveries({ backoff: ["200 millis", "500 millis", "1 second"], maxDeliver: 2 })
            if (supports(adapter, 2, 11)) {
              // The last entry repeats, without a limit or up to one as long as the backoff.
              yield* nats.jetstream.consumers.add(name, { name: "unlimited", backoff: ["200 millis"] })
              yield* nats.jetstream.consumers.add(name, { name: "as-long", backoff: ["200 millis", "500 millis"], maxDeliver: 2 })
            } else {
              yield* tooFewDeliveries({ backoff: ["200 millis"] })
              yield* tooFewDeliveries({ backoff: ["200 millis", "500 millis"], maxDeliver: 2 })
            }
            yield* nats.jetstream.consumers.add(name, {
              name: "backoff",
              backoff: ["200 millis", "500 millis"],
              maxDeliver: 3
            })
            const { received } = yield* consumeInto(name, "backoff")
            const times: Array<number> = []
            for (let i = 0; i < 3; i++) {
              const msg = yield* Queue.take(received)
              times.push(Date.now())
              assert.strictEqual(msg.deliveryCount, i + 1)
            }
            assert.isAtLeast(times[1]! - times[0]!, 150)
            assert.isAtLeast(times[2]! - times[1]!, 450)
          })))

      it.effect("holds deliveries at maxAckPending until an ack", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`, `${name}.a`, `${name}.a`, `${name}.a`])
            yield* nats.jetstream.consumers.add(name, { name: "bounded", maxAckPending: 2 })
            const { received } = yield* consumeInto(name, "bounded")
            const first = yield* Queue.take(received)
            yield* Queue.take(received)
            yield* nats.flush
            const held = yield* nats.jetstream.consumers.info(name, "bounded")
            assert.deepStrictEqual([held.numAckPending, held.numPending, held.delivered.streamSeq], [2, 2, 2])
            yield* first.ack
            const third = yield* Queue.take(received)
            assert.strictEqual(third.seq, 3)
          })))

      it.effect("acks every earlier delivery with ackPolicy 'all'", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`, `${name}.a`, `${name}.a`])
            yield* nats.jetstream.consumers.add(name, { name: "all", ackPolicy: "all" })
            const messages = yield* nats.jetstream.consumers.consume(name, "all").pipe(Stream.take(3), Stream.runCollect)
            yield* messages[2]!.ack
            yield* nats.flush
            const info = yield* nats.jetstream.consumers.info(name, "all")
            assert.strictEqual(info.numAckPending, 0)
            assert.deepStrictEqual(info.ackFloor, { consumerSeq: 3, streamSeq: 3 })
          })))

      it.effect("awaits no ack with ackPolicy 'none'", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`, `${name}.a`])
            yield* nats.jetstream.consumers.add(name, { name: "none", ackPolicy: "none" })
            yield* nats.jetstream.consumers.consume(name, "none").pipe(Stream.take(2), Stream.runDrain)
            yield* nats.flush
            const info = yield* nats.jetstream.consumers.info(name, "none")
            assert.deepStrictEqual(
              [info.numAckPending, info.numPending, info.ackFloor.streamSeq, info.delivered.streamSeq],
              [0, 0, 2, 2]
            )
          })))

      it.effect("starts a durable consumer where its deliver policy says", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`, `${name}.b`, `${name}.a`, `${name}.b`])
            const firstOf = (config: Omit<NatsClient.ConsumerConfig, "name">) =>
              Effect.gen(function*() {
                const consumer = unique("c")
                yield* nats.jetstream.consumers.add(name, { ...config, name: consumer })
                const [msg] = yield* nats.jetstream.consumers.consume(name, consumer, { bufferMessages: 1 }).pipe(
                  Stream.take(1),
                  Stream.runCollect
                )
                return msg!.seq
              })
            assert.strictEqual(yield* firstOf({ deliver: "all" }), 1)
            assert.strictEqual(yield* firstOf({ deliver: "last" }), 4)
            assert.strictEqual(yield* firstOf({ deliver: "last", filterSubjects: [`${name}.a`] }), 3)
            assert.strictEqual(yield* firstOf({ deliver: { startSequence: 2 } }), 2)
            assert.strictEqual(yield* firstOf({ deliver: "last_per_subject", filterSubjects: [`${name}.>`] }), 3)

            const lastPerSubject = yield* nats.jetstream.consumers.add(name, {
              name: unique("c"),
              deliver: "last_per_subject",
              filterSubjects: [`${name}.>`]
            })
            assert.strictEqual(lastPerSubject.numPending, 2)

            const fresh = unique("c")
            yield* nats.jetstream.consumers.add(name, { name: fresh, deliver: "new" })
            const info = yield* nats.jetstream.consumers.info(name, fresh)
            assert.strictEqual(info.numPending, 0)
            const { received } = yield* consumeInto(name, fresh)
            yield* nats.jetstream.publish(`${name}.c`, bytes("5"))
            assert.strictEqual((yield* Queue.take(received)).seq, 5)
          })))

      it.effect("takes a consumer filter outside the stream's subjects from 2.10 on, and refuses policy changes", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const outside = unique("x")
            if (supports(adapter, 2, 10)) {
              // The stream's subjects may change: the consumer sees what comes under its filter then.
              yield* nats.jetstream.consumers.add(name, { name: "outside", filterSubjects: [outside] })
              const { config } = yield* nats.jetstream.streams.info(name)
              yield* nats.jetstream.streams.update({ ...config, subjects: [...config.subjects, outside] })
              yield* nats.jetstream.publish(outside, bytes("later"))
              assert.strictEqual((yield* nats.jetstream.consumers.info(name, "outside")).numPending, 1)
            } else {
              assertApiError(
                yield* failure(nats.jetstream.consumers.add(name, { name: "outside", filterSubjects: [outside] })),
                400,
                10093
              )
            }
            yield* nats.jetstream.consumers.add(name, { name: "worker", ackWait: "10 seconds" })
            // Updating allowed fields is fine; the deliver and ack policies cannot change.
            yield* nats.jetstream.consumers.add(name, { name: "worker", ackWait: "20 seconds", maxDeliver: 5 })
            assertApiError(
              yield* failure(nats.jetstream.consumers.add(name, { name: "worker", deliver: "new" })),
              500,
              10012,
              "deliver policy can not be updated"
            )
            assertApiError(
              yield* failure(nats.jetstream.consumers.add(name, { name: "worker", ackPolicy: "all" })),
              500,
              10012,
              "ack policy can not be updated"
            )
          })))

      requires(it, adapter, "several filter subjects", 2, 10).effect("refuses several filter subjects that overlap", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            for (const filterSubjects of [[`${name}.a`, `${name}.*`], [`${name}.a`, `${name}.a`], [`${name}.>`, `${name}.b.c`]]) {
              assertApiError(
                yield* failure(nats.jetstream.consumers.add(name, { name: "overlapping", filterSubjects })),
                400,
                10138,
                "consumer subject filters cannot overlap"
              )
            }
            yield* nats.jetstream.consumers.add(name, { name: "apart", filterSubjects: [`${name}.a`, `${name}.b`] })
            yield* publishAll([`${name}.a`, `${name}.b`, `${name}.c`])
            assert.strictEqual((yield* nats.jetstream.consumers.info(name, "apart")).numPending, 2)
          })))

      it.effect("shares a durable's messages between its consume streams, each once", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const total = 20
            yield* nats.jetstream.consumers.add(name, { name: "shared" })
            const reader = (label: string) =>
              nats.jetstream.consumers.consume(name, "shared", { bufferMessages: 1 }).pipe(
                Stream.mapEffect((msg) => Effect.as(msg.ack, [label, msg.seq] as const))
              )
            const both = yield* Stream.merge(reader("one"), reader("two")).pipe(
              Stream.take(total),
              Stream.runCollect,
              Effect.forkChild
            )
            yield* publishAll(Array.from({ length: total }, () => `${name}.a`))
            const received = yield* Fiber.join(both)
            const seqsRead = received.map(([, seq]) => seq).sort((a, b) => a - b)
            assert.deepStrictEqual(seqsRead, Array.from({ length: total }, (_, i) => i + 1))
          })))

      it.effect("fails a durable's consume stream when the consumer or its stream is deleted", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`])
            for (const remove of ["consumer", "stream"] as const) {
              yield* nats.jetstream.consumers.add(name, { name: "doomed" })
              const { fiber, received } = yield* consumeInto(name, "doomed")
              yield* Queue.take(received)
              yield* remove === "consumer"
                ? nats.jetstream.consumers.delete(name, "doomed")
                : nats.jetstream.streams.delete(name)
              const error = yield* Effect.flip(Fiber.join(fiber))
              assert.strictEqual(error.reason._tag, remove === "consumer" ? "ConsumerNotFound" : "StreamNotFound")
            }
          })))

      it.effect("settles a durable's deliveries when the stream is purged", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`, `${name}.a`, `${name}.a`, `${name}.a`, `${name}.b`, `${name}.b`])
            yield* nats.jetstream.consumers.add(name, { name: "purged", filterSubjects: [`${name}.a`] })
            const { received } = yield* consumeInto(name, "purged")
            for (let i = 0; i < 4; i++) yield* Queue.take(received)
            yield* nats.jetstream.streams.purge(name)
            const info = yield* nats.jetstream.consumers.info(name, "purged")
            assert.deepStrictEqual(
              [info.numAckPending, info.numPending, info.delivered, info.ackFloor],
              [0, 0, { consumerSeq: 4, streamSeq: 6 }, { consumerSeq: 4, streamSeq: 6 }]
            )
            yield* nats.jetstream.publish(`${name}.a`, bytes("after"))
            const next = yield* Queue.take(received)
            assert.deepStrictEqual([next.seq, next.deliveryCount], [7, 1])
          })))

      it.effect("counts pending, ack-pending and redelivered messages in consumer info", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* publishAll([`${name}.a`, `${name}.a`, `${name}.a`, `${name}.a`, `${name}.a`])
            yield* nats.jetstream.consumers.add(name, { name: "counted", ackWait: "30 seconds" })
            const before = yield* nats.jetstream.consumers.info(name, "counted")
            assert.deepStrictEqual(
              [before.numPending, before.numAckPending, before.delivered, before.ackFloor],
              [5, 0, { consumerSeq: 0, streamSeq: 0 }, { consumerSeq: 0, streamSeq: 0 }]
            )
            // 1, 2 and 4 acked, 3 nacked once then left, 5 left.
            const deliveries = yield* nats.jetstream.consumers.consume(name, "counted").pipe(
              Stream.take(6),
              Stream.mapEffect((msg) =>
                Effect.as(
                  msg.seq === 3 && msg.deliveryCount === 1 ? msg.nak() : msg.seq === 3 || msg.seq === 5 ? Effect.void : msg.ack,
                  [msg.seq, msg.deliveryCount, msg.pending]
                )
              ),
              Stream.runCollect
            )
            assert.deepStrictEqual(deliveries, [[1, 1, 4], [2, 1, 3], [3, 1, 2], [4, 1, 1], [5, 1, 0], [3, 2, 0]])
            yield* nats.flush
            const info = yield* nats.jetstream.consumers.info(name, "counted")
            assert.deepStrictEqual([info.numPending, info.numAckPending, info.numRedelivered], [0, 2, 1])
            assert.deepStrictEqual(info.delivered, { consumerSeq: 6, streamSeq: 5 })
            assert.deepStrictEqual(info.ackFloor, { consumerSeq: 2, streamSeq: 2 })
          })))

      // -----------------------------------------------------------------------
      // nats-server 2.11: per-message TTL, subject delete markers, consumer pause
      // -----------------------------------------------------------------------

      requires(it, adapter, "per-message TTL", 2, 11).effect("expires a message at its TTL, leaving a marker where it was its subject's last", () =>
        withStream({ allowMsgTtl: true, subjectDeleteMarkerTtl: "1 second" }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const kept = yield* nats.jetstream.publish(`${name}.kept`, bytes("kept"))
            const gone = yield* nats.jetstream.publish(`${name}.gone`, bytes("gone"), { ttl: "1 second" })
            // A reader of the stream gets both, then the marker the server stores once the TTL is up.
            const [first, second, marker] = yield* nats.jetstream.ordered(name).pipe(Stream.take(3), Stream.runCollect)
            assert.deepStrictEqual([first!.seq, second!.seq], [kept.seq, gone.seq])
            assert.strictEqual(NatsHeaders.get(second!.headers, "Nats-TTL"), "1s")
            assert.deepStrictEqual(
              [marker!.subject, marker!.seq, marker!.data.length],
              [`${name}.gone`, gone.seq + 1, 0]
            )
            assert.deepStrictEqual(
              ["Nats-Marker-Reason", "Nats-TTL", "Nats-Rollup"].map((key) => NatsHeaders.get(marker!.headers, key)),
              ["MaxAge", "1s", "sub"]
            )
            assert.isAtLeast(marker!.time.getTime() - second!.time.getTime(), 1000)
            assert.isTrue(Option.isNone(yield* nats.jetstream.getMessage(name, { seq: gone.seq })))
            assert.isTrue(Option.isSome(yield* nats.jetstream.getMessage(name, { seq: kept.seq })))
          })))

      requires(it, adapter, "per-message TTL", 2, 11).effect("refuses a message TTL the stream does not allow, and an invalid one, with the server's errors", () =>
        Effect.gen(function*() {
          const nats = yield* client
          yield* withStream({}, (name) =>
            Effect.gen(function*() {
              const disabled = yield* failure(nats.jetstream.publish(`${name}.a`, bytes("x"), { ttl: "1 minute" }))
              assertApiError(disabled, 400, 10166, "per-message TTL is disabled")
            }))
          yield* withStream({ allowMsgTtl: true }, (name) =>
            Effect.gen(function*() {
              const invalid = yield* failure(
                nats.jetstream.publish(`${name}.a`, bytes("x"), { headers: { "Nats-TTL": "500ms" } })
              )
              assertApiError(invalid, 400, 10165, "invalid per-message TTL")
              assert.strictEqual((yield* nats.jetstream.streams.info(name)).state.messages, 0)
            }))
        }))

      requires(it, adapter, "subject delete marker TTL", 2, 11).effect("turns message TTLs and rollups on with subject delete markers; TTLs stay on", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const markers = yield* withStream({ subjectDeleteMarkerTtl: "1 minute" }, (name) =>
            Effect.gen(function*() {
              const info = yield* nats.jetstream.streams.info(name)
              return [info.config.allowMsgTtl, info.config.allowRollup, Duration.toMillis(info.config.subjectDeleteMarkerTtl)]
            }))
          assert.deepStrictEqual(markers, [true, true, 60_000])
          const short = yield* failure(withStream({ subjectDeleteMarkerTtl: "500 millis" }, () => Effect.void))
          assertApiError(short, 500, 10052, "subject delete marker TTL must be at least 1 second")
          yield* withStream({ allowMsgTtl: true }, (name) =>
            Effect.gen(function*() {
              const off = yield* failure(
                nats.jetstream.streams.update({ name, subjects: [`${name}.>`], allowMsgTtl: false })
              )
              assertApiError(off, 500, 10052, "message TTL status can not be disabled")
            }))
        }))

      requires(it, adapter, "consumer pause", 2, 11).effect("delivers nothing from a paused consumer until the pause ends", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* nats.jetstream.consumers.add(name, { name: "paused" })
            const until = new Date(Date.now() + 1000)
            assert.deepStrictEqual(
              yield* nats.jetstream.consumers.pause(name, "paused", until),
              { paused: true, pauseUntil: until }
            )
            assert.deepInclude(yield* nats.jetstream.consumers.info(name, "paused"), { paused: true, pauseUntil: until })
            yield* publishAll([`${name}.a`])
            const { received } = yield* consumeInto(name, "paused")
            const msg = yield* Queue.take(received)
            assert.isAtLeast(Date.now(), until.getTime())
            yield* msg.ack
            assert.deepInclude(
              yield* nats.jetstream.consumers.info(name, "paused"),
              { paused: false, pauseUntil: undefined }
            )
          })))

      requires(it, adapter, "consumer pause", 2, 11).effect("resumes a paused consumer at once; adding it again keeps the pause", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* nats.jetstream.consumers.add(name, { name: "held" })
            const until = new Date(Date.now() + 3_600_000)
            yield* nats.jetstream.consumers.pause(name, "held", until)
            assert.strictEqual((yield* failure(nats.jetstream.consumers.pause(name, "missing", until)))._tag, "ConsumerNotFound")
            yield* nats.jetstream.consumers.add(name, { name: "held" })
            yield* publishAll([`${name}.a`])
            const { received } = yield* consumeInto(name, "held")
            yield* nats.flush
            const held = yield* nats.jetstream.consumers.info(name, "held")
            assert.deepInclude(held, { paused: true, pauseUntil: until, numPending: 1, numAckPending: 0 })
            assert.strictEqual(yield* Queue.size(received), 0)
            yield* nats.jetstream.consumers.resume(name, "held")
            const msg = yield* Queue.take(received)
            assert.strictEqual(text(msg.data), "1")
            assert.isFalse((yield* nats.jetstream.consumers.info(name, "held")).paused)
          })))

      lacking(it, adapter, "per-message TTL, subject delete markers and consumer pause", 2, 11).effect("refuses per-message TTL, subject delete markers and consumer pause before nats-server 2.11", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* nats.jetstream.consumers.add(name, { name: "c" })
            const subjects = [`${name}.>`]
            const refused = [
              yield* failure(nats.jetstream.publish(`${name}.a`, bytes("x"), { ttl: "1 minute" })),
              yield* failure(nats.jetstream.streams.update({ name, subjects, allowMsgTtl: true })),
              yield* failure(nats.jetstream.streams.update({ name, subjects, subjectDeleteMarkerTtl: "1 minute" })),
              yield* failure(nats.jetstream.consumers.pause(name, "c", new Date(Date.now() + 60_000))),
              yield* failure(nats.jetstream.consumers.resume(name, "c"))
            ]
            assert.deepStrictEqual(
              refused.map((reason) =>
                reason._tag === "FeatureNotSupported"
                  ? [reason.feature, reason.requiredVersion, reason.serverVersion]
                  : reason.message
              ),
              [
                ["per-message TTL", "2.11.0", nats.server.version],
                ["per-message TTL", "2.11.0", nats.server.version],
                ["subject delete markers", "2.11.0", nats.server.version],
                ["consumer pause", "2.11.0", nats.server.version],
                ["consumer pause", "2.11.0", nats.server.version]
              ]
            )
            assert.include(refused[0]!.message, `: needs nats-server 2.11.0 or later, the server is ${nats.server.version}`)
            // Nothing reached the server.
            const info = yield* nats.jetstream.streams.info(name)
            assert.deepStrictEqual([info.state.messages, info.config.allowMsgTtl], [0, false])
          })))

      it.effect("lists a stream's consumers by name, with their counts; a missing stream is StreamNotFound", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            assert.deepStrictEqual(yield* nats.jetstream.consumers.list(name), [])
            yield* publishAll([`${name}.a`, `${name}.b`, `${name}.a`])
            yield* nats.jetstream.consumers.add(name, { name: "workers", filterSubjects: [`${name}.a`] })
            yield* nats.jetstream.consumers.add(name, { name: "audit", description: "everything" })
            const listed = yield* nats.jetstream.consumers.list(name)
            assert.deepStrictEqual(
              listed.map((info) => [info.stream, info.name, info.numPending, info.numAckPending, info.config.description]),
              [[name, "audit", 3, 0, "everything"], [name, "workers", 2, 0, undefined]]
            )
            // The same as each one's info (whose counts the test above checks).
            assert.deepStrictEqual(listed, [
              yield* nats.jetstream.consumers.info(name, "audit"),
              yield* nats.jetstream.consumers.info(name, "workers")
            ])
            const missing = yield* failure(nats.jetstream.consumers.list(`${name}_missing`))
            assert.strictEqual(missing._tag, "StreamNotFound", missing.message)
          })))
    })
  })
