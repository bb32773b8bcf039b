import { assert, describe, it } from "@effect/vitest"
import type { NatsClient } from "@nats-effect/core"
import { createHash } from "node:crypto"
import * as Wire from "../src/internal/wire.ts"

const stored = (json: unknown, time = new Date("2030-01-02T03:04:05.000Z")): NatsClient.StoredMsg => ({
  stream: "OBJ_B",
  subject: "$O.B.M.YS50eHQ=",
  seq: 42,
  time,
  data: new TextEncoder().encode(typeof json === "string" ? json : JSON.stringify(json)),
  headers: undefined,
  pending: 0
})

const decode = (json: unknown, time?: Date) => {
  const info = Wire.decodeInfo("B", stored(json, time))
  if (typeof info === "string") throw new Error(info)
  return info
}

const sha = (data: string) => createHash("sha256").update(data).digest()
const helloDigest = "SHA-256=LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="

describe("names", () => {
  it("encodes the UTF-8 bytes as padded base64url, as nats.go and nats.py do", () => {
    assert.strictEqual(Wire.encodeName("a/b.txt"), "YS9iLnR4dA==")
    assert.strictEqual(Wire.encodeName("é"), "w6k=")
    assert.strictEqual(Wire.encodeName("a"), "YQ==")
    assert.strictEqual(Wire.encodeName("???>"), "Pz8_Pg==")
    assert.strictEqual(Wire.encodeName("日本"), "5pel5pys")
    assert.strictEqual(Wire.metaSubject("B", "a/b.txt"), "$O.B.M.YS9iLnR4dA==")
    assert.strictEqual(Wire.chunkSubject("B", "NUID"), "$O.B.C.NUID")
    assert.deepStrictEqual(Wire.streamSubjects("B"), ["$O.B.C.>", "$O.B.M.>"])
  })

  it("accepts bucket names of A-Z a-z 0-9 _ - only", () => {
    for (const ok of ["a", "A_b-9", "OBJ"]) assert.isUndefined(Wire.bucketNameProblem(ok, 4096), ok)
    for (const bad of ["", "a.b", "a b", "a*", "a>", "é", "a/b"]) {
      assert.include(Wire.bucketNameProblem(bad, 4096), "invalid bucket name", bad)
    }
  })

  it("keeps names short enough for the meta's direct get to fit in max_control_line", () => {
    // `$JS.API.DIRECT.GET.OBJ_B.$O.B.M.` is 31 characters; 128 bytes are kept for the rest of the line.
    assert.strictEqual(Wire.maxNameBytes("B", 4096), Math.floor((4096 - 128 - 31) / 4) * 3)
    assert.strictEqual(Wire.maxNameBytes("B", 4096), 2952)
    assert.isUndefined(Wire.objectNameProblem("B", "n".repeat(2952), 4096))
    assert.include(Wire.objectNameProblem("B", "n".repeat(2953), 4096), "2953 bytes")
    // Counted in UTF-8 bytes.
    assert.isUndefined(Wire.objectNameProblem("B", "é".repeat(1476), 4096))
    assert.include(Wire.objectNameProblem("B", "é".repeat(1477), 4096), "2954 bytes")
    assert.include(Wire.objectNameProblem("B", "", 4096), "must not be empty")
    // A bucket name that leaves no room for a name is too long; one that leaves room for one byte is not.
    assert.isUndefined(Wire.bucketNameProblem("b".repeat(1967), 4096))
    assert.include(Wire.bucketNameProblem("b".repeat(1968), 4096), "too long")
    // The server's limit decides.
    assert.isUndefined(Wire.bucketNameProblem("b".repeat(1968), 4096 + 256))
  })
})

