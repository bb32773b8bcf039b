/**
 * JetStream, the in-memory NATS against nats-server: publishes with message
 * ids and expectations on streams with limits (PubAcks, duplicates,
 * `WrongLastSequence`, what the stream keeps), and a durable consumer whose
 * deliveries are acked, nak'ed without delay or terminated up to its
 * `maxDeliver` (what it delivers in what order, its info).
 */
import { describe } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { Effect, Option, Stream } from "effect"
import * as fc from "fast-check"
import { bytes, text } from "../../src/internal/fixtures.ts"
import { asNewAsMemory, differential, outcome } from "./harness.ts"

const subject = fc.constantFrom("a", "b", "c")

interface StreamSettings {
  readonly maxMsgsPerSubject: number
  readonly maxMsgs: number
  readonly discard: "old" | "new"
}

const streamSettings: fc.Arbitrary<StreamSettings> = fc.record({
  maxMsgsPerSubject: fc.constantFrom(-1, 1, 2),
  maxMsgs: fc.constantFrom(-1, 3, 5),
  discard: fc.constantFrom("old" as const, "new" as const)
})

/** A stream of its own for the run, `<id>.>`, deleted with the run's scope. */
const ownStream = (id: string, settings: Partial<NatsClient.StreamConfig>) =>
  Effect.flatMap(NatsClient.NatsClient, (nats) =>
    Effect.acquireRelease(
      nats.jetstream.streams.add({ name: id, subjects: [`${id}.>`], allowRollup: true, ...settings }),
      () => Effect.ignore(nats.jetstream.streams.delete(id))
    ))

type Expect =
  | { readonly lastSubjectSequence: number }
  | { readonly lastSequence: number }
  | { readonly lastMsgId: string }

type PublishOp =
  | {
    readonly op: "publish"
    readonly subject: string
    readonly msgId: string | undefined
    readonly expect: Expect | undefined
    readonly rollup: "sub" | "all" | undefined
  }
  | { readonly op: "purge"; readonly subject: string | undefined; readonly keep: number; readonly seq: number }
  | { readonly op: "last"; readonly subject: string }
  | { readonly op: "info" }

const expectation: fc.Arbitrary<Expect | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 3 },
  { arbitrary: fc.record({ lastSubjectSequence: fc.nat(6) }), weight: 2 },
  { arbitrary: fc.record({ lastSequence: fc.nat(6) }), weight: 1 },
  { arbitrary: fc.record({ lastMsgId: fc.constantFrom("m1", "m2") }), weight: 1 }
)

const publishOp: fc.Arbitrary<PublishOp> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant("publish"),
      subject,
      msgId: fc.constantFrom(undefined, undefined, "m1", "m2", "m3"),
      expect: expectation,
      rollup: fc.constantFrom(undefined, undefined, undefined, "sub", "all")
    }),
    weight: 8
  },
  {
    // `keep` or `seq`: the port refuses both at once.
    arbitrary: fc.record({
      op: fc.constant("purge"),
      subject: fc.constantFrom(undefined, "a", "b"),
      keep: fc.nat(2),
      seq: fc.nat(4)
    }).map((purge) => purge.keep > 0 ? { ...purge, seq: 0 } : purge),
    weight: 2
  },
  { arbitrary: fc.record({ op: fc.constant("last"), subject }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("info") }), weight: 1 }
)

interface ConsumerSettings {
  readonly filter: string | undefined
  readonly deliver: "all" | "last" | "new"
  readonly maxDeliver: number
  readonly maxAckPending: number | undefined
}

const consumerSettings: fc.Arbitrary<ConsumerSettings> = fc.record({
  filter: fc.constantFrom(undefined, "a", "b"),
  deliver: fc.constantFrom("all" as const, "all" as const, "last" as const, "new" as const),
  maxDeliver: fc.constantFrom(-1, 1, 2, 3),
  maxAckPending: fc.constantFrom(undefined, 1, 2)
})

type Action = "ack" | "nak" | "term"

/** A message to publish, and what to do with each of its deliveries (ack once the plan runs out). */
interface Message {
  readonly subject: string
  readonly plan: ReadonlyArray<Action>
}

const message: fc.Arbitrary<Message> = fc.record({
  subject: fc.constantFrom("a", "b"),
  plan: fc.array(fc.constantFrom<Action>("ack", "nak", "nak", "term"), { maxLength: 3 })
})

/** Reads a Stream one element at a time, in the current scope. */
const readOneByOne = <A, E>(stream: Stream.Stream<A, E>) =>
  Effect.map(Stream.toPull(stream), (pull) => {
    let buffered: Array<A> = []
    return Effect.suspend(() =>
      buffered.length > 0 ? Effect.succeed(buffered.shift()!) : Effect.map(pull, (chunk) => {
        buffered = chunk.slice(1)
        return chunk[0]
      })
    )
  })

const stored = (id: string, msg: NatsClient.StoredMsg) => [msg.seq, msg.subject.slice(id.length + 1), text(msg.data)]

/** What the stream holds: its counts, and every message by sequence. */
const contents = (id: string) =>
  Effect.gen(function*() {
    const nats = yield* NatsClient.NatsClient
    const { state } = yield* nats.jetstream.streams.info(id)
    const messages = []
    for (let seq = state.firstSeq; seq > 0 && seq <= state.lastSeq; seq++) {
      const found = yield* nats.jetstream.getMessage(id, { seq })
      if (Option.isSome(found)) messages.push(stored(id, found.value))
    }
    const { bytes, firstSeq, lastSeq } = state
    return { state: { messages: state.messages, bytes, firstSeq, lastSeq }, messages }
  })

