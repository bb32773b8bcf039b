/**
 * Interoperability with `@nats-io/obj` 3.4 on a real nats-server: what we
 * write it reads, what it writes we read.
 *
 * nats.js quirks met here (see the wire reference):
 * - its object links carry no nuid, size or digest and no rollup header; we
 *   follow them, nats.go and nats.py do not;
 * - it encodes names with `btoa`, so only ASCII names meet on the same
 *   subject (we encode UTF-8, as nats.go and nats.py do);
 * - its `update` drops `options` (the chunk size, a link) unless given again.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Objm, type ObjectInfo as JsObjectInfo, type ObjectStore as JsObjectStore } from "@nats-io/obj"
import { headers as natsHeaders } from "@nats-io/transport-node"
import { NatsClient } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { NatsServer } from "@nats-effect/testing"
import { unique } from "../src/internal/fixtures.ts"
import { NatsJs, NatsJsLive } from "./interop/natsjs.ts"
import { Effect, Layer, Stream } from "effect"

const KiB = 1024


const pattern = (size: number, seed = 0): Uint8Array => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 29 + seed * 11 + (i >> 9)) & 0xff
  return out
}

const equalBytes = (actual: Uint8Array | null, expected: Uint8Array, what: string) => {
  assert.isNotNull(actual, what)
  assert.isTrue(Buffer.from(actual!).equals(Buffer.from(expected)), `${what}: ${actual!.length} bytes differ`)
}

/** The same bucket opened by both clients; created by `creator`. */
const bothSides = (creator: "ours" | "nats.js", options: { chunkSize?: number } = {}) =>
  Effect.gen(function*() {
    const bucket = unique("interop")
    const nc = yield* NatsJs
    const objm = new Objm(nc)
    if (creator === "nats.js") {
      const js = yield* Effect.promise(() => objm.create(bucket))
      const ours = yield* ObjectStore.make({ bucket, ...options })
      return { ours, js }
    }
    const ours = yield* ObjectStore.make({ bucket, ...options })
    const js = yield* Effect.promise(() => objm.open(bucket))
    return { ours, js }
  })

const sizesFor = (chunk: number) => [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk + 7]

/** The info fields both clients have, as nats.js shows them. */
const jsView = (info: ObjectStore.ObjectInfo) => ({
  name: info.name,
  bucket: info.bucket,
  nuid: info.nuid,
  size: info.size,
  chunks: info.chunks,
  digest: info.digest,
  mtime: info.mtime.toISOString(),
  deleted: info.deleted,
  revision: info.revision,
  max_chunk_size: info.options?.maxChunkSize
})

const fromJs = (info: JsObjectInfo) => ({
  name: info.name,
  bucket: info.bucket,
  nuid: info.nuid,
  size: info.size,
  chunks: info.chunks,
  digest: info.digest,
  mtime: info.mtime,
  deleted: info.deleted,
  revision: info.revision,
  max_chunk_size: info.options?.max_chunk_size
})

const jsInfo = (js: JsObjectStore, name: string) => Effect.promise(() => js.info(name))
const jsBytes = (js: JsObjectStore, name: string) => Effect.promise(() => js.getBlob(name))

