/**
 * `NatsCluster.layerMessageStorage` held to the tests Effect holds
 * `SqlMessageStorage` to (saving, duplicates by primary key, long keys,
 * claims, limits and address filters, resets, replies, reply handlers,
 * reads by id), and to what SQL storage does that those tests leave out
 * (acks, interrupts, clearing replies, deliver-at times, clearing an
 * address, two runners sharing one storage). On the in-memory NATS and on
 * each nats-server.
 */
import { assert, describe, expect, it, layer } from "@effect/vitest"
import { NatsCluster } from "@nats-effect/cluster"
import { NatsClient } from "@nats-effect/core"
import { KeyValue } from "@nats-effect/kv"
import { Adapters } from "@nats-effect/testing"
import { Clock, Context, Effect, Fiber, Latch, Layer, Option } from "effect"
import { Message, MessageStorage, ShardId, Snowflake } from "effect/cluster"
import { TestClock } from "effect/testing"
import {
  address,
  LongKeyRpc,
  makeAckChunk,
  makeChunkReply,
  makeInterrupt,
  makeReply,
  makeRequest,
  PrimaryKeyTest,
  scheduled,
  StreamRpc
} from "./fixtures/messages.ts"

let storages = 0
/** A storage of its own for each test (its own bucket), and a Snowflake generator for the messages. */
const fresh = () => Layer.merge(NatsCluster.layerMessageStorage({ stream: `messages_${++storages}` }), Snowflake.layerGenerator)

const shard = ShardId.make("default", 1)
const ids = (messages: ReadonlyArray<Message.Incoming<any>>) => messages.map((m: any) => m.envelope.payload.id)

