/**
 * The `NatsClient` port's contract, run against every adapter: core
 * publish/subscribe/request, stream management, JetStream publish with
 * expectations, stored-message look-ups, ordered and durable consumers.
 *
 * One NATS (one server process for `nats-server`) per suite; every test uses
 * its own subjects and streams.
 *
 * @since 0.1.0
 * @module
 */
import { assert, describe, layer } from "@effect/vitest"
import { NatsClient, NatsError } from "@nats-effect/core"
import { Cause, Context, Duration, Effect, Exit, Fiber, Layer, Option, Queue, Scope, Stream } from "effect"
import { type Adapter, supports } from "../Adapters.ts"
import { bytes, failure, recordingLogs, text, unique, withStream } from "../internal/fixtures.ts"




const client = NatsClient.NatsClient

/**
 * Registers the conformance tests of core NATS publish, subscribe and request for one adapter.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = (adapter: Adapter) =>
  describe(`NatsClient conformance (${adapter.name})`, () => {
    layer(adapter.layer(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
      // -----------------------------------------------------------------------
      // Connecting
      // -----------------------------------------------------------------------

      it.effect("says in one line which NATS it uses: in memory, or the server, its version and JetStream", () =>
        Effect.gen(function*() {
          const [nats, lines] = yield* recordingLogs(
            Effect.scoped(Effect.map(Layer.build(adapter.layer()), Context.get(client)))
          )
          assert.deepStrictEqual(lines.map((line) => [line.level, line.annotations]), [["Info", {}]])
          if (nats.adapter === "memory") {
            assert.strictEqual(lines[0]!.message, "using the in-memory NATS (no server; JetStream on)")
          } else {
            const version = nats.server.version.replaceAll(".", "\\.")
            assert.match(
              lines[0]!.message,
              new RegExp(`^connected to NATS at nats://127\\.0\\.0\\.1:\\d+ \\(nats-server ${version}, JetStream on\\)$`)
            )
          }
        }))

      // -----------------------------------------------------------------------
      // Core NATS
      // -----------------------------------------------------------------------

      it.effect("publishes and subscribes with data and headers", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const subject = unique("core")
          const messages = yield* nats.subscribe(subject)
          yield* nats.publish(subject, bytes("one"), { headers: { a: "1", "X-Multi": ["2", "3"] } })
          yield* nats.publish(subject, bytes("two"))
          const received = yield* Stream.runCollect(Stream.take(messages, 2))
          assert.deepStrictEqual(received.map((m) => [m.subject, text(m.data)]), [[subject, "one"], [subject, "two"]])
          assert.deepStrictEqual(received[0]!.headers, { a: ["1"], "X-Multi": ["2", "3"] })
          assert.strictEqual(received[0]!.reply, undefined)
          assert.strictEqual(received[1]!.headers, undefined)
        }))

      it.effect("matches '*' and '>' wildcards", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const base = unique("wild")
          const one = yield* nats.subscribe(`${base}.*`)
          const all = yield* nats.subscribe(`${base}.>`)
          for (const suffix of ["a", "a.b", "b"]) yield* nats.publish(`${base}.${suffix}`, bytes(suffix))
          const oneToken = yield* Stream.runCollect(Stream.take(one, 2))
          const anyTokens = yield* Stream.runCollect(Stream.take(all, 3))
          assert.deepStrictEqual(oneToken.map((m) => m.subject), [`${base}.a`, `${base}.b`])
          assert.deepStrictEqual(anyTokens.map((m) => m.subject), [`${base}.a`, `${base}.a.b`, `${base}.b`])
        }))

      it.effect("delivers each message to one member of a queue group", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const subject = unique("queue")
          const members = yield* Scope.make()
          const first = yield* Scope.provide(nats.subscribe(subject, { queue: "workers" }), members)
          const second = yield* Scope.provide(nats.subscribe(subject, { queue: "workers" }), members)
          const count = 20
          for (let i = 0; i < count; i++) yield* nats.publish(subject, bytes(String(i)))
          // Everything is delivered once the server has processed the publishes;
          // closing the members' scope then ends both streams.
          yield* nats.flush
          yield* Scope.close(members, Exit.void)
          const received = yield* Stream.runCollect(Stream.merge(first, second))
          const payloads = received.map((m) => Number(text(m.data))).sort((a, b) => a - b)
          assert.deepStrictEqual(payloads, Array.from({ length: count }, (_, i) => i))
        }))

      it.effect("answers a request through the reply subject", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const subject = unique("service")
          const requests = yield* nats.subscribe(subject)
          yield* requests.pipe(
            Stream.take(1),
            Stream.runForEach((msg) =>
              nats.publish(msg.reply!, bytes(`pong ${text(msg.data)}`), { headers: { answered: "yes" } })
            ),
            Effect.forkChild
          )
          const reply = yield* nats.request(subject, bytes("ping"), { headers: { asked: "yes" } })
          assert.strictEqual(text(reply.data), "pong ping")
          assert.deepStrictEqual(reply.headers, { answered: ["yes"] })
        }))

      it.effect("fails a request nobody listens to with NoResponders", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const subject = unique("nobody")
          const reason = yield* failure(nats.request(subject, bytes("?")))
          assert.strictEqual(reason._tag, "NoResponders")
          assert.strictEqual((reason as NatsError.NoResponders).subject, subject)
          // Someone may answer next time.
          assert.isTrue(NatsError.fromReason(reason).isRetryable)
        }))

      it.effect("fails an unanswered request with TimeoutError", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const subject = unique("silent")
          yield* nats.subscribe(subject)
          const error = yield* Effect.flip(nats.request(subject, bytes("?"), { timeout: "200 millis" }))
          assert.strictEqual(error.reason._tag, "TimeoutError")
          assert.isTrue(error.isRetryable)
        }))

      it.effect("refuses a payload above max_payload with PayloadTooLarge", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const maxPayload = nats.server.maxPayload
          const reason = yield* failure(nats.publish(unique("big"), new Uint8Array(maxPayload + 1)))
          assert.strictEqual(reason._tag, "PayloadTooLarge")
          assert.strictEqual((reason as NatsError.PayloadTooLarge).maxPayload, maxPayload)
          assert.strictEqual((reason as NatsError.PayloadTooLarge).size, maxPayload + 1)
        }))

      it.effect("refuses invalid header names with EncodeError, counts headers against max_payload", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const subject = unique("headers")
          const badHeaders = { "bad name": "x" }
          for (
            const attempt of [
              nats.publish(subject, bytes("x"), { headers: badHeaders }),
              nats.request(subject, bytes("x"), { headers: badHeaders }),
              nats.jetstream.publish(subject, bytes("x"), { headers: badHeaders })
            ] as ReadonlyArray<Effect.Effect<unknown, NatsError.NatsError>>
          ) {
            const reason = yield* failure(attempt)
            assert.strictEqual(reason._tag, "EncodeError")
          }
          const full = new Uint8Array(nats.server.maxPayload)
          const tooLarge = yield* failure(nats.publish(subject, full, { headers: { a: "1" } }))
          assert.strictEqual(tooLarge._tag, "PayloadTooLarge")
          assert.isAbove((tooLarge as NatsError.PayloadTooLarge).size, nats.server.maxPayload)
        }))

      it.effect("refuses invalid subjects with InvalidSubject", () =>
        Effect.gen(function*() {
          const nats = yield* client
          for (const subject of ["", "a..b", "a b", "a.*", "a.>", ".a", "a."]) {
            const reason = yield* failure(nats.publish(subject, bytes("x")))
            assert.strictEqual(reason._tag, "InvalidSubject", `publish to '${subject}'`)
          }
          for (const subject of ["", "a.>.b", "a..b"]) {
            const reason = yield* failure(nats.subscribe(subject))
            assert.strictEqual(reason._tag, "InvalidSubject", `subscribe to '${subject}'`)
          }
          const reason = yield* failure(nats.subscribe(unique("q"), { queue: "bad queue" }))
          assert.strictEqual(reason._tag, "InvalidSubject")
        }))

      it.effect("refuses invalid stream and consumer names with InvalidName", () =>
        Effect.gen(function*() {
          const nats = yield* client
          for (const name of ["", "a.b", "a b", "a*", "a>", "a/b", "a\\b"]) {
            const stream = yield* failure(nats.jetstream.streams.add({ name, subjects: [unique("names")] }))
            assert.strictEqual(stream._tag, "InvalidName", `stream '${name}': ${stream.message}`)
            assert.deepInclude(stream as NatsError.InvalidName, { kind: "stream", name })
            const consumer = yield* failure(nats.jetstream.consumers.info("ANY", name))
            assert.strictEqual(consumer._tag, "InvalidName", `consumer '${name}'`)
            assert.deepInclude(consumer as NatsError.InvalidName, { kind: "consumer", name })
          }
        }))

      it.effect("refuses a protocol line over max_control_line with InvalidSubject, and loses nothing after", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const limit = nats.server.maxControlLine
          assert.strictEqual(limit, 4096)
          const subject = unique("after")
          const long = `${subject}.${"x".repeat(limit)}`
          // Fewer characters than the limit, more bytes.
          const wide = `${subject}.${"é".repeat(limit / 2 + 16)}`
          const refusals: ReadonlyArray<readonly [string, Effect.Effect<unknown, NatsError.NatsError, Scope.Scope>]> = [
            ["publish", nats.publish(long, bytes("x"))],
            ["publish (bytes)", nats.publish(wide, bytes("x"))],
            ["publish with reply", nats.publish(subject, bytes("x"), { reply: long })],
            ["request", nats.request(long, bytes("x"))],
            ["jetstream publish", nats.jetstream.publish(long, bytes("x"))],
            ["subscribe", nats.subscribe(long)],
            ["subscribe with queue", nats.subscribe(subject, { queue: "q".repeat(limit) })],
            ["get last by subject", nats.jetstream.getMessage("ANY", { lastBySubject: long })],
            ["ordered consumer filter", Stream.runDrain(nats.jetstream.ordered("ANY", { filterSubjects: [long] }))]
          ]
          for (const [what, refused] of refusals) {
            const reason = yield* failure(refused)
            assert.strictEqual(reason._tag, "InvalidSubject", `${what}: ${reason.message}`)
            assert.include(reason.message, "max_control_line", what)
            assert.isFalse(NatsError.fromReason(reason).isRetryable, what)
          }
          // Stream and consumer names go into API subjects: too long a name is an InvalidName.
          const longName = "N".repeat(limit)
          for (
            const [kind, refused] of [
              ["stream", nats.jetstream.streams.info(longName)],
              ["stream", nats.jetstream.streams.add({ name: longName, subjects: [subject] })],
              ["consumer", nats.jetstream.consumers.info("ANY", longName)]
            ] as const
          ) {
            const reason = yield* failure(refused as Effect.Effect<unknown, NatsError.NatsError>)
            assert.strictEqual(reason._tag, "InvalidName", reason.message)
            assert.deepInclude(reason as NatsError.InvalidName, { kind, name: longName })
            assert.include(reason.message, "max_control_line")
          }
          // A long subject within the limit goes through.
          const near = `${subject}.${"n".repeat(limit - subject.length - 200)}`
          const nearMessages = yield* nats.subscribe(near)
          yield* nats.publish(near, bytes("near"))
          const [nearMessage] = yield* Stream.runCollect(Stream.take(nearMessages, 1))
          assert.strictEqual(nearMessage!.subject, near)
          // The connection is intact: everything published after arrives.
          const messages = yield* nats.subscribe(subject)
          const count = 1000
          for (let i = 0; i < count; i++) yield* nats.publish(subject, bytes(String(i)))
          const received = yield* Stream.runCollect(Stream.take(messages, count))
          assert.deepStrictEqual(received.map((m) => Number(text(m.data))), Array.from({ length: count }, (_, i) => i))
        }))

      // -----------------------------------------------------------------------
      // Streams
      // -----------------------------------------------------------------------

      it.effect("adds, reads, updates, lists and deletes a stream", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = unique("STREAM")
          const added = yield* nats.jetstream.streams.add({
            name,
            subjects: [`${name}.>`],
            storage: "memory",
            maxMsgs: 10,
            description: "first"
          })
          assert.strictEqual(added.config.name, name)
          assert.deepStrictEqual(added.config.subjects, [`${name}.>`])
          assert.strictEqual(added.config.storage, "memory")
          assert.strictEqual(added.config.retention, "limits")
          assert.strictEqual(added.config.discard, "old")
          assert.strictEqual(added.config.maxMsgs, 10)
          assert.strictEqual(added.config.maxBytes, -1)
          assert.strictEqual(added.config.allowRollup, false)
          assert.strictEqual(added.state.messages, 0)

          const info = yield* nats.jetstream.streams.info(name)
          assert.strictEqual(info.config.description, "first")

          // Fields left out keep their values.
          const updated = yield* nats.jetstream.streams.update({
            name,
            subjects: [`${name}.>`, `${name}_other`],
            maxMsgs: 20
          })
          assert.strictEqual(updated.config.maxMsgs, 20)
          assert.strictEqual(updated.config.storage, "memory")
          assert.strictEqual(updated.config.description, "first")
          assert.deepStrictEqual(updated.config.subjects, [`${name}.>`, `${name}_other`])

          const all = yield* nats.jetstream.streams.list()
          assert.isTrue(all.some((stream) => stream.config.name === name))
          const capturing = yield* nats.jetstream.streams.list({ subject: `${name}.x` })
          assert.deepStrictEqual(capturing.map((stream) => stream.config.name), [name])
          const none = yield* nats.jetstream.streams.list({ subject: unique("uncaptured") })
          assert.deepStrictEqual(none, [])

          yield* nats.jetstream.streams.delete(name)
          const reason = yield* failure(nats.jetstream.streams.info(name))
          assert.strictEqual(reason._tag, "StreamNotFound")
          assert.strictEqual((reason as NatsError.StreamNotFound).stream, name)
        }))

      it.effect("converts durations in stream configurations", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = unique("DURATIONS")
          const info = yield* nats.jetstream.streams.add({
            name,
            subjects: [`${name}.>`],
            maxAge: "1 hour",
            duplicateWindow: "30 seconds"
          })
          assert.strictEqual(Duration.toMillis(info.config.maxAge), 60 * 60 * 1000)
          assert.strictEqual(Duration.toMillis(info.config.duplicateWindow), 30 * 1000)
          yield* nats.jetstream.streams.delete(name)
        }))

      it.effect("fails stream operations on a missing stream with StreamNotFound", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = unique("MISSING")
          const operations: ReadonlyArray<Effect.Effect<unknown, NatsError.NatsError>> = [
            nats.jetstream.streams.delete(name),
            nats.jetstream.streams.purge(name),
            nats.jetstream.streams.update({ name, subjects: [name] }),
            nats.jetstream.getMessage(name, { seq: 1 })
          ]
          for (const operation of operations) {
            const reason = yield* failure(operation)
            assert.strictEqual(reason._tag, "StreamNotFound")
          }
        }))

      // -----------------------------------------------------------------------
      // JetStream publish
      // -----------------------------------------------------------------------


      it.effect("acknowledges JetStream publishes with increasing sequences", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const acks = []
            for (let i = 0; i < 3; i++) acks.push(yield* nats.jetstream.publish(`${name}.a`, bytes(String(i))))
            assert.deepStrictEqual(acks, [1, 2, 3].map((seq) => ({ stream: name, seq, duplicate: false })))
            const info = yield* nats.jetstream.streams.info(name)
            assert.strictEqual(info.state.messages, 3)
            assert.strictEqual(info.state.firstSeq, 1)
            assert.strictEqual(info.state.lastSeq, 3)
          })))

      it.effect("de-duplicates by message id", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const first = yield* nats.jetstream.publish(`${name}.a`, bytes("x"), { msgId: "m1" })
            const again = yield* nats.jetstream.publish(`${name}.a`, bytes("x"), { msgId: "m1" })
            const other = yield* nats.jetstream.publish(`${name}.a`, bytes("y"), { msgId: "m2" })
            assert.deepStrictEqual(first, { stream: name, seq: 1, duplicate: false })
            assert.deepStrictEqual(again, { stream: name, seq: 1, duplicate: true })
            assert.deepStrictEqual(other, { stream: name, seq: 2, duplicate: false })
            assert.strictEqual((yield* nats.jetstream.streams.info(name)).state.messages, 2)
          })))

      it.effect("checks the expected sequences before answering a duplicate (from 2.12; 2.9 answers the duplicate first)", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* nats.jetstream.publish(`${name}.a`, bytes("x"), { msgId: "m1" })
            const stale = [{ lastSequence: 0 }, { lastSubjectSequence: 0 }] as const
            for (const expect of stale) {
              const again = nats.jetstream.publish(`${name}.a`, bytes("x"), { msgId: "m1", expect })
              if (supports(adapter, 2, 12)) {
                assert.deepInclude(yield* failure(again), { _tag: "WrongLastSequence", expected: 0, current: 1 })
              } else {
                assert.deepStrictEqual(yield* again, { stream: name, seq: 1, duplicate: true })
              }
            }
            // The expected message id is checked after the duplicate window, on every server.
            const sameId = yield* nats.jetstream.publish(`${name}.a`, bytes("x"), { msgId: "m1", expect: { lastMsgId: "m0" } })
            assert.deepStrictEqual(sameId, { stream: name, seq: 1, duplicate: true })
          })))

      it.effect("checks the expected last subject sequence", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const subject = `${name}.key`
            const created = yield* nats.jetstream.publish(subject, bytes("v1"), { expect: { lastSubjectSequence: 0 } })
            assert.strictEqual(created.seq, 1)
            yield* nats.jetstream.publish(`${name}.other`, bytes("o"))
            const next = yield* nats.jetstream.publish(subject, bytes("v2"), { expect: { lastSubjectSequence: 1 } })
            assert.strictEqual(next.seq, 3)
            const reason = yield* failure(
              nats.jetstream.publish(subject, bytes("stale"), { expect: { lastSubjectSequence: 1 } })
            )
            // The compare-and-set conflict, with what was expected and what the subject has.
            assert.strictEqual(reason._tag, "WrongLastSequence", reason.message)
            assert.deepInclude(reason as NatsError.WrongLastSequence, { subject, expected: 1, current: 3 })
            const exists = yield* failure(
              nats.jetstream.publish(subject, bytes("again"), { expect: { lastSubjectSequence: 0 } })
            )
            assert.strictEqual(exists._tag, "WrongLastSequence")
            assert.deepInclude(exists as NatsError.WrongLastSequence, { expected: 0, current: 3 })
            assert.strictEqual((yield* nats.jetstream.streams.info(name)).state.messages, 3)
          })))

      it.effect("checks the expected stream, last sequence and last message id", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const subject = `${name}.a`
            yield* nats.jetstream.publish(subject, bytes("1"), { msgId: "id-1", expect: { stream: name } })
            const wrongStream = yield* failure(
              nats.jetstream.publish(subject, bytes("2"), { expect: { stream: "ANOTHER" } })
            )
            assert.strictEqual(wrongStream._tag, "ExpectationFailed")
            assert.strictEqual((wrongStream as NatsError.ExpectationFailed).errCode, 10060)
            const wrongLast = yield* failure(
              nats.jetstream.publish(subject, bytes("2"), { expect: { lastSequence: 5 } })
            )
            assert.strictEqual(wrongLast._tag, "WrongLastSequence")
            assert.deepInclude(wrongLast as NatsError.WrongLastSequence, { expected: 5, current: 1 })
            const wrongId = yield* failure(
              nats.jetstream.publish(subject, bytes("2"), { expect: { lastMsgId: "id-0" } })
            )
            assert.strictEqual(wrongId._tag, "ExpectationFailed")
            assert.strictEqual((wrongId as NatsError.ExpectationFailed).errCode, 10070)
            const ok = yield* nats.jetstream.publish(subject, bytes("2"), {
              expect: { stream: name, lastSequence: 1, lastMsgId: "id-1" }
            })
            assert.strictEqual(ok.seq, 2)
          })))

      it.effect("fails a JetStream publish no stream captures with NoResponders", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const reason = yield* failure(nats.jetstream.publish(unique("uncaptured"), bytes("x")))
          assert.strictEqual(reason._tag, "NoResponders")
        }))

      it.effect("keeps only the rollup message on its subject", () =>
        withStream({ allowRollup: true }, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            for (let i = 0; i < 3; i++) yield* nats.jetstream.publish(`${name}.a`, bytes(`a${i}`))
            yield* nats.jetstream.publish(`${name}.b`, bytes("b"))
            const rollup = yield* nats.jetstream.publish(`${name}.a`, bytes("rolled"), {
              headers: { "Nats-Rollup": "sub" }
            })
            const info = yield* nats.jetstream.streams.info(name)
            assert.strictEqual(info.state.messages, 2)
            const last = yield* nats.jetstream.getMessage(name, { lastBySubject: `${name}.a` })
            assert.strictEqual(Option.getOrThrow(last).seq, rollup.seq)
            assert.strictEqual(text(Option.getOrThrow(last).data), "rolled")
            assert.isTrue(Option.isNone(yield* nats.jetstream.getMessage(name, { seq: 1 })))
            assert.isTrue(Option.isSome(yield* nats.jetstream.getMessage(name, { seq: 4 })))
          })))

      it.effect("refuses a rollup when the stream does not allow it", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const reason = yield* failure(
              nats.jetstream.publish(`${name}.a`, bytes("x"), { headers: { "Nats-Rollup": "sub" } })
            )
            assert.strictEqual(reason._tag, "JetStreamApiError")
          })))

      it.effect("purges all, by subject filter, keeping the newest, and below a sequence", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const publish = (suffix: string, times: number) =>
              Effect.forEach(Array.from({ length: times }), () => nats.jetstream.publish(`${name}.${suffix}`, bytes(suffix)))
            yield* publish("a", 3)
            yield* publish("b", 2)
            assert.deepStrictEqual(yield* nats.jetstream.streams.purge(name, { filter: `${name}.a`, keep: 1 }), { purged: 2 })
            assert.deepStrictEqual(yield* nats.jetstream.streams.purge(name, { filter: `${name}.b` }), { purged: 2 })
            const afterFilter = yield* nats.jetstream.streams.info(name)
            assert.strictEqual(afterFilter.state.messages, 1)
            assert.strictEqual(afterFilter.state.firstSeq, 3)
            yield* publish("c", 3) // seq 6, 7, 8
            assert.deepStrictEqual(yield* nats.jetstream.streams.purge(name, { seq: 7 }), { purged: 2 }) // 3 and 6
            assert.strictEqual((yield* nats.jetstream.streams.info(name)).state.firstSeq, 7)
            assert.deepStrictEqual(yield* nats.jetstream.streams.purge(name), { purged: 2 })
            const empty = yield* nats.jetstream.streams.info(name)
            assert.strictEqual(empty.state.messages, 0)
            assert.strictEqual(empty.state.lastSeq, 8)
          })))

      it.effect("a purge keeping n keeps the n newest messages (from 2.10); one below sequence 1 purges nothing (from 2.12)", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            for (const subject of ["c", "b", "a"]) yield* nats.jetstream.publish(`${name}.${subject}`, bytes(subject))
            yield* nats.jetstream.streams.purge(name, { filter: `${name}.a` })
            // Two messages left, at sequences 1 and 2 of 3: 2.9 kept the last sequence, none of them.
            assert.deepStrictEqual(yield* nats.jetstream.streams.purge(name, { keep: 1 }), { purged: supports(adapter, 2, 10) ? 1 : 2 })
            yield* nats.jetstream.publish(`${name}.a`, bytes("a"))
            const left = (yield* nats.jetstream.streams.info(name)).state.messages
            // 2.9 purged everything.
            assert.deepStrictEqual(yield* nats.jetstream.streams.purge(name, { seq: 1 }), { purged: supports(adapter, 2, 12) ? 0 : left })
          })))

      it.effect("a purge of every message leaves an empty stream at first sequence 1, others at 0", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const firstSeq = (purge: NatsClient.PurgeOptions | undefined) =>
            withStream({}, (name) =>
              Effect.andThen(
                nats.jetstream.streams.purge(name, purge === undefined ? undefined : { ...purge, filter: purge.filter && `${name}.${purge.filter}` }),
                Effect.map(nats.jetstream.streams.info(name), (info) => [info.state.firstSeq, info.state.lastSeq])
              ))
          assert.deepStrictEqual(yield* firstSeq(undefined), [1, 0])
          assert.deepStrictEqual(yield* firstSeq({ keep: 1 }), [0, 0])
          assert.deepStrictEqual(yield* firstSeq({ filter: "a" }), [0, 0])
        }))

      // -----------------------------------------------------------------------
      // Stored messages
      // -----------------------------------------------------------------------

      for (const allowDirect of [false, true]) {
        it.effect(`gets stored messages by sequence and last by subject (allowDirect: ${allowDirect})`, () =>
          withStream({ allowDirect }, (name) =>
            Effect.gen(function*() {
              const nats = yield* client
              yield* nats.jetstream.publish(`${name}.a`, bytes("a1"), { headers: { h: ["1", "2"] } })
              yield* nats.jetstream.publish(`${name}.b`, bytes("b1"))
              yield* nats.jetstream.publish(`${name}.a`, new Uint8Array(0))

              const first = Option.getOrThrow(yield* nats.jetstream.getMessage(name, { seq: 1 }))
              assert.strictEqual(first.stream, name)
              assert.strictEqual(first.subject, `${name}.a`)
              assert.strictEqual(first.seq, 1)
              assert.strictEqual(text(first.data), "a1")
              assert.deepStrictEqual(first.headers, { h: ["1", "2"] })
              assert.strictEqual(first.pending, 0)
              assert.isTrue(first.time instanceof Date && !Number.isNaN(first.time.getTime()))

              const second = Option.getOrThrow(yield* nats.jetstream.getMessage(name, { seq: 2 }))
              assert.strictEqual(second.headers, undefined)

              const lastA = Option.getOrThrow(yield* nats.jetstream.getMessage(name, { lastBySubject: `${name}.a` }))
              assert.strictEqual(lastA.seq, 3)
              assert.strictEqual(lastA.data.length, 0)

              assert.isTrue(Option.isNone(yield* nats.jetstream.getMessage(name, { seq: 99 })))
              assert.isTrue(Option.isNone(yield* nats.jetstream.getMessage(name, { lastBySubject: `${name}.none` })))

              // The first at or after a sequence on a subject, wildcards allowed.
              const next = (nextBySubject: string, seq: number) =>
                Effect.map(nats.jetstream.getMessage(name, { nextBySubject, seq }), Option.map((msg) => msg.seq))
              assert.deepStrictEqual(yield* next(`${name}.a`, 1), Option.some(1))
              assert.deepStrictEqual(yield* next(`${name}.a`, 2), Option.some(3))
              assert.deepStrictEqual(yield* next(`${name}.*`, 2), Option.some(2))
              assert.deepStrictEqual(yield* next(`${name}.>`, 4), Option.none())
              assert.deepStrictEqual(yield* next(`${name}.b`, 3), Option.none())
            })))
      }

      // -----------------------------------------------------------------------
      // Ordered consumers
      // -----------------------------------------------------------------------

      const withMessages = <A, E, R>(use: (name: string) => Effect.Effect<A, E, R>) =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            // seq 1..6: a, b, a, b, a, b
            for (let i = 1; i <= 6; i++) {
              yield* nats.jetstream.publish(`${name}.${i % 2 === 1 ? "a" : "b"}`, bytes(String(i)))
            }
            return yield* use(name)
          }))

      const seqs = (messages: ReadonlyArray<NatsClient.StoredMsg>) => messages.map((m) => m.seq)

      it.effect("reads a stream in order with an ordered consumer, pending counting down", () =>
        withMessages((name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const messages = yield* Stream.runCollect(nats.jetstream.ordered(name, { untilCaughtUp: true }))
            assert.deepStrictEqual(seqs(messages), [1, 2, 3, 4, 5, 6])
            assert.deepStrictEqual(messages.map((m) => m.pending), [5, 4, 3, 2, 1, 0])
            assert.deepStrictEqual(messages.map((m) => text(m.data)), ["1", "2", "3", "4", "5", "6"])
            assert.strictEqual(messages[0]!.stream, name)
            assert.strictEqual(messages[0]!.subject, `${name}.a`)
            // The consumer is gone once the stream has ended.
            assert.strictEqual((yield* nats.jetstream.streams.info(name)).state.consumerCount, 0)
          })))

      it.effect("filters an ordered consumer by subject", () =>
        withMessages((name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const messages = yield* Stream.runCollect(
              nats.jetstream.ordered(name, { filterSubjects: [`${name}.a`], untilCaughtUp: true })
            )
            assert.deepStrictEqual(seqs(messages), [1, 3, 5])
            assert.deepStrictEqual(messages.map((m) => m.pending), [2, 1, 0])
          })))

      it.effect("starts an ordered consumer where its deliver policy says", () =>
        withMessages((name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const read = (deliver: NatsClient.DeliverPolicy) =>
              Effect.map(Stream.runCollect(nats.jetstream.ordered(name, { deliver, untilCaughtUp: true })), seqs)
            assert.deepStrictEqual(yield* read("all"), [1, 2, 3, 4, 5, 6])
            assert.deepStrictEqual(yield* read("last"), [6])
            assert.deepStrictEqual(yield* read("last_per_subject"), [5, 6])
            assert.deepStrictEqual(yield* read({ startSequence: 4 }), [4, 5, 6])
            assert.deepStrictEqual(yield* read("new"), [])
            const future = new Date(Date.now() + 60 * 60 * 1000)
            assert.deepStrictEqual(yield* read({ startTime: future }), [])
            const past = new Date(Date.now() - 60 * 60 * 1000)
            assert.deepStrictEqual(yield* read({ startTime: past }), [1, 2, 3, 4, 5, 6])
          })))

      it.effect("ends an ordered consumer on an empty stream at once", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const messages = yield* Stream.runCollect(nats.jetstream.ordered(name, { untilCaughtUp: true }))
            assert.deepStrictEqual(messages, [])
          })))

      it.effect("goes on with new messages without untilCaughtUp", () =>
        withMessages((name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const received = yield* Queue.unbounded<NatsClient.StoredMsg>()
            const reader = yield* nats.jetstream.ordered(name, { filterSubjects: [`${name}.c`] }).pipe(
              Stream.runForEach((msg) => Queue.offer(received, msg)),
              Effect.forkChild
            )
            yield* nats.jetstream.publish(`${name}.c`, bytes("later"))
            const msg = yield* Queue.take(received)
            assert.strictEqual(msg.seq, 7)
            assert.strictEqual(text(msg.data), "later")
            yield* Fiber.interrupt(reader)
            assert.strictEqual((yield* nats.jetstream.streams.info(name)).state.consumerCount, 0)
          })))

      it.effect("fails an ordered consumer on a missing stream with StreamNotFound", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const reason = yield* failure(Stream.runCollect(nats.jetstream.ordered(unique("MISSING"))))
          assert.strictEqual(reason._tag, "StreamNotFound")
        }))

      it.effect("fails an ordered consumer whose stream is deleted while it reads with StreamNotFound", () =>
        withMessages((name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const received = yield* Queue.unbounded<NatsClient.StoredMsg>()
            const reader = yield* nats.jetstream.ordered(name, { filterSubjects: [`${name}.a`] }).pipe(
              Stream.runForEach((msg) => Queue.offer(received, msg)),
              Effect.forkChild
            )
            yield* Queue.take(received)
            yield* nats.jetstream.streams.delete(name)
            const exit = yield* Fiber.await(reader).pipe(Effect.timeout("10 seconds"))
            assert.isTrue(Exit.isFailure(exit))
            const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
            assert.strictEqual(Option.isSome(error) ? error.value.reason._tag : "no error", "StreamNotFound")
          })))

      // -----------------------------------------------------------------------
      // Durable consumers
      // -----------------------------------------------------------------------

      it.effect("adds a durable consumer, reads its info, deletes it", () =>
        withMessages((name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const info = yield* nats.jetstream.consumers.add(name, {
              name: "worker",
              filterSubjects: [`${name}.a`],
              ackWait: "30 seconds",
              description: "works"
            })
            assert.strictEqual(info.stream, name)
            assert.strictEqual(info.name, "worker")
            assert.strictEqual(info.numPending, 3)
            assert.strictEqual(info.numAckPending, 0)
            // Adding again with a changed configuration updates it.
            const again = yield* nats.jetstream.consumers.add(name, {
              name: "worker",
              filterSubjects: [`${name}.a`],
              ackWait: "30 seconds",
              description: "works harder"
            })
            assert.strictEqual(again.numPending, 3)
            assert.strictEqual((yield* nats.jetstream.streams.info(name)).state.consumerCount, 1)
            yield* nats.jetstream.consumers.delete(name, "worker")
            const reason = yield* failure(nats.jetstream.consumers.info(name, "worker"))
            assert.strictEqual(reason._tag, "ConsumerNotFound")
            assert.strictEqual((reason as NatsError.ConsumerNotFound).consumer, "worker")
          })))

      it.effect("acks, naks (redelivered) and terms (not redelivered) durable deliveries", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            for (const data of ["1", "2", "3"]) yield* nats.jetstream.publish(`${name}.a`, bytes(data))
            yield* nats.jetstream.consumers.add(name, { name: "worker", ackWait: "30 seconds" })
            const deliveries: Array<string> = []
            yield* nats.jetstream.consumers.consume(name, "worker", { bufferMessages: 10 }).pipe(
              Stream.mapEffect((msg) => {
                deliveries.push(`${msg.seq}/${msg.deliveryCount}/${msg.redelivered}`)
                assert.strictEqual(msg.consumer, "worker")
                assert.strictEqual(msg.stream, name)
                if (msg.seq === 2 && msg.deliveryCount === 1) return Effect.as(msg.nak(), false)
                if (msg.seq === 3) return Effect.as(msg.term("cannot handle"), false)
                return Effect.as(msg.ack, msg.seq === 2)
              }),
              Stream.takeUntil((done) => done),
              Stream.runDrain
            )
            assert.deepStrictEqual([...deliveries].sort(), ["1/1/false", "2/1/false", "2/2/true", "3/1/false"])
            assert.isTrue(deliveries.indexOf("2/1/false") < deliveries.indexOf("2/2/true"))
            yield* nats.flush
            const info = yield* nats.jetstream.consumers.info(name, "worker")
            // The termed message is settled: nothing is waiting for an ack.
            assert.strictEqual(info.numAckPending, 0)
            assert.strictEqual(info.numPending, 0)
            assert.deepStrictEqual(info.delivered, { streamSeq: 3, consumerSeq: 4 })
            assert.strictEqual(info.ackFloor.streamSeq, 3)
          })))

      it.effect("redelivers a nak with a delay after the delay", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            yield* nats.jetstream.publish(`${name}.a`, bytes("x"))
            yield* nats.jetstream.consumers.add(name, { name: "worker" })
            const times: Array<number> = []
            yield* nats.jetstream.consumers.consume(name, "worker").pipe(
              Stream.mapEffect((msg) => {
                times.push(Date.now())
                return msg.deliveryCount === 1 ? Effect.as(msg.nak("300 millis"), false) : Effect.as(msg.ack, true)
              }),
              Stream.takeUntil((done) => done),
              Stream.runDrain
            )
            assert.strictEqual(times.length, 2)
            assert.isAtLeast(times[1]! - times[0]!, 250)
          })))

      it.effect("holds the server back while the reader is slow", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const total = 200
            const buffer = 10
            for (let i = 0; i < total; i++) yield* nats.jetstream.publish(`${name}.a`, bytes(String(i)))
            yield* nats.jetstream.consumers.add(name, { name: "reader", ackPolicy: "none" })
            const pull = yield* Stream.toPull(nats.jetstream.consumers.consume(name, "reader", { bufferMessages: buffer }))
            let read = 0
            const readUpTo = (count: number) =>
              Effect.whileLoop({
                while: () => read < count,
                body: () => pull,
                step: (chunk) => {
                  read += chunk.length
                }
              })
            for (const upTo of [1, 50, 120]) {
              yield* readUpTo(upTo)
              yield* nats.flush
              const info = yield* nats.jetstream.consumers.info(name, "reader")
              // Delivered ahead of the reader: bounded by the buffer, not by the stream.
              assert.isAtMost(info.delivered.streamSeq - read, 2 * buffer, `after reading ${read}`)
            }
            yield* readUpTo(total)
            assert.strictEqual(read, total)
          })))

      it.effect("fails consuming a missing consumer with ConsumerNotFound", () =>
        withStream({}, (name) =>
          Effect.gen(function*() {
            const nats = yield* client
            const reason = yield* failure(Stream.runCollect(nats.jetstream.consumers.consume(name, "nobody")))
            assert.strictEqual(reason._tag, "ConsumerNotFound")
            const onMissingStream = yield* failure(
              nats.jetstream.consumers.add(unique("MISSING"), { name: "worker" })
            )
            assert.strictEqual(onMissingStream._tag, "StreamNotFound")
          })))
    })
  })