describe("differential: JetStream", () => {
  differential({
    name: "publish with message ids, expectations and rollups on streams with limits",
    input: fc.tuple(streamSettings, fc.array(publishOp, { minLength: 1, maxLength: 25 })),
    // nats-server 2.9 answers a duplicate before it checks the expected sequences
    // (2.12 on the other way round), keeps the last `keep` sequences of a stream
    // rather than its last `keep` messages, purges everything below sequence 1,
    // and does not move the last sequence of a stream purged up to a later one.
    comparable: (version, [, ops]) =>
      asNewAsMemory(version) ||
      !ops.some((op) =>
        op.op === "publish"
          ? op.msgId !== undefined && op.expect !== undefined && !("lastMsgId" in op.expect)
          : op.op === "purge" && (op.seq === 1 || (op.subject === undefined && (op.keep > 0 || op.seq > 1)))
      ),
    run: ([settings, ops], { id }) =>
      Effect.gen(function*() {
        const nats = yield* NatsClient.NatsClient
        yield* ownStream(id, settings)
        const observed: Array<unknown> = []
        for (const [index, next] of ops.entries()) {
          switch (next.op) {
            case "publish": {
              const headers = next.rollup === undefined ? undefined : { "Nats-Rollup": next.rollup }
              observed.push(
                yield* outcome(nats.jetstream.publish(`${id}.${next.subject}`, bytes(String(index)), {
                  headers,
                  msgId: next.msgId,
                  expect: next.expect
                }))
              )
              break
            }
            case "purge":
              observed.push(
                yield* outcome(nats.jetstream.streams.purge(id, {
                  filter: next.subject === undefined ? undefined : `${id}.${next.subject}`,
                  keep: next.keep > 0 ? next.keep : undefined,
                  seq: next.seq > 0 ? next.seq : undefined
                }))
              )
              break
            case "last":
              observed.push(
                yield* outcome(Effect.map(
                  nats.jetstream.getMessage(id, { lastBySubject: `${id}.${next.subject}` }),
                  Option.map((msg) => stored(id, msg))
                ))
              )
              break
            case "info":
              observed.push((yield* contents(id)).state)
          }
        }
        return { observed, end: yield* contents(id) }
      })
  })

  differential({
    name: "a durable consumer's deliveries acked, nak'ed and terminated up to maxDeliver, and its info",
    input: fc.tuple(consumerSettings, fc.array(message, { minLength: 1, maxLength: 8 })),
    // With maxDeliver 1, nats-server 2.9 reports a message nak'ed at its only delivery as redelivered.
    comparable: (version, [config, messages]) =>
      asNewAsMemory(version) || config.maxDeliver !== 1 || !messages.some((message) => message.plan[0] === "nak"),
    run: ([config, messages], { id }) =>
      Effect.gen(function*() {
        const nats = yield* NatsClient.NatsClient
        yield* ownStream(id, {})
        for (const [index, message] of messages.entries()) {
          yield* nats.jetstream.publish(`${id}.${message.subject}`, bytes(String(index)))
        }
        const filter = config.filter === undefined ? undefined : `${id}.${config.filter}`
        const created = yield* nats.jetstream.consumers.add(id, {
          name: "C",
          filterSubjects: filter === undefined ? undefined : [filter],
          deliver: config.deliver,
          maxDeliver: config.maxDeliver,
          maxAckPending: config.maxAckPending
        })
        const reader = yield* readOneByOne(nats.jetstream.consumers.consume(id, "C"))
        // Each delivery is settled by its message's plan; a nak has no delay,
        // so the server redelivers at once, until maxDeliver.
        const deliveries: Array<readonly [number, number]> = []
        const done = new Set<number>()
        const firstSeen = new Set<number>()
        while (firstSeen.size < created.numPending || done.size < firstSeen.size) {
          const msg = yield* reader
          deliveries.push([msg.seq, msg.deliveryCount])
          firstSeen.add(msg.seq)
          const plan = messages[Number(text(msg.data))]!.plan
          const action = plan[msg.deliveryCount - 1] ?? "ack"
          if (action === "ack") yield* msg.ack
          else if (action === "term") yield* msg.term()
          else yield* msg.nak()
          if (action !== "nak" || (config.maxDeliver > 0 && msg.deliveryCount >= config.maxDeliver)) done.add(msg.seq)
        }
        // A last message, acked with the server's answer: the server has
        // processed every settlement before it when the consumer's info is read.
        yield* nats.jetstream.publish(filter ?? `${id}.a`, bytes(String(messages.length)))
        const last = yield* reader
        yield* last.ackSync
        const info = yield* nats.jetstream.consumers.info(id, "C")
        // New messages come in stream order; whether a redelivery comes before
        // or after a new message depends on when the server processes a nak
        // against its deliveries into the reader's pull: each message's
        // deliveries are compared, not their interleaving.
        const counts = new Map<number, Array<number>>()
        for (const [seq, count] of deliveries) counts.set(seq, [...(counts.get(seq) ?? []), count])
        return {
          pending: created.numPending,
          firstDeliveries: deliveries.filter(([, count]) => count === 1).map(([seq]) => seq),
          deliveries: [...counts].sort(([a], [b]) => a - b),
          last: [last.seq, last.deliveryCount],
          info: {
            numPending: info.numPending,
            numAckPending: info.numAckPending,
            numRedelivered: info.numRedelivered,
            delivered: info.delivered,
            ackFloor: info.ackFloor
          }
        }
      })
  })
})