for (const adapter of Adapters.adapters) {
  describe(`NatsCluster.layerMessageStorage (${adapter.name})`, () => {
    layer(adapter.layer(), { excludeTestServices: true, timeout: "120 seconds" })((it) => {
      it.effect("saveRequest: unprocessed messages in the order they were saved, without the completed ones", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const request = yield* makeRequest({ payload: { id: 1 } })
          expect((yield* storage.saveRequest(request))._tag).toEqual("Success")
          for (let i = 2; i <= 5; i++) yield* storage.saveRequest(yield* makeRequest({ payload: { id: i } }))
          yield* storage.saveReply(yield* makeReply(request))
          expect(ids(yield* storage.unprocessedMessages([shard]))).toEqual([2, 3, 4, 5])
          for (let i = 6; i <= 10; i++) yield* storage.saveRequest(yield* makeRequest({ payload: { id: i } }))
          expect(ids(yield* storage.unprocessedMessages([shard]))).toEqual([6, 7, 8, 9, 10])
        }).pipe(Effect.provide(fresh())))

      it.effect("saveReply + saveRequest duplicate: the last reply comes with the duplicate; a second exit fails", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const stream = () => makeRequest({ rpc: StreamRpc, payload: StreamRpc.payloadSchema.make({ id: 123 }) })
          const request = yield* stream()
          expect((yield* storage.saveRequest(request))._tag).toEqual("Success")

          let chunk = yield* makeChunkReply(request, 0)
          yield* storage.saveReply(chunk)
          yield* storage.saveEnvelope(yield* makeAckChunk(request, chunk))
          chunk = yield* makeChunkReply(request, 1)
          yield* storage.saveReply(chunk)

          let result = yield* storage.saveRequest(yield* stream())
          assert(result._tag === "Duplicate" && Option.isSome(result.lastReceivedReply))
          expect(result.originalId).toEqual(request.envelope.requestId)
          expect(result.lastReceivedReply.value._tag).toEqual("Chunk")
          // The chunk not acked yet.
          expect(yield* storage.repliesFor([request])).toHaveLength(1)

          yield* storage.saveReply(yield* makeReply(request))
          result = yield* storage.saveRequest(yield* stream())
          assert(result._tag === "Duplicate" && Option.isSome(result.lastReceivedReply))
          expect(result.lastReceivedReply.value._tag).toEqual("WithExit")

          const error = yield* Effect.flip(storage.saveReply(yield* makeReply(request)))
          expect(error._tag).toEqual("PersistenceError")
        }).pipe(Effect.provide(fresh())))

      it.effect("detects duplicates by primary key, however long the key", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const short = () => makeRequest({ rpc: PrimaryKeyTest, payload: PrimaryKeyTest.payloadSchema.make({ id: 123 }) })
          const first = yield* short()
          yield* storage.saveRequest(first)
          const duplicate = yield* storage.saveRequest(yield* short())
          assert(duplicate._tag === "Duplicate")
          expect(duplicate.originalId).toEqual(first.envelope.requestId)
          expect(yield* storage.requestIdForPrimaryKey({ address: address(), tag: "PrimaryKeyTest", id: "123" }))
            .toEqual(Option.some(first.envelope.requestId))

          const longId = "long-key-".repeat(500)
          const long = () => makeRequest({ rpc: LongKeyRpc, payload: LongKeyRpc.payloadSchema.make({ id: longId }) })
          const request = yield* long()
          expect((yield* storage.saveRequest(request))._tag).toEqual("Success")
          expect((yield* storage.saveRequest(yield* long()))._tag).toEqual("Duplicate")
          expect(yield* storage.requestIdForPrimaryKey({ address: address(), tag: "LongKeyRpc", id: longId }))
            .toEqual(Option.some(request.envelope.requestId))
          expect(yield* storage.requestIdForPrimaryKey({ address: address(), tag: "LongKeyRpc", id: "other" }))
            .toEqual(Option.none())
        }).pipe(Effect.provide(fresh())))

      it.effect("a processed request leaves nothing for later reads to list", () =>
        Effect.gen(function*() {
          const nats = yield* NatsClient.NatsClient
          const storage = yield* MessageStorage.MessageStorage
          const request = yield* makeRequest()
          yield* storage.saveRequest(request)
          yield* storage.saveReply(yield* makeReply(request))
          yield* storage.unprocessedMessages([shard])
          const bucket = `messages_${storages}`
          const marker = yield* nats.jetstream.getMessage(`KV_${bucket}`, {
            lastBySubject: `$KV.${bucket}.u.default=3A1.${request.envelope.requestId}`
          })
          assert.isTrue(Option.isNone(marker))
        }).pipe(Effect.provide(fresh())))

      it.effect("a duplicate of a request whose save stopped after its primary key is stored in its place", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const bucket = yield* KeyValue.make({ bucket: `messages_${storages}` })
          const keyed = () => makeRequest({ rpc: PrimaryKeyTest, payload: PrimaryKeyTest.payloadSchema.make({ id: 5 }) })
          const first = yield* keyed()
          yield* storage.saveRequest(first)
          // As if the first save's runner died after writing the primary key.
          yield* bucket.delete(`r.${first.envelope.requestId}`)
          const again = yield* storage.saveRequest(yield* keyed())
          assert(again._tag === "Duplicate")
          expect(again.originalId).toEqual(first.envelope.requestId)
          const read = yield* storage.unprocessedMessages([shard])
          expect(read.map((message) => message.envelope.requestId)).toEqual([first.envelope.requestId])
        }).pipe(Effect.provide(fresh())))

      it.effect("unprocessedMessages claims what it returns: the next read has only what came after", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          yield* storage.saveRequest(yield* makeRequest())
          expect(yield* storage.unprocessedMessages([shard])).toHaveLength(1)
          expect(yield* storage.unprocessedMessages([shard])).toHaveLength(0)
          yield* storage.saveRequest(yield* makeRequest())
          expect(yield* storage.unprocessedMessages([shard])).toHaveLength(1)
          // Other shards are not read.
          yield* storage.saveRequest(yield* makeRequest({ shardId: ShardId.make("default", 2) }))
          expect(yield* storage.unprocessedMessages([shard])).toHaveLength(0)
        }).pipe(Effect.provide(fresh())))

      it.effect("unprocessedMessages honors the limit and claims only the rows it returns", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          for (let i = 1; i <= 5; i++) yield* storage.saveRequest(yield* makeRequest({ payload: { id: i }, entityId: String(i) }))
          expect(ids(yield* storage.unprocessedMessages([shard], { limit: 3 }))).toEqual([1, 2, 3])
          expect(ids(yield* storage.unprocessedMessages([shard]))).toEqual([4, 5])
        }).pipe(Effect.provide(fresh())))

      it.effect("unprocessedMessages filters by address, and by the addresses' shards; none for no address", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          for (let i = 1; i <= 4; i++) yield* storage.saveRequest(yield* makeRequest({ payload: { id: i }, entityId: String(i) }))
          const two = ShardId.make("default", 2)
          yield* storage.saveRequest(yield* makeRequest({ payload: { id: 5 }, entityId: "1", shardId: two }))
          expect(yield* storage.unprocessedMessages([shard], { addresses: [] })).toHaveLength(0)
          expect(ids(yield* storage.unprocessedMessages([shard, two], { addresses: [address("2"), address("4")] })))
            .toEqual([2, 4])
          // Entity "1" of shard 1 only, not of shard 2.
          expect(ids(yield* storage.unprocessedMessages([shard, two], { addresses: [address("1")] }))).toEqual([1])
          expect(ids(yield* storage.unprocessedMessages([shard, two]))).toEqual([3, 5])
        }).pipe(Effect.provide(fresh())))

      it.effect("resetAddresses, resetShards and resetRequests make claimed messages eligible again", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const requests = []
          for (let i = 1; i <= 4; i++) {
            const request = yield* makeRequest({ payload: { id: i }, entityId: String(i) })
            requests.push(request)
            yield* storage.saveRequest(request)
          }
          yield* storage.unprocessedMessages([shard], { limit: 3 })
          yield* storage.resetAddresses([])
          yield* storage.resetAddresses([address("1"), address("3")])
          expect(ids(yield* storage.unprocessedMessages([shard]))).toEqual([1, 3, 4])
          yield* storage.resetShards([ShardId.make("default", 2)])
          expect(yield* storage.unprocessedMessages([shard])).toHaveLength(0)
          yield* storage.resetShards([shard])
          expect(ids(yield* storage.unprocessedMessages([shard]))).toEqual([1, 2, 3, 4])
          yield* storage.resetRequests([requests[1]!.envelope.requestId])
          expect(ids(yield* storage.unprocessedMessages([shard]))).toEqual([2])
        }).pipe(Effect.provide(fresh())))

      it.effect("repliesFor: the exit and the chunks not acked; repliesForUnfiltered: every reply", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const request = yield* makeRequest()
          yield* storage.saveRequest(request)
          expect(yield* storage.repliesFor([request])).toHaveLength(0)
          yield* storage.saveReply(yield* makeReply(request))
          const replies = yield* storage.repliesFor([request])
          expect(replies).toHaveLength(1)
          expect(replies[0]!.requestId).toEqual(request.envelope.requestId)

          const stream = yield* makeRequest({ rpc: StreamRpc, payload: StreamRpc.payloadSchema.make({ id: 7 }) })
          yield* storage.saveRequest(stream)
          const chunk = yield* makeChunkReply(stream, 0)
          yield* storage.saveReply(chunk)
          yield* storage.saveEnvelope(yield* makeAckChunk(stream, chunk))
          yield* storage.saveReply(yield* makeChunkReply(stream, 1))
          expect((yield* storage.repliesFor([stream])).map((reply) => reply._tag === "Chunk" && reply.sequence)).toEqual([1])
          expect(yield* storage.repliesForUnfiltered([stream.envelope.requestId])).toHaveLength(2)
        }).pipe(Effect.provide(fresh())))

      it.effect("registerReplyHandler: the handler gets the reply saved after it", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const latch = yield* Latch.make()
          const request = yield* makeRequest()
          yield* storage.saveRequest(request)
          const fiber = yield* storage.registerReplyHandler(
            new Message.OutgoingRequest({ ...request, respond: () => latch.open })
          ).pipe(Effect.forkChild({ startImmediately: true }))
          yield* storage.saveReply(yield* makeReply(request))
          yield* latch.await
          yield* Fiber.await(fiber)
        }).pipe(Effect.provide(fresh())))

      it.effect("unprocessedMessagesById: a request until it has its exit, claimed or not", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const request = yield* makeRequest()
          yield* storage.saveRequest(request)
          yield* storage.unprocessedMessages([shard])
          expect(yield* storage.unprocessedMessagesById([request.envelope.requestId])).toHaveLength(1)
          yield* storage.saveReply(yield* makeReply(request))
          expect(yield* storage.unprocessedMessagesById([request.envelope.requestId])).toHaveLength(0)
        }).pipe(Effect.provide(fresh())))

      it.effect("a stream's request waits while a chunk is not acked, and comes back with its last chunk once it is", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const request = yield* makeRequest({ rpc: StreamRpc, payload: StreamRpc.payloadSchema.make({ id: 1 }) })
          yield* storage.saveRequest(request)
          expect(yield* storage.unprocessedMessages([shard])).toHaveLength(1)
          yield* storage.resetShards([shard])
          const chunk = yield* makeChunkReply(request, 0)
          yield* storage.saveReply(chunk)
          expect(yield* storage.unprocessedMessages([shard])).toHaveLength(0)
          const ack = yield* makeAckChunk(request, chunk)
          yield* storage.saveEnvelope(ack)
          const messages = yield* storage.unprocessedMessages([shard])
          expect(messages.map((message) => message.envelope._tag)).toEqual(["Request", "AckChunk"])
          const read = messages[0] as Message.IncomingRequest<any>
          assert(Option.isSome(read.lastSentReply))
          expect(String(read.lastSentReply.value.id)).toEqual(String(chunk.reply.id))
        }).pipe(Effect.provide(fresh())))

      it.effect("an interrupt is read while its request runs, and no more once it has its exit", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const request = yield* makeRequest()
          yield* storage.saveRequest(request)
          yield* storage.unprocessedMessages([shard])
          yield* storage.saveEnvelope(yield* makeInterrupt(request))
          expect((yield* storage.unprocessedMessages([shard])).map((message) => message.envelope._tag)).toEqual(["Interrupt"])
          yield* storage.resetShards([shard])
          yield* storage.saveReply(yield* makeReply(request))
          expect(yield* storage.unprocessedMessages([shard])).toHaveLength(0)
        }).pipe(Effect.provide(fresh())))

      it.effect("clearReplies removes the exit and reads the request again; with expectedReplyId only if it is the last", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const request = yield* makeRequest()
          yield* storage.saveRequest(request)
          yield* storage.unprocessedMessages([shard])
          yield* storage.saveEnvelope(yield* makeInterrupt(request))
          const exit = yield* makeReply(request)
          yield* storage.saveReply(exit)

          const stale = yield* Snowflake.Generator.use((generator) => Effect.sync(() => generator.nextUnsafe()))
          yield* storage.clearReplies(request.envelope.requestId, { expectedReplyId: stale })
          expect(yield* storage.repliesFor([request])).toHaveLength(1)
          expect(yield* storage.unprocessedMessages([shard])).toHaveLength(0)

          yield* storage.clearReplies(request.envelope.requestId, { expectedReplyId: exit.reply.id })
          expect(yield* storage.repliesFor([request])).toHaveLength(0)
          expect((yield* storage.unprocessedMessages([shard])).map((message) => message.envelope._tag)).toEqual(["Request"])

          yield* storage.saveReply(yield* makeReply(request))
          yield* storage.clearReplies(request.envelope.requestId)
          // Unconditionally: its interrupts go too.
          expect((yield* storage.unprocessedMessages([shard])).map((message) => message.envelope._tag)).toEqual(["Request"])
        }).pipe(Effect.provide(fresh())))

      it.effect("a message is not read before its deliver-at time", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const now = yield* Clock.currentTimeMillis
          yield* storage.saveRequest(yield* makeRequest(scheduled(1, now + 3_600_000)))
          yield* storage.saveRequest(yield* makeRequest(scheduled(2, now - 1)))
          expect(ids(yield* storage.unprocessedMessages([shard]))).toEqual([2])
        }).pipe(Effect.provide(fresh())))

      it.effect("clearAddress removes an entity's messages, replies and primary keys", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const keyed = () =>
            makeRequest({ rpc: PrimaryKeyTest, payload: PrimaryKeyTest.payloadSchema.make({ id: 9 }), entityId: "gone" })
          const request = yield* keyed()
          yield* storage.saveRequest(request)
          yield* storage.saveReply(yield* makeReply(request))
          yield* storage.saveRequest(yield* makeRequest({ payload: { id: 2 }, entityId: "gone" }))
          yield* storage.saveRequest(yield* makeRequest({ payload: { id: 3 }, entityId: "kept" }))
          yield* storage.clearAddress(address("gone"))
          expect(yield* storage.repliesForUnfiltered([request.envelope.requestId])).toHaveLength(0)
          expect(yield* storage.requestIdForPrimaryKey({ address: address("gone"), tag: "PrimaryKeyTest", id: "9" }))
            .toEqual(Option.none())
          expect((yield* storage.saveRequest(yield* keyed()))._tag).toEqual("Success")
          expect(ids(yield* storage.unprocessedMessages([shard]))).toEqual([3, 9])
        }).pipe(Effect.provide(fresh())))

      it.effect("deleteProcessed removes up to its limit of an entity type's requests completed before a time", () =>
        Effect.gen(function*() {
          const storage = yield* MessageStorage.MessageStorage
          const done = [yield* makeRequest({ payload: { id: 1 } }), yield* makeRequest({ payload: { id: 2 } })]
          for (const request of done) {
            yield* storage.saveRequest(request)
            yield* storage.saveReply(yield* makeReply(request))
          }
          yield* storage.saveRequest(yield* makeRequest({ payload: { id: 3 } }))
          const before = (completedBefore: number, limit: number) =>
            storage.deleteProcessed({ entityType: "test", completedBefore, limit })
          // Replied to after these times, or another entity type: nothing goes.
          expect(yield* before(0, 10)).toEqual(0)
          expect(yield* storage.deleteProcessed({ entityType: "other", completedBefore: Date.now() + 60_000, limit: 10 }))
            .toEqual(0)
          expect(yield* before(Date.now() + 60_000, 1)).toEqual(1)
          expect(yield* before(Date.now() + 60_000, 10)).toEqual(1)
          expect(yield* before(Date.now() + 60_000, 10)).toEqual(0)
          expect(yield* storage.repliesForUnfiltered(done.map((request) => request.envelope.requestId))).toHaveLength(0)
          // The one not processed stays.
          expect(ids(yield* storage.unprocessedMessages([shard]))).toEqual([3])
        }).pipe(Effect.provide(fresh())))

      it.effect("two runners on one storage: a message is claimed by one of them, a duplicate seen by both", () =>
        Effect.gen(function*() {
          const shared = `messages_${++storages}`
          const build = () =>
            Layer.build(NatsCluster.layerMessageStorage({ stream: shared })).pipe(
              Effect.map((context) => Context.get(context, MessageStorage.MessageStorage))
            )
          const [a, b] = [yield* build(), yield* build()]
          const keyed = () => makeRequest({ rpc: PrimaryKeyTest, payload: PrimaryKeyTest.payloadSchema.make({ id: 1 }) })
          yield* a.saveRequest(yield* keyed())
          expect((yield* b.saveRequest(yield* keyed()))._tag).toEqual("Duplicate")
          for (let i = 2; i <= 20; i++) yield* a.saveRequest(yield* makeRequest({ payload: { id: i }, entityId: String(i) }))
          const [fromA, fromB] = yield* Effect.all([a.unprocessedMessages([shard]), b.unprocessedMessages([shard])], {
            concurrency: 2
          })
          expect([...ids(fromA), ...ids(fromB)].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
        }).pipe(Effect.provide(Snowflake.layerGenerator)))
    })
  })
}

