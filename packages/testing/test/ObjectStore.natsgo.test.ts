/**
 * Interoperability with nats.go, the reference client (v1.56.0, its
 * `jetstream` package, as go/go.mod requires), on a real nats-server: what
 * we write nats.go reads, what it writes we read, with the same info. nats.go
 * runs as go/cmd/objtool, a process per operation. Without Go to build it,
 * each suite is one test skipped with the reason.
 *
 * nats.go behaviours met here (see the wire reference):
 * - its `mtime` is when the server stored the meta message: it ignores the
 *   `mtime` stored (and stores the zero time), so for our objects it reports
 *   a few milliseconds after the `mtime` we stored and report; for its own
 *   objects we report the server's time too;
 * - its List fails with "no objects found" when no object is left (ours
 *   returns none);
 * - its Delete of a deleted object succeeds, writing the marker again (ours
 *   fails with ObjectNotFound, as our info does);
 * - its AddLink refuses a name held by a deleted object (ADR-20 allows a link
 *   there, and so do we);
 * - its Get of a link returns the info of the object linked to;
 * - its bucket status shows the metadata keys the server adds for itself
 *   (`_nats.*`, nats-server 2.11 and later); ours leaves them out.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { ObjectStore, type ObjectStoreError } from "@nats-effect/object-store"
import { NatsServer } from "@nats-effect/testing"
import { Duration, Effect, Layer, Option, Stream } from "effect"
import { unique } from "../src/internal/fixtures.ts"
import {
  findGo,
  type GoBucket,
  type GoObjectInfo,
  type GoStatus,
  NatsGo,
  type NatsGoError,
  NatsGoLive,
  noGo
} from "./interop/natsgo.ts"

const KiB = 1024

const pattern = (size: number, seed = 0): Uint8Array => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >> 10)) & 0xff
  return out
}

const equalBytes = (actual: Uint8Array, expected: Uint8Array, what: string) =>
  assert.isTrue(
    Buffer.from(actual).equals(Buffer.from(expected)),
    `${what}: ${actual.length} bytes, not the ${expected.length} put`
  )

const sizesFor = (chunk: number) => [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk + 7]

/** The info fields both clients have, as we show them (the revision and mtime are compared apart). */
const ourView = (info: ObjectStore.ObjectInfo) => ({
  name: info.name,
  description: info.description ?? "",
  headers: info.headers ?? {},
  metadata: info.metadata ?? {},
  link: info.options?.link,
  maxChunkSize: info.options?.maxChunkSize,
  bucket: info.bucket,
  nuid: info.nuid,
  size: info.size,
  chunks: info.chunks,
  digest: info.digest,
  deleted: info.deleted
})

/** The same fields as nats.go shows them. */
const goView = (info: GoObjectInfo) => ({
  name: info.name,
  description: info.description ?? "",
  headers: info.headers ?? {},
  metadata: info.metadata ?? {},
  link: info.options?.link,
  maxChunkSize: info.options?.max_chunk_size,
  bucket: info.bucket,
  nuid: info.nuid,
  size: info.size,
  chunks: info.chunks,
  digest: info.digest ?? "",
  deleted: info.deleted ?? false
})

