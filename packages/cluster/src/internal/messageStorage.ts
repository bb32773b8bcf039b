/**
 * `MessageStorage` (Effect's encoded driver) on a NATS KV bucket, which is
 * a JetStream stream (`KV_<bucket>`) kept on disk.
 *
 * - `r.<requestId>`: a request and everything about it, one JSON document:
 *   its envelope, its shard and deliver-at time, the acks and interrupts
 *   sent to it (as messages of their own, each processed or not, each
 *   claimed at some time or not), its replies and which chunks are acked.
 *   Every change is a compare-and-set on its revision, retried on conflict:
 *   two runners never overwrite each other's change, and a claim is taken by
 *   one reader only.
 * - `u.<shard>.<requestId>`: present while the request or one of its
 *   messages is unprocessed. Reading a shard's unprocessed messages lists
 *   these (one consumer) and reads their requests. A marker is written
 *   before its request becomes unprocessed and removed after it is
 *   processed, so a crash in between leaves a marker too many (removed by
 *   the next read), never a message without one. The delete markers KV
 *   leaves are removed from the stream by the next read, so reads list the
 *   unprocessed requests only, however many were processed.
 * - `pk.<sha-256 of the primary key>`: the request id a primary key was
 *   first saved with; created, so a duplicate is detected once whatever the
 *   number of runners.
 * - `a.<entityType>.<entityId>.<requestId>`: the requests of an entity, for
 *   `clearAddress` and `deleteProcessed`.
 *
 * Messages are read in the order of their ids (Snowflakes, ordered by time).
 * There are no transactions: `withTransaction` runs its effect as it is.
 */
import { NatsClient } from "@nats-effect/core"
import { KeyValue, KeyValueError } from "@nats-effect/kv"
import { Effect, Option } from "effect"
import { ClusterError, type EntityAddress, type Envelope, MachineId, MessageStorage, type Reply, ShardId, Snowflake } from "effect/cluster"
import { createHash } from "node:crypto"
import { token } from "./keys.ts"
import { listAll } from "./listing.ts"

/** A message as stored: a request, or an ack or interrupt of one. */
interface Stored {
  readonly envelope: Envelope.Encoded
  readonly processed: boolean
  /** When a reader last claimed it (ms); claims last 10 minutes, as SQL storage's. */
  readonly lastRead: number | null
}

interface RequestRecord {
  readonly request: Stored
  readonly shard: string
  readonly deliverAt: number | null
  /** Its `pk.*` key, removed with its entity's messages. */
  readonly primaryKey: string | null
  /** The acks and interrupts sent to it. */
  readonly envelopes: ReadonlyArray<Stored>
  readonly replies: ReadonlyArray<Reply.Encoded>
  readonly acked: ReadonlyArray<string>
  readonly lastReplyId: string | null
}

export const defaultStream = "cluster_messages"
const claimMillis = 10 * 60 * 1000
const concurrency = 16

const text = (data: Uint8Array) => new TextDecoder().decode(data)
const shardOf = (address: Envelope.Encoded["address"] | EntityAddress.EntityAddress) =>
  ShardId.toString(address.shardId)
const requestKey = (requestId: string) => `r.${requestId}`
const markerKey = (shard: string, requestId: string) => `u.${token(shard)}.${requestId}`
const entityPrefix = (entityType: string, entityId: string) => `a.${token(entityType)}.${token(entityId)}`
const primaryKeyKey = (primaryKey: string) => `pk.${createHash("sha256").update(primaryKey).digest("base64url")}`

const isConflict = (error: unknown): boolean =>
  KeyValueError.isKeyValueError(error) && (error.reason._tag === "KeyExists" || error.reason._tag === "WrongRevision")

const hasUnprocessed = (record: RequestRecord | undefined): boolean =>
  record !== undefined && (!record.request.processed || record.envelopes.some((stored) => !stored.processed))