describe("digests", () => {
  it("writes SHA-256= and padded base64url", () => {
    assert.strictEqual(Wire.formatDigest(sha("hello")), helloDigest)
    assert.strictEqual(Wire.formatDigest(sha("")), "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=")
  })

  it("reads padded and unpadded base64url, standard base64 and hex", () => {
    const expected = sha("hello")
    const base64 = expected.toString("base64")
    for (
      const digest of [
        helloDigest,
        helloDigest.slice(0, -1),
        `SHA-256=${base64}`,
        `SHA-256=${base64.replace(/=$/, "")}`,
        `SHA-256=${expected.toString("hex")}`,
        `sha-256=${expected.toString("hex").toUpperCase()}`
      ]
    ) {
      const parsed = Wire.parseDigest(digest)
      assert.isDefined(parsed, digest)
      assert.isTrue(Buffer.from(parsed!).equals(expected), digest)
    }
  })

  it("rejects other algorithms and malformed values", () => {
    for (const digest of ["", "SHA-256=", "SHA-256=abc", "MD5=XUFAKrxLKna5cZ2REBfFkg==", helloDigest + "xx", "LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="]) {
      assert.isUndefined(Wire.parseDigest(digest), digest)
    }
  })
})

describe("meta", () => {
  it("reads what nats.go writes (zero mtime: the server's time)", () => {
    const time = new Date("2031-05-06T07:08:09.000Z")
    const info = decode({
      name: "a.txt",
      options: { max_chunk_size: 131072 },
      bucket: "B",
      nuid: "wQhMhJKbjYk5NlY4E0yEhh",
      size: 5,
      mtime: "0001-01-01T00:00:00Z",
      chunks: 1,
      digest: helloDigest
    }, time)
    assert.deepStrictEqual(info, {
      name: "a.txt",
      bucket: "B",
      nuid: "wQhMhJKbjYk5NlY4E0yEhh",
      size: 5,
      chunks: 1,
      digest: helloDigest,
      mtime: time,
      deleted: false,
      revision: 42,
      options: { maxChunkSize: 131072 }
    })
  })

  it("reads what nats.js writes: empty description, deleted false, revision", () => {
    const info = decode({
      bucket: "B",
      nuid: "wQhMhJKbjYk5NlY4E0yEhh",
      size: 5,
      chunks: 1,
      name: "a.txt",
      description: "",
      options: { max_chunk_size: 131072 },
      mtime: "2026-03-04T05:06:07.891Z",
      digest: helloDigest,
      deleted: false,
      revision: 17,
      headers: { "Content-Type": ["text/plain"] },
      metadata: { k: "v" }
    })
    assert.strictEqual(info.description, undefined)
    assert.strictEqual(info.mtime.toISOString(), "2026-03-04T05:06:07.891Z")
    assert.strictEqual(info.revision, 42)
    assert.deepStrictEqual(info.headers, { "Content-Type": ["text/plain"] })
    assert.deepStrictEqual(info.metadata, { k: "v" })
  })

  it("reads what nats.py writes: +00:00 mtimes with microseconds, and an empty mtime on delete", () => {
    const info = decode({
      name: "a.txt",
      bucket: "B",
      nuid: "wQhMhJKbjYk5NlY4E0yEhh",
      size: 5,
      mtime: "2026-03-04T05:06:07.891234+00:00",
      chunks: 1,
      digest: helloDigest,
      deleted: false,
      options: { max_chunk_size: 131072 }
    })
    assert.strictEqual(info.mtime.toISOString(), "2026-03-04T05:06:07.891Z")
    const time = new Date("2031-01-01T00:00:00.000Z")
    const deleted = decode({ name: "a.txt", bucket: "B", nuid: "x", size: 0, mtime: "", chunks: 0, digest: "", deleted: true }, time)
    assert.strictEqual(deleted.deleted, true)
    assert.strictEqual(deleted.mtime, time)
    assert.strictEqual(deleted.digest, "")
  })

  it("reads links: nats.go's, nats.js's without a nuid, and bucket links", () => {
    const go = decode({
      name: "l",
      options: { link: { bucket: "B", name: "a.txt" } },
      bucket: "B",
      nuid: "n",
      size: 0,
      mtime: "0001-01-01T00:00:00Z",
      chunks: 0
    })
    assert.deepStrictEqual(go.options, { link: { bucket: "B", name: "a.txt" } })
    const js = decode({ name: "l", bucket: "Other", options: { link: { bucket: "Other", name: "a.txt" } } })
    assert.strictEqual(js.nuid, "")
    assert.strictEqual(js.bucket, "Other")
    assert.strictEqual(js.size, 0)
    const toBucket = decode({ name: "l", options: { link: { bucket: "Other" }, max_chunk_size: 131072 } })
    assert.deepStrictEqual(toBucket.options, { link: { bucket: "Other" }, maxChunkSize: 131072 })
    assert.strictEqual(toBucket.bucket, "B")
  })

  it("tolerates nulls, string header values and other mtime forms", () => {
    const info = decode({
      name: "n",
      description: null,
      headers: { One: "1", Many: ["1", "2"] },
      metadata: null,
      options: null,
      nuid: "x",
      size: 1,
      chunks: 1,
      mtime: "2026-03-04T05:06:07.123456789Z",
      deleted: null
    })
    assert.deepStrictEqual(info.headers, { One: ["1"], Many: ["1", "2"] })
    assert.strictEqual(info.options, undefined)
    assert.strictEqual(info.deleted, false)
    assert.strictEqual(info.mtime.toISOString(), "2026-03-04T05:06:07.123Z")
    assert.strictEqual(Wire.parseMtime(undefined), undefined)
    assert.strictEqual(Wire.parseMtime("yesterday"), undefined)
    assert.strictEqual(Wire.parseMtime("0001-01-01T00:00:00Z"), undefined)
    assert.strictEqual(Wire.parseMtime("2026-03-04T07:06:07+02:00")?.toISOString(), "2026-03-04T05:06:07.000Z")
  })

  it("says why a meta cannot be read", () => {
    for (const bad of ["{nope", "[]", JSON.stringify({ size: 1 }), JSON.stringify({ name: 1 }), JSON.stringify({ name: "n", size: "big" })]) {
      const result = Wire.decodeInfo("B", stored(bad))
      assert.isString(result, bad)
      assert.include(result as string, "$O.B.M.YS50eHQ=")
    }
  })

  it("writes nats.go's key order and only what is set, and reads it back", () => {
    const info = {
      name: "a.txt",
      description: "d",
      headers: { H: ["1"] },
      options: { maxChunkSize: 1024 },
      bucket: "B",
      nuid: "wQhMhJKbjYk5NlY4E0yEhh",
      size: 5,
      chunks: 1,
      digest: helloDigest,
      mtime: new Date("2026-03-04T05:06:07.891Z"),
      deleted: false
    }
    const json = new TextDecoder().decode(Wire.encodeInfo(info))
    assert.strictEqual(
      json,
      `{"name":"a.txt","description":"d","headers":{"H":["1"]},"options":{"max_chunk_size":1024},"bucket":"B","nuid":"wQhMhJKbjYk5NlY4E0yEhh","size":5,"mtime":"2026-03-04T05:06:07.891Z","chunks":1,"digest":"${helloDigest}"}`
    )
    assert.deepStrictEqual(decode(JSON.parse(json)), { ...info, revision: 42 })
    const link = new TextDecoder().decode(Wire.encodeInfo({
      name: "l",
      options: { link: { bucket: "B", name: "a.txt" } },
      bucket: "B",
      nuid: "n",
      size: 0,
      chunks: 0,
      digest: "",
      mtime: new Date("2026-03-04T05:06:07.891Z"),
      deleted: true
    }))
    assert.strictEqual(
      link,
      `{"name":"l","options":{"link":{"bucket":"B","name":"a.txt"}},"bucket":"B","nuid":"n","size":0,"mtime":"2026-03-04T05:06:07.891Z","chunks":0,"deleted":true}`
    )
  })
})