describe("NatsCluster.layerMessageStorage on the TestClock", () => {
  it.effect("a claim lasts 10 minutes: an unprocessed message is read again after that", () =>
    Effect.gen(function*() {
      const storage = yield* MessageStorage.MessageStorage
      yield* storage.saveRequest(yield* makeRequest())
      expect(yield* storage.unprocessedMessages([shard])).toHaveLength(1)
      yield* TestClock.adjust("9 minutes")
      expect(yield* storage.unprocessedMessages([shard])).toHaveLength(0)
      yield* TestClock.adjust("1 minute")
      expect(yield* storage.unprocessedMessages([shard])).toHaveLength(1)
    }).pipe(Effect.provide(fresh()), Effect.provide(NatsClient.layerMemory())))

  it.effect("a scheduled message is read once its time has come", () =>
    Effect.gen(function*() {
      const storage = yield* MessageStorage.MessageStorage
      yield* TestClock.setTime(1_000_000)
      yield* storage.saveRequest(yield* makeRequest(scheduled(1, 1_060_000)))
      expect(yield* storage.unprocessedMessages([shard])).toHaveLength(0)
      yield* TestClock.adjust("1 minute")
      expect(ids(yield* storage.unprocessedMessages([shard]))).toEqual([1])
    }).pipe(Effect.provide(fresh()), Effect.provide(NatsClient.layerMemory())))
})