/** Padded base64url of the name's UTF-8 bytes, as both clients encode meta subjects. */
const encodeName = (name: string) =>
  Buffer.from(name, "utf8").toString("base64").replace(/\+/g, "-").replace(/\//g, "_")

const lastMessage = (bucket: string, subject: string) =>
  Effect.flatMap(NatsClient.NatsClient, (nats) => nats.jetstream.getMessage(`OBJ_${bucket}`, { lastBySubject: subject }))

/** When the server stored the meta of `name`: what nats.go reports as its mtime. */
const storedAt = (bucket: string, name: string) =>
  Effect.map(
    lastMessage(bucket, `$O.${bucket}.M.${encodeName(name)}`),
    (msg) => Option.getOrThrow(msg).time.getTime()
  )

/** Whether any chunk of `nuid` is left in the bucket. */
const chunksLeft = (bucket: string, nuid: string) =>
  Effect.map(lastMessage(bucket, `$O.${bucket}.C.${nuid}`), Option.isSome)

/** A bucket's status as we show it, `ttl` in milliseconds. */
const ourStatusView = (status: ObjectStore.BucketStatus): Record<string, unknown> => ({
  bucket: status.bucket,
  description: status.description ?? "",
  ttl: Duration.toMillis(status.ttl),
  storage: status.storage,
  replicas: status.replicas,
  sealed: status.sealed,
  size: status.size,
  backingStore: status.backingStore,
  metadata: status.metadata ?? {},
  compressed: status.compressed
})

/** The same as nats.go shows it, less the metadata keys the server adds for itself (we leave them out). */
const goStatusView = (status: GoStatus): Record<string, unknown> => ({
  ...status,
  ttl: status.ttl / 1e6,
  metadata: Object.fromEntries(Object.entries(status.metadata ?? {}).filter(([key]) => !key.startsWith("_nats.")))
})

const ourReason = <A>(effect: Effect.Effect<A, ObjectStoreError.ObjectStoreError>) =>
  Effect.map(Effect.flip(effect), (error) => error.reason._tag)

const goError = <A>(effect: Effect.Effect<A, NatsGoError>) => Effect.flip(effect)

/** The same bucket opened by both clients; created by `creator`. */
const bothSides = (creator: "ours" | "nats.go", options: { readonly chunkSize?: number } = {}) =>
  Effect.gen(function*() {
    const natsGo = yield* NatsGo
    const bucket = unique("natsgo")
    const go: GoBucket = creator === "nats.go" ? yield* natsGo.create(bucket) : natsGo.bucket(bucket)
    const ours = yield* ObjectStore.make({ bucket, ...options })
    return { ours, go }
  })

const goFound = (await findGo()) !== undefined

for (const server of NatsServer.matrix()) {
  describe(`interop with nats.go (nats-server ${server.version})`, () => {
    if (goFound) suite(server.bin)
    else it("needs Go to build nats.go", (ctx) => ctx.skip(noGo))
  })
}

function suite(bin: string) {
  layer(
    NatsGoLive.pipe(Layer.provideMerge(NatsServer.layerClient({ bin }))),
    // The first build of nats.go in a process may have to fetch and compile it.
    { excludeTestServices: true, timeout: "5 minutes" }
  )((it) => {
    it.effect("what we put, nats.go gets with the same info, at every size", () =>
      Effect.gen(function*() {
        for (const chunk of [KiB, 128 * KiB]) {
          const { go, ours } = yield* bothSides("ours", { chunkSize: chunk })
          for (const size of sizesFor(chunk)) {
            const name = `ours/${chunk}/size ${size}.bin`
            const data = pattern(size, size)
            // Cut unevenly, so the chunks come from the re-chunker.
            const info = yield* ours.put(name, Stream.fromIterable([data.subarray(0, 100), data.subarray(100)]))
            assert.strictEqual(info.chunks, Math.ceil(size / chunk), name)
            const theirs = yield* go.info(name)
            assert.deepStrictEqual(goView(theirs), ourView(info), name)
            assert.strictEqual(theirs.revision, info.revision, name)
            assert.strictEqual(Date.parse(theirs.mtime), yield* storedAt(ours.bucket, name), name)
            // Read to the end: nats.go checks the digest there.
            const got = yield* go.get(name)
            equalBytes(got.data, data, name)
            assert.deepStrictEqual(goView(got.info), ourView(info), name)
          }
        }
      }), { timeout: 120_000 })

    it.effect("what nats.go puts, we get with the same info, at every size", () =>
      Effect.gen(function*() {
        const { go, ours } = yield* bothSides("nats.go")
        for (const chunk of [KiB, 128 * KiB]) {
          for (const size of sizesFor(chunk)) {
            const name = `theirs/${chunk}/size ${size}.bin`
            const data = pattern(size, size + 1)
            // 128 KiB is nats.go's default: left to it.
            const put = yield* go.put(name, data, chunk === 128 * KiB ? {} : { chunkSize: chunk })
            assert.strictEqual(put.chunks, Math.ceil(size / chunk), name)
            assert.strictEqual(put.options?.max_chunk_size, chunk, name)
            const theirs = yield* go.info(name)
            assert.deepStrictEqual(goView(theirs), goView(put), name)
            const info = yield* ours.info(name)
            assert.deepStrictEqual(ourView(info), goView(theirs), name)
            assert.strictEqual(info.revision, theirs.revision, name)
            assert.strictEqual(info.mtime.getTime(), Date.parse(theirs.mtime), name)
            // getBytes checks size, chunk count and digest.
            equalBytes(yield* ours.getBytes(name), data, name)
          }
        }
      }), { timeout: 120_000 })

    it.effect("chunks nats.go cuts where its reads end, smaller than its chunk size, are read in full", () =>
      Effect.gen(function*() {
        const { go, ours } = yield* bothSides("nats.go")
        for (const [size, readSize] of [[3 * KiB + 7, 700], [300 * KiB + 1, 100 * KiB]] as const) {
          const name = `short reads/${size}`
          const data = pattern(size, 3)
          const put = yield* go.put(name, data, { chunkSize: KiB * (readSize < KiB ? 1 : 128), readSize })
          assert.strictEqual(put.chunks, Math.ceil(size / readSize), name)
          const info = yield* ours.info(name)
          assert.deepStrictEqual(ourView(info), goView(put), name)
          equalBytes(yield* ours.getBytes(name), data, name)
          // Stream it as a reader would, piece by piece.
          const pieces = yield* Stream.runCollect(ours.get(name))
          equalBytes(Buffer.concat(pieces), data, `${name}, streamed`)
        }
      }))

    it.effect("descriptions, headers and metadata cross both ways", () =>
      Effect.gen(function*() {
        const { go, ours } = yield* bothSides("ours")
        const ourMeta = {
          description: "ours",
          headers: { "Content-Type": ["text/plain"], "X-Many": ["1", "2"] },
          metadata: { owner: "us", "with space": "a=b" }
        }
        const info = yield* ours.putBytes({ name: "described", ...ourMeta }, "x")
        const theirs = yield* go.info("described")
        assert.deepStrictEqual(goView(theirs), ourView(info))
        assert.deepStrictEqual(
          { description: theirs.description, headers: theirs.headers, metadata: theirs.metadata },
          ourMeta
        )

        const goMeta = { description: "theirs", headers: { "X-From": ["go"] }, metadata: { owner: "them" } }
        yield* go.put("go-described", pattern(3), goMeta)
        const read = yield* ours.info("go-described")
        assert.deepStrictEqual({ description: read.description, headers: read.headers, metadata: read.metadata }, goMeta)
      }))

    it.effect("names beyond ASCII, and those base64url writes with - and _, meet on the same subject", () =>
      Effect.gen(function*() {
        const { go, ours } = yield* bothSides("ours")
        yield* ours.putBytes("naïve/日本語 ✓.txt", "ours")
        equalBytes((yield* go.get("naïve/日本語 ✓.txt")).data, Buffer.from("ours"), "our UTF-8 name")
        yield* go.put("Ωmega/é.bin", Buffer.from("theirs"))
        equalBytes(yield* ours.getBytes("Ωmega/é.bin"), Buffer.from("theirs"), "nats.go's UTF-8 name")
        // Standard base64 would write + and / here.
        yield* ours.putBytes("~~~???>>>", "ours")
        equalBytes((yield* go.get("~~~???>>>")).data, Buffer.from("ours"), "our name with - and _")
        yield* go.put("???>>>~~~", Buffer.from("theirs"))
        equalBytes(yield* ours.getBytes("???>>>~~~"), Buffer.from("theirs"), "nats.go's name with - and _")
        assert.deepStrictEqual(
          (yield* ours.list()).map((info) => info.name).sort(),
          (yield* go.list()).map((info) => info.name).sort()
        )
      }))

    it.effect("renames by updateMeta are seen by the other side", () =>
      Effect.gen(function*() {
        const { go, ours } = yield* bothSides("ours", { chunkSize: KiB })
        const data = pattern(3000)
        const put = yield* ours.putBytes("before", data)
        yield* ours.updateMeta("before", { name: "after", description: "renamed" })
        assert.strictEqual((yield* goError(go.info("before"))).name, "ObjectNotFound")
        const renamed = yield* go.info("after")
        assert.deepStrictEqual(goView(renamed), { ...ourView(put), name: "after", description: "renamed" })
        equalBytes((yield* go.get("after")).data, data, "renamed by us")

        yield* go.updateMeta("after", { name: "again", description: "again" })
        assert.strictEqual(yield* ourReason(ours.info("after")), "ObjectNotFound")
        const again = yield* ours.info("again")
        assert.deepStrictEqual(ourView(again), { ...ourView(put), name: "again", description: "again" })
        equalBytes(yield* ours.getBytes("again"), data, "renamed by nats.go")
      }))

    it.effect("links made by either side are followed by the other", () =>
      Effect.gen(function*() {
        const { go, ours } = yield* bothSides("ours")
        const other = yield* bothSides("nats.go")
        const data = pattern(2000)
        const target = yield* ours.putBytes("target", data)
        const remoteData = pattern(10, 1)
        const remote = yield* other.ours.putBytes("remote", remoteData)

        // Our object links, followed by nats.go, which reports what it read.
        const ourLink = yield* ours.link("our-link", "target")
        const seen = yield* go.info("our-link")
        assert.deepStrictEqual(goView(seen), ourView(ourLink))
        assert.deepStrictEqual(seen.options?.link, { bucket: ours.bucket, name: "target" })
        const followed = yield* go.get("our-link")
        equalBytes(followed.data, data, "our link")
        assert.deepStrictEqual(goView(followed.info), ourView(target))
        yield* ours.link("our-remote-link", remote)
        const followedRemote = yield* go.get("our-remote-link")
        equalBytes(followedRemote.data, remoteData, "our link to another bucket")
        assert.deepStrictEqual(goView(followedRemote.info), ourView(remote))

        // nats.go's object links, followed by us.
        const goLink = yield* go.link("go-link", { name: "target" })
        const read = yield* ours.info("go-link")
        assert.deepStrictEqual(ourView(read), goView(goLink))
        assert.deepStrictEqual(read.options?.link, { bucket: ours.bucket, name: "target" })
        equalBytes(yield* ours.getBytes("go-link"), data, "nats.go's link")
        yield* go.link("go-remote-link", { name: "remote", bucket: other.ours.bucket })
        equalBytes(yield* ours.getBytes("go-remote-link"), remoteData, "nats.go's link to another bucket")

        // Bucket links: neither side gets content through them.
        yield* ours.linkBucket("our-bucket-link", other.ours.bucket)
        assert.deepStrictEqual((yield* go.info("our-bucket-link")).options?.link, { bucket: other.ours.bucket })
        assert.strictEqual((yield* goError(go.get("our-bucket-link"))).name, "CantGetBucket")
        yield* go.linkBucket("go-bucket-link", other.ours.bucket)
        assert.deepStrictEqual((yield* ours.info("go-bucket-link")).options?.link, { bucket: other.ours.bucket })
        assert.strictEqual(yield* ourReason(ours.getBytes("go-bucket-link")), "LinkIsBucket")

        // A link deleted by either side goes; what it pointed to stays.
        yield* go.delete("our-link")
        assert.strictEqual(yield* ourReason(ours.info("our-link")), "ObjectNotFound")
        yield* ours.delete("go-link")
        assert.strictEqual((yield* goError(go.info("go-link"))).name, "ObjectNotFound")
        equalBytes((yield* go.get("target")).data, data, "the target of deleted links")

        // Over a deleted object: nats.go does not link, we do, and nats.go follows our link.
        yield* ours.putBytes("was-here", "gone")
        yield* ours.delete("was-here")
        assert.strictEqual((yield* goError(go.link("was-here", { name: "target" }))).name, "ObjectAlreadyExists")
        yield* ours.link("was-here", "target")
        equalBytes((yield* go.get("was-here")).data, data, "our link over a deleted object")
        assert.deepStrictEqual(
          (yield* ours.list()).map((info) => info.name).sort(),
          (yield* go.list()).map((info) => info.name).sort()
        )
      }))

    it.effect("an object deleted by either side is gone for the other, and can be put again", () =>
      Effect.gen(function*() {
        const { go, ours } = yield* bothSides("nats.go", { chunkSize: KiB })
        const a = yield* ours.putBytes("a", pattern(3 * KiB + 5))
        const b = yield* go.put("b", pattern(3 * KiB + 5, 1), { chunkSize: KiB })
        yield* ours.putBytes("c", "c")

        yield* go.delete("a")
        yield* ours.delete("b")
        assert.strictEqual(yield* ourReason(ours.info("a")), "ObjectNotFound")
        assert.strictEqual(yield* ourReason(ours.getBytes("a")), "ObjectNotFound")
        assert.strictEqual((yield* goError(go.info("b"))).name, "ObjectNotFound")
        assert.strictEqual((yield* goError(go.get("b"))).name, "ObjectNotFound")
        // Both mark the meta the same way, keep the nuid and remove the chunks.
        for (const [name, nuid] of [["a", a.nuid], ["b", b.nuid]] as const) {
          const marker = yield* go.info(name, { showDeleted: true })
          assert.deepStrictEqual(
            [marker.deleted, marker.size, marker.chunks, marker.digest, marker.nuid],
            [true, 0, 0, undefined, nuid],
            name
          )
          assert.isFalse(yield* chunksLeft(ours.bucket, nuid), name)
        }
        // Deleting again: nats.go writes the marker again, we say it is not found.
        yield* go.delete("b")
        assert.strictEqual(yield* ourReason(ours.delete("a")), "ObjectNotFound")
        assert.deepStrictEqual((yield* ours.list()).map((info) => info.name), ["c"])
        assert.deepStrictEqual((yield* go.list()).map((info) => info.name), ["c"])
        assert.deepStrictEqual(
          (yield* go.list({ showDeleted: true })).map((info) => [info.name, info.deleted ?? false]).sort(),
          [["a", true], ["b", true], ["c", false]]
        )

        // Put again, by the side that did not delete it.
        yield* go.put("a", pattern(5, 5))
        equalBytes(yield* ours.getBytes("a"), pattern(5, 5), "put again by nats.go")
        yield* ours.putBytes("b", pattern(7, 7))
        equalBytes((yield* go.get("b")).data, pattern(7, 7), "put again by us")

        // With nothing left, nats.go's list is an error and ours is empty.
        for (const name of ["a", "b", "c"]) yield* ours.delete(name)
        assert.strictEqual((yield* goError(go.list())).name, "NoObjectsFound")
        assert.deepStrictEqual(yield* ours.list(), [])
      }))

    it.effect("a replacement by either side removes the replaced chunks, and sweep finds nothing left", () =>
      Effect.gen(function*() {
        const { go, ours } = yield* bothSides("ours", { chunkSize: KiB })
        const first = yield* ours.putBytes("x", pattern(2 * KiB))
        const second = yield* go.put("x", pattern(3 * KiB, 2), { chunkSize: KiB })
        assert.isFalse(yield* chunksLeft(ours.bucket, first.nuid))
        equalBytes(yield* ours.getBytes("x"), pattern(3 * KiB, 2), "replaced by nats.go")
        const third = yield* ours.putBytes("x", pattern(KiB + 1, 3))
        assert.isFalse(yield* chunksLeft(ours.bucket, second.nuid))
        assert.isTrue(yield* chunksLeft(ours.bucket, third.nuid))
        equalBytes((yield* go.get("x")).data, pattern(KiB + 1, 3), "replaced by us")
        // nats.go's metas (a deletion and a link among them) keep their objects' chunks from our sweep.
        yield* go.put("y", pattern(2 * KiB, 4), { chunkSize: KiB })
        yield* go.put("deleted", pattern(2 * KiB, 5), { chunkSize: KiB })
        yield* go.delete("deleted")
        yield* go.link("link", { name: "y" })
        assert.deepStrictEqual(yield* ours.sweep({ olderThan: 0 }), { chunks: 0, bytes: 0, nuids: [] })
        equalBytes((yield* go.get("link")).data, pattern(2 * KiB, 4), "nats.go's object after our sweep")
        equalBytes((yield* go.get("x")).data, pattern(KiB + 1, 3), "our object after our sweep")
      }))

    it.effect("a bucket sealed by either side is sealed for the other, and refuses writes", () =>
      Effect.gen(function*() {
        const sealedStream = 10109
        const byUs = yield* bothSides("ours")
        yield* byUs.ours.putBytes("kept", "kept")
        const sealedByUs = yield* byUs.ours.seal()
        assert.deepStrictEqual(goStatusView(yield* byUs.go.status), ourStatusView(sealedByUs))
        assert.isTrue(sealedByUs.sealed)
        assert.strictEqual((yield* goError(byUs.go.put("new", pattern(10)))).apiCode, sealedStream)
        assert.strictEqual((yield* goError(byUs.go.delete("kept"))).apiCode, sealedStream)
        equalBytes((yield* byUs.go.get("kept")).data, Buffer.from("kept"), "read from a bucket we sealed")

        const byGo = yield* bothSides("nats.go")
        yield* byGo.go.put("kept", Buffer.from("kept"))
        const sealedByGo = yield* byGo.go.seal
        assert.deepStrictEqual(ourStatusView(yield* byGo.ours.status()), goStatusView(sealedByGo))
        assert.isTrue(sealedByGo.sealed)
        assert.strictEqual(yield* ourReason(byGo.ours.putBytes("new", "new")), "BucketSealed")
        assert.strictEqual(yield* ourReason(byGo.ours.delete("kept")), "BucketSealed")
        equalBytes(yield* byGo.ours.getBytes("kept"), Buffer.from("kept"), "read from a bucket nats.go sealed")
      }))

    it.effect("a bucket made by either client has the same configuration and status for both", () =>
      Effect.gen(function*() {
        const nats = yield* NatsClient.NatsClient
        const natsGo = yield* NatsGo
        // Bucket metadata and compression need nats-server 2.10.
        const modern = NatsClient.serverAtLeast(nats.server, 2, 10)
        const metadata = modern ? { owner: "interop" } : undefined
        const goBucket = unique("natsgo")
        const go = yield* natsGo.create(goBucket, {
          description: "made by nats.go",
          ttl: "1h",
          storage: "memory",
          compression: modern,
          ...(metadata === undefined ? {} : { metadata })
        })
        const oursOnGo = yield* ObjectStore.make({ bucket: goBucket })
        const ours = yield* ObjectStore.make({
          bucket: unique("natsgo"),
          description: "made by us",
          ttl: "1 hour",
          storage: "memory",
          compression: modern,
          metadata
        })
        const goOnOurs = natsGo.bucket(ours.bucket)
        yield* oursOnGo.putBytes("one", pattern(100))
        yield* goOnOurs.put("one", pattern(100))

        for (const [mine, theirs] of [[oursOnGo, go], [ours, goOnOurs]] as const) {
          const status = yield* theirs.status
          assert.deepStrictEqual(ourStatusView(yield* mine.status()), goStatusView(status))
          assert.strictEqual(status.compressed, modern)
          if (metadata !== undefined) assert.strictEqual(status.metadata?.owner, metadata.owner)
        }

        // The streams differ only by their names.
        const comparable = (config: NatsClient.StreamConfigResolved) => ({
          subjects: config.subjects.map((subject) => subject.replace(/^\$O\.[^.]+\./, "")),
          allowRollup: config.allowRollup,
          allowDirect: config.allowDirect,
          discard: config.discard,
          maxBytes: config.maxBytes,
          maxAge: Duration.toMillis(config.maxAge),
          storage: config.storage,
          replicas: config.replicas,
          retention: config.retention,
          compression: config.compression
        })
        const [theirConfig, ourConfig] = yield* Effect.all([
          nats.jetstream.streams.info(`OBJ_${goBucket}`),
          nats.jetstream.streams.info(`OBJ_${ours.bucket}`)
        ])
        assert.deepStrictEqual(comparable(ourConfig.config), comparable(theirConfig.config))

        const listed = yield* natsGo.buckets
        assert.includeMembers([...listed], [goBucket, ours.bucket])
      }))
  })
}