/** SQL storage's condition: nothing of a request is read while it has an exit or a chunk not acked. */
const isWaiting = (record: RequestRecord): boolean =>
  record.replies.some((reply) => reply._tag === "WithExit" || !record.acked.includes(reply.id))

const lastSentReply = (record: RequestRecord): Option.Option<Reply.Encoded> =>
  Option.fromUndefinedOr(record.replies.find((reply) => reply.id === record.lastReplyId))

const byId = (a: Stored, b: Stored) => {
  const x = BigInt(a.envelope._tag === "Request" ? a.envelope.requestId : a.envelope.id)
  const y = BigInt(b.envelope._tag === "Request" ? b.envelope.requestId : b.envelope.id)
  return x < y ? -1 : x > y ? 1 : 0
}

const idOf = (stored: Stored) => stored.envelope._tag === "Request" ? stored.envelope.requestId : stored.envelope.id

export const make = (
  options: { readonly stream?: string | undefined } = {}
): Effect.Effect<MessageStorage.Encoded, KeyValueError.KeyValueError, NatsClient.NatsClient> =>
  Effect.gen(function*() {
    const nats = yield* NatsClient.NatsClient
    const bucket = options.stream ?? defaultStream
    const stream = `KV_${bucket}`
    const kv = yield* KeyValue.make({ bucket, description: "Effect Cluster messages and replies (nats-effect)" })

    const read = (requestId: string) =>
      Effect.map(kv.get(requestKey(requestId)), Option.map((entry) => ({
        revision: entry.revision,
        record: JSON.parse(text(entry.value)) as RequestRecord
      })))

    /**
     * Changes a request by compare-and-set, retried on conflict; `f` returns
     * the new record (or `undefined` to leave it) and a result. Its marker
     * is written before it becomes unprocessed and removed after it is not.
     */
    const modify = <A>(
      requestId: string,
      f: (record: RequestRecord) => readonly [RequestRecord | undefined, A]
    ): Effect.Effect<Option.Option<A>, unknown> =>
      Effect.gen(function*() {
        while (true) {
          const current = yield* read(requestId)
          if (Option.isNone(current)) return Option.none()
          const { record, revision } = current.value
          const [next, result] = f(record)
          if (next === undefined) return Option.some(result)
          const marker = markerKey(record.shard, requestId)
          const closing = hasUnprocessed(record) && !hasUnprocessed(next)
          if (hasUnprocessed(next) && !hasUnprocessed(record)) yield* kv.put(marker, "")
          // The marker as it is before the change: removed after it only if
          // nobody wrote it since (a concurrent change that reopens the request).
          const before = closing ? yield* kv.get(marker) : Option.none()
          const written = yield* kv.update(requestKey(requestId), JSON.stringify(next), revision).pipe(
            Effect.as(true),
            Effect.catchIf(isConflict, () => Effect.succeed(false))
          )
          if (!written) continue
          if (Option.isSome(before)) yield* removeMarker(marker, before.value.revision)
          return Option.some(result)
        }
      })

    const removeMarker = (key: string, revision: number) =>
      kv.delete(key, { revision }).pipe(Effect.catchIf(isConflict, () => Effect.void))

    // A removed marker leaves a delete marker of its own, which every read
    // would list again: removed from the stream, up to its own sequence only
    // (a marker written since stays).
    const dropTombstone = (key: string, revision: number) =>
      Effect.ignore(nats.jetstream.streams.purge(stream, { filter: `$KV.${bucket}.${key}`, seq: revision + 1 }))

    /** The unprocessed markers of `shards`: request ids and revisions. Delete markers seen go. */
    const markers = (shards: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const tokens = new Set(shards.map(token))
        const entries = yield* listAll(kv.history("u.>"))
        yield* Effect.forEach(
          entries.filter((entry) => entry.operation !== "PUT"),
          (entry) => dropTombstone(entry.key, entry.revision),
          { concurrency, discard: true }
        )
        return entries.filter((entry) => entry.operation === "PUT").flatMap((entry) => {
          const [, shard, requestId] = entry.key.split(".")
          return tokens.has(shard!) ? [{ key: entry.key, requestId: requestId!, revision: entry.revision }] : []
        })
      })

    /** The requests with unprocessed messages in `shards`; markers whose request is processed are removed. */
    const unprocessedRequests = (shards: ReadonlyArray<string>) =>
      Effect.flatMap(markers(shards), (found) =>
        Effect.forEach(found, (marker) =>
          Effect.flatMap(read(marker.requestId), (current) => {
            if (Option.isNone(current)) return Effect.succeedNone
            if (hasUnprocessed(current.value.record)) return Effect.succeed(Option.some(current.value.record))
            // A crash after the request was processed and before its marker went.
            return Effect.as(removeMarker(marker.key, marker.revision), Option.none())
          }), { concurrency }).pipe(Effect.map((records) => records.flatMap(Option.toArray))))

    const matches = (addresses: ReadonlyArray<EntityAddress.EntityAddress>) => (record: RequestRecord) => {
      const address = record.request.envelope.address
      return addresses.some((other) =>
        ShardId.toString(other.shardId) === record.shard &&
        other.entityType === address.entityType &&
        other.entityId === address.entityId
      )
    }

    /** Every unprocessed message of the request claimable again. */
    const unclaim = (requestId: string) =>
      modify(requestId, (record) => {
        const reset = (stored: Stored): Stored => stored.processed ? stored : { ...stored, lastRead: null }
        return [{ ...record, request: reset(record.request), envelopes: record.envelopes.map(reset) }, undefined]
      })

    const unclaimAll = (records: ReadonlyArray<RequestRecord>) =>
      Effect.forEach(records, (record) => unclaim(record.request.envelope.requestId), { concurrency, discard: true })

    /** Stores the request under `requestId`, its marker first; false when a request is stored there. */
    const store = (
      requestId: string,
      envelope: Envelope.PartialRequestEncoded,
      primaryKey: string | null,
      deliverAt: number | null
    ) =>
      Effect.gen(function*() {
        const record: RequestRecord = {
          request: { envelope: { ...envelope, requestId }, processed: false, lastRead: null },
          shard: shardOf(envelope.address),
          deliverAt,
          primaryKey,
          envelopes: [],
          replies: [],
          acked: [],
          lastReplyId: null
        }
        yield* kv.put(markerKey(record.shard, requestId), "")
        const created = yield* kv.create(requestKey(requestId), JSON.stringify(record)).pipe(
          Effect.as(true),
          Effect.catchIf(isConflict, () => Effect.succeed(false))
        )
        if (created) yield* kv.put(`${entityPrefix(envelope.address.entityType, envelope.address.entityId)}.${requestId}`, "")
        return created
      })

    const saveRequest = (
      envelope: Envelope.PartialRequestEncoded,
      primaryKey: string | null,
      deliverAt: number | null
    ): Effect.Effect<MessageStorage.SaveResult.Encoded, unknown> =>
      Effect.gen(function*() {
        const duplicateOf = (originalId: string) =>
          Effect.map(read(originalId), (current) =>
            MessageStorage.SaveResultEncoded.Duplicate({
              originalId: Snowflake.Snowflake(originalId),
              lastReceivedReply: Option.flatMap(current, ({ record }) => lastSentReply(record))
            }))
        const pk = primaryKey === null ? null : primaryKeyKey(primaryKey)
        if (pk !== null) {
          const claimed = yield* kv.create(pk, envelope.requestId).pipe(
            Effect.as(true),
            Effect.catchIf(isConflict, () => Effect.succeed(false))
          )
          if (!claimed) {
            const original = yield* kv.get(pk)
            const originalId = Option.isSome(original) ? text(original.value.value) : envelope.requestId
            // The first save stopped after its primary key (its runner died), or is
            // still on its way: this one, the same request, is stored under its id.
            if (Option.isNone(yield* read(originalId))) yield* store(originalId, envelope, pk, deliverAt)
            return yield* duplicateOf(originalId)
          }
        }
        const created = yield* store(envelope.requestId, envelope, pk, deliverAt)
        return created ? MessageStorage.SaveResultEncoded.Success() : yield* duplicateOf(envelope.requestId)
      })

    // An ack or an interrupt, as a message of its request. An ack marks its
    // chunk acked, and the request's earlier acks processed.
    const saveEnvelope = (envelope: Envelope.AckChunkEncoded | Envelope.InterruptEncoded) =>
      modify(envelope.requestId, (record) => {
        if (record.envelopes.some((stored) => idOf(stored) === envelope.id)) return [undefined, undefined]
        const stored: Stored = { envelope, processed: record.request.processed, lastRead: null }
        if (envelope._tag === "Interrupt") return [{ ...record, envelopes: [...record.envelopes, stored] }, undefined]
        return [{
          ...record,
          acked: record.acked.includes(envelope.replyId) ? record.acked : [...record.acked, envelope.replyId],
          envelopes: [
            ...record.envelopes.map((other) =>
              other.envelope._tag === "AckChunk" ? { ...other, processed: true } : other
            ),
            stored
          ]
        }, undefined]
      })

    const saveReply = (reply: Reply.Encoded) =>
      Effect.flatMap(
        modify(reply.requestId, (record): readonly [RequestRecord | undefined, string | undefined] => {
          // The same reply again (a retried save): already there.
          if (record.replies.some((other) => other.id === reply.id)) return [undefined, undefined]
          if (reply._tag === "WithExit" && record.replies.some((other) => other._tag === "WithExit")) {
            return [undefined, `request ${reply.requestId} already has its exit`]
          }
          if (
            reply._tag === "Chunk" &&
            record.replies.some((other) => other._tag === "Chunk" && other.sequence === reply.sequence)
          ) {
            return [undefined, `request ${reply.requestId} already has chunk ${reply.sequence}`]
          }
          const processed = reply._tag === "WithExit"
          const done = (stored: Stored): Stored => processed ? { ...stored, processed, lastRead: null } : stored
          return [{
            ...record,
            request: done(record.request),
            envelopes: record.envelopes.map(done),
            replies: [...record.replies, reply],
            lastReplyId: reply.id
          }, undefined]
        }),
        (refused) => Option.isSome(refused) && refused.value !== undefined ? Effect.fail(refused.value) : Effect.void
      )

    const clearReplies = (requestId: string, expectedReplyId: string | undefined) =>
      modify(requestId, (record) => {
        if (expectedReplyId !== undefined && record.lastReplyId !== expectedReplyId) return [undefined, undefined]
        const reopen = (stored: Stored): Stored => ({ ...stored, processed: false, lastRead: null })
        return [{
          ...record,
          request: reopen(record.request),
          // As SQL storage: the interrupts go and the acks are read again, unless
          // only the request's own exit is replaced (`expectedReplyId`).
          envelopes: expectedReplyId !== undefined
            ? record.envelopes
            : record.envelopes.filter((stored) => stored.envelope._tag !== "Interrupt").map(reopen),
          replies: record.replies.filter((reply) => reply._tag !== "WithExit"),
          lastReplyId: null
        }, undefined]
      })

    const unprocessedMessages = (
      shardIds: ReadonlyArray<string>,
      now: number,
      options?: {
        readonly limit?: number | undefined
        readonly addresses?: ReadonlyArray<EntityAddress.EntityAddress> | undefined
      }
    ) =>
      Effect.gen(function*() {
        if (options?.addresses !== undefined && options.addresses.length === 0) return []
        const found = yield* unprocessedRequests(shardIds)
        const records = options?.addresses === undefined ? found : found.filter(matches(options.addresses))
        const claimable = (record: RequestRecord) => (stored: Stored) =>
          !stored.processed &&
          (stored.lastRead === null || stored.lastRead <= now - claimMillis) &&
          (stored.envelope._tag !== "Request" || record.deliverAt === null || record.deliverAt <= now)
        const candidates = records.flatMap((record) =>
          isWaiting(record)
            ? []
            : [record.request, ...record.envelopes].filter(claimable(record)).map((stored) => ({ stored, record }))
        ).sort((a, b) => byId(a.stored, b.stored)).slice(0, options?.limit ?? Infinity)

        // Claim them, each request's in one write; what changed meanwhile is left for the next read.
        const wanted = new Map<string, Set<string>>()
        for (const { stored } of candidates) {
          const requestId = stored.envelope.requestId
          const ids = wanted.get(requestId) ?? new Set()
          wanted.set(requestId, ids.add(idOf(stored)))
        }
        const claimed = new Map<string, RequestRecord>()
        yield* Effect.forEach(wanted, ([requestId, ids]) =>
          Effect.map(
            modify(requestId, (record) => {
              if (isWaiting(record)) return [undefined, []]
              const taken: Array<string> = []
              const claim = (stored: Stored): Stored => {
                if (!ids.has(idOf(stored)) || !claimable(record)(stored)) return stored
                taken.push(idOf(stored))
                return { ...stored, lastRead: now }
              }
              const next = { ...record, request: claim(record.request), envelopes: record.envelopes.map(claim) }
              return [next, taken.map((id) => [id, next] as const)]
            }),
            (taken) => {
              for (const [id, record] of Option.getOrElse(taken, () => [])) claimed.set(id, record)
            }
          ), { concurrency, discard: true })

        return candidates.flatMap(({ stored }) => {
          const record = claimed.get(idOf(stored))
          if (record === undefined) return []
          return [{
            envelope: stored.envelope,
            lastSentReply: stored.envelope._tag === "Request" ? lastSentReply(record) : Option.none()
          }]
        })
      })

    const unprocessedMessagesById = (requestIds: ReadonlyArray<Snowflake.Snowflake>, now: number) =>
      Effect.forEach(requestIds, (requestId) =>
        Effect.map(read(String(requestId)), (current) => {
          if (Option.isNone(current)) return []
          const { record } = current.value
          if (isWaiting(record) || record.request.processed) return []
          if (record.deliverAt !== null && record.deliverAt > now) return []
          return [{ envelope: record.request.envelope, lastSentReply: lastSentReply(record) }]
        }), { concurrency }).pipe(Effect.map((found) => found.flat()))

    /** A request with its messages and replies gone: `key` is its entry under its entity. */
    const remove = (key: string, record: Option.Option<RequestRecord>) =>
      Effect.gen(function*() {
        const requestId = key.slice(key.lastIndexOf(".") + 1)
        if (Option.isSome(record)) {
          yield* kv.delete(requestKey(requestId))
          yield* kv.delete(markerKey(record.value.shard, requestId))
          if (record.value.primaryKey !== null) yield* kv.delete(record.value.primaryKey)
        }
        yield* kv.delete(key)
      })

    const requestIdOf = (key: string) => key.slice(key.lastIndexOf(".") + 1)

    const clearAddress = (address: EntityAddress.EntityAddress) =>
      Effect.flatMap(listAll(kv.keys(`${entityPrefix(address.entityType, address.entityId)}.*`)), (keys) =>
        Effect.forEach(
          keys,
          (key) => Effect.flatMap(read(requestIdOf(key)), (current) => remove(key, Option.map(current, (c) => c.record))),
          { discard: true }
        ))

    /**
     * Up to `limit` of an entity type's processed requests whose final reply
     * is older than `completedBefore`, removed with their messages and
     * replies. Not atomic (KV has no transactions): a request replied to again
     * meanwhile (its replies cleared, say) is kept by the compare-and-set it
     * would fail, or removed with the rest.
     */
    const deleteProcessed = (options: { readonly entityType: string; readonly completedBefore: number; readonly limit: number }) =>
      Effect.gen(function*() {
        // No Snowflake is at or before this (nor -Infinity and NaN).
        if (!(options.completedBefore > Snowflake.constEpochMillis - 2 ** 41) || options.limit <= 0) return 0
        const cutoff = BigInt(Snowflake.make({
          timestamp: Math.min(Math.ceil(options.completedBefore), Snowflake.constEpochMillis + 2 ** 41),
          machineId: MachineId.make(0),
          sequence: 0
        }))
        const keys = yield* listAll(kv.keys(`a.${token(options.entityType)}.*.*`))
        let deleted = 0
        for (const key of keys) {
          if (deleted >= options.limit) break
          const current = yield* read(requestIdOf(key))
          if (Option.isNone(current)) continue
          const { record } = current.value
          if (!record.request.processed || record.lastReplyId === null || BigInt(record.lastReplyId) >= cutoff) continue
          yield* remove(key, Option.some(record))
          deleted++
        }
        return deleted
      })

    const persistence = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      effect.pipe(ClusterError.PersistenceError.refail, Effect.withTracerEnabled(false))

    const repliesOf = (requestIds: ReadonlyArray<string>, keep: (record: RequestRecord, reply: Reply.Encoded) => boolean) =>
      persistence(Effect.forEach(requestIds, (requestId) =>
        Effect.map(read(requestId), (current) =>
          Option.isNone(current)
            ? []
            : current.value.record.replies.filter((reply) => keep(current.value.record, reply))), { concurrency }).pipe(
          Effect.map((replies) => replies.flat())
        ))

    const encoded: MessageStorage.Encoded = {
      saveEnvelope: ({ deliverAt, envelope, primaryKey }) =>
        persistence(
          envelope._tag === "Request"
            ? saveRequest(envelope, primaryKey, deliverAt)
            : Effect.as(saveEnvelope(envelope), MessageStorage.SaveResultEncoded.Success())
        ),
      saveReply: (reply) => persistence(saveReply(reply)),
      clearReplies: (requestId, options) =>
        persistence(
          clearReplies(
            String(requestId),
            options?.expectedReplyId === undefined ? undefined : String(options.expectedReplyId)
          )
        ),
      requestIdForPrimaryKey: (primaryKey) =>
        persistence(
          Effect.map(kv.get(primaryKeyKey(primaryKey)), Option.map((entry) => Snowflake.Snowflake(text(entry.value))))
        ),
      // Acked chunks are left out: their reader has them.
      repliesFor: (requestIds) =>
        repliesOf(requestIds, (record, reply) => reply._tag === "WithExit" || !record.acked.includes(reply.id)),
      repliesForUnfiltered: (requestIds) => repliesOf(requestIds, () => true),
      unprocessedMessages: (shardIds, now, options) => persistence(unprocessedMessages(shardIds, now, options)),
      unprocessedMessagesById: (requestIds, now) => persistence(unprocessedMessagesById(requestIds, now)),
      resetRequests: (requestIds) =>
        persistence(Effect.forEach(requestIds, (requestId) =>
          modify(String(requestId), (record) =>
            record.request.processed
              ? [undefined, undefined]
              : [{ ...record, request: { ...record.request, lastRead: null } }, undefined]), {
          concurrency,
          discard: true
        })),
      resetAddresses: (addresses) =>
        addresses.length === 0 ? Effect.void : persistence(
          Effect.flatMap(
            unprocessedRequests(addresses.map((address) => ShardId.toString(address.shardId))),
            (records) => unclaimAll(records.filter(matches(addresses)))
          )
        ),
      resetShards: (shardIds) => persistence(Effect.flatMap(unprocessedRequests(shardIds), unclaimAll)),
      clearAddress: (address) => persistence(clearAddress(address)),
      deleteProcessed: (options) => persistence(deleteProcessed(options)),
      withTransaction: (effect) => effect
    }
    return encoded
  })