for (const server of NatsServer.matrix()) describe(`interop with @nats-io/obj 3.4 (nats-server ${server.version})`, () => {
  layer(
    NatsJsLive.pipe(Layer.provideMerge(NatsServer.layerClient({ bin: server.bin }))),
    { excludeTestServices: true, timeout: "120 seconds" }
  )((it) => {
    it.effect("what we put, nats.js gets with the same info, at every size", () =>
      Effect.gen(function*() {
        for (const chunk of [KiB, 128 * KiB]) {
          const { js, ours } = yield* bothSides("ours", { chunkSize: chunk })
          for (const size of sizesFor(chunk)) {
            const name = `ours/size ${size}.bin`
            const data = pattern(size, size)
            // Cut unevenly, so the chunks come from the re-chunker.
            const info = yield* ours.put(name, Stream.fromIterable([data.subarray(0, 100), data.subarray(100)]))
            const theirs = yield* jsInfo(js, name)
            assert.isNotNull(theirs)
            assert.deepStrictEqual(fromJs(theirs!), jsView(info), name)
            // getBlob checks the digest and rejects on a mismatch.
            equalBytes(yield* jsBytes(js, name), data, name)
          }
        }
      }))

    it.effect("what nats.js puts, we get with the same info, at every size", () =>
      Effect.gen(function*() {
        const { js, ours } = yield* bothSides("nats.js")
        for (const chunk of [KiB, 128 * KiB]) {
          for (const size of sizesFor(chunk)) {
            const name = `theirs/${chunk}/size ${size}.bin`
            const data = pattern(size, size + 1)
            yield* Effect.promise(() => js.putBlob({ name, options: { max_chunk_size: chunk } }, data))
            const theirs = (yield* jsInfo(js, name))!
            const info = yield* ours.info(name)
            assert.deepStrictEqual(jsView(info), fromJs(theirs), name)
            equalBytes(yield* ours.getBytes(name), data, name)
          }
        }
      }))

    it.effect("descriptions, headers and metadata cross both ways", () =>
      Effect.gen(function*() {
        const { js, ours } = yield* bothSides("ours")
        yield* ours.putBytes({
          name: "described",
          description: "ours",
          headers: { "Content-Type": "text/plain", "X-Many": ["1", "2"] },
          metadata: { owner: "us" }
        }, "x")
        const theirs = (yield* jsInfo(js, "described"))!
        assert.strictEqual(theirs.description, "ours")
        assert.strictEqual(theirs.headers?.get("Content-Type"), "text/plain")
        assert.deepStrictEqual(theirs.headers?.values("X-Many"), ["1", "2"])
        assert.deepStrictEqual(theirs.metadata, { owner: "us" })

        const h = natsHeaders()
        h.append("X-From", "js")
        yield* Effect.promise(() =>
          js.putBlob({ name: "js-described", description: "theirs", headers: h, metadata: { owner: "them" } }, new Uint8Array([1]))
        )
        const info = yield* ours.info("js-described")
        assert.strictEqual(info.description, "theirs")
        assert.deepStrictEqual(info.headers, { "X-From": ["js"] })
        assert.deepStrictEqual(info.metadata, { owner: "them" })
      }))

    it.effect("deletions, replacements and lists agree", () =>
      Effect.gen(function*() {
        const { js, ours } = yield* bothSides("nats.js", { chunkSize: KiB })
        yield* ours.putBytes("a", pattern(3 * KiB))
        yield* Effect.promise(() => js.putBlob({ name: "b" }, pattern(10)))
        yield* ours.putBytes("c", "c")
        // Each deletes one the other wrote.
        yield* Effect.promise(() => js.delete("a"))
        yield* ours.delete("b")
        assert.strictEqual(
          yield* Effect.map(Effect.flip(ours.info("a")), (e) => e.reason._tag),
          "ObjectNotFound"
        )
        assert.isTrue((yield* jsInfo(js, "b"))!.deleted)
        assert.isNull(yield* Effect.promise(() => js.get("b")))
        const theirList = (yield* Effect.promise(() => js.list())).map((info) => info.name).sort()
        const ourList = (yield* ours.list()).map((info) => info.name).sort()
        assert.deepStrictEqual(theirList, ["c"])
        assert.deepStrictEqual(ourList, ["c"])
        // A replacement by nats.js; we read the new content.
        yield* Effect.promise(() => js.putBlob({ name: "c" }, pattern(5, 5)))
        equalBytes(yield* ours.getBytes("c"), pattern(5, 5), "replaced by nats.js")
        // A replacement by us; nats.js reads the new content.
        yield* ours.putBytes("c", pattern(7, 7))
        equalBytes(yield* jsBytes(js, "c"), pattern(7, 7), "replaced by us")
      }))

    it.effect("links both ways", () =>
      Effect.gen(function*() {
        const { js, ours } = yield* bothSides("ours")
        const other = yield* bothSides("ours")
        const data = pattern(2000)
        yield* ours.putBytes("target", data)

        // Our object links (written the nats.go way), followed by nats.js.
        yield* ours.link("our-link", "target")
        equalBytes(yield* jsBytes(js, "our-link"), data, "our link")
        yield* other.ours.putBytes("remote", pattern(10, 1))
        yield* ours.link("our-remote-link", yield* other.ours.info("remote"))
        equalBytes(yield* jsBytes(js, "our-remote-link"), pattern(10, 1), "our cross-bucket link")

        // nats.js's object links (no nuid), followed by us.
        const target = (yield* jsInfo(js, "target"))!
        yield* Effect.promise(() => js.link("js-link", target))
        const jsLink = yield* ours.info("js-link")
        assert.strictEqual(jsLink.nuid, "")
        assert.deepStrictEqual(jsLink.options?.link, { bucket: ours.bucket, name: "target" })
        equalBytes(yield* ours.getBytes("js-link"), data, "nats.js link")
        const remote = (yield* jsInfo(other.js, "remote"))!
        yield* Effect.promise(() => js.link("js-remote-link", remote))
        equalBytes(yield* ours.getBytes("js-remote-link"), pattern(10, 1), "nats.js cross-bucket link")

        // Bucket links: neither side gets content through them.
        yield* ours.linkBucket("our-bucket-link", other.ours.bucket)
        const jsError = yield* Effect.promise(() => js.get("our-bucket-link").then(() => "no error", (e: Error) => e.message))
        assert.strictEqual(jsError, "link is a bucket")
        yield* Effect.promise(() => js.linkStore("js-bucket-link", other.js))
        const bucketLink = yield* ours.info("js-bucket-link")
        assert.deepStrictEqual(bucketLink.options?.link, { bucket: other.ours.bucket })
        assert.strictEqual(
          yield* Effect.map(Effect.flip(ours.getBytes("js-bucket-link")), (e) => e.reason._tag),
          "LinkIsBucket"
        )
      }))

    it.effect("renames by updateMeta are seen by nats.js, and the other way", () =>
      Effect.gen(function*() {
        const { js, ours } = yield* bothSides("ours", { chunkSize: KiB })
        const data = pattern(3000)
        yield* ours.putBytes("before", data)
        yield* ours.updateMeta("before", { name: "after", description: "renamed" })
        assert.isNull(yield* jsInfo(js, "before"))
        const renamed = (yield* jsInfo(js, "after"))!
        assert.strictEqual(renamed.description, "renamed")
        assert.strictEqual(renamed.options?.max_chunk_size, KiB)
        equalBytes(yield* jsBytes(js, "after"), data, "renamed by us")

        yield* Effect.promise(() => js.update("after", { name: "again" }))
        assert.strictEqual(yield* Effect.map(Effect.flip(ours.info("after")), (e) => e.reason._tag), "ObjectNotFound")
        equalBytes(yield* ours.getBytes("again"), data, "renamed by nats.js")
      }))

    it.effect("a bucket made by either client opens in the other", () =>
      Effect.gen(function*() {
        const nats = yield* NatsClient.NatsClient
        const theirs = yield* bothSides("nats.js")
        const ours = yield* bothSides("ours")
        const [theirConfig, ourConfig] = yield* Effect.all([
          nats.jetstream.streams.info(`OBJ_${theirs.ours.bucket}`),
          nats.jetstream.streams.info(`OBJ_${ours.ours.bucket}`)
        ])
        const comparable = (config: NatsClient.StreamConfigResolved) => ({
          subjects: config.subjects.map((s) => s.replace(/OBJ_|\$O\.[^.]+\./, "")),
          allowRollup: config.allowRollup,
          allowDirect: config.allowDirect,
          discard: config.discard,
          maxBytes: config.maxBytes,
          storage: config.storage,
          replicas: config.replicas,
          retention: config.retention
        })
        assert.deepStrictEqual(comparable(ourConfig.config), comparable(theirConfig.config))
        const status = yield* Effect.promise(() => ours.js.status())
        assert.strictEqual(status.bucket, ours.ours.bucket)
      }))
  })
})
