import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { Rechunker } from "../src/internal/rechunk.ts"

const bytes = (size: number, seed: number) => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 13 + seed) & 0xff
  return out
}

/** Cuts `data` at pseudo-random points (some empty pieces included). */
const randomPieces = (data: Uint8Array, seed: number): Array<Uint8Array> => {
  let state = seed
  const next = () => (state = (state * 1103515245 + 12345) & 0x7fffffff)
  const pieces: Array<Uint8Array> = []
  for (let offset = 0; offset < data.length;) {
    const size = next() % 3000
    pieces.push(data.subarray(offset, offset + size))
    offset += size
  }
  return pieces
}

const run = (chunkSize: number, batches: ReadonlyArray<ReadonlyArray<Uint8Array>>) => {
  const rechunker = new Rechunker(chunkSize)
  const chunks = batches.flatMap((batch) => rechunker.push(batch))
  chunks.push(...rechunker.flush())
  return { chunks, rechunker }
}

describe("Rechunker", () => {
  it("cuts any input into full chunks and a last partial one, and hashes it", () => {
    for (const chunkSize of [1, 7, 1024]) {
      for (const size of [0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize + 7, 10_000]) {
        const data = bytes(size, chunkSize)
        for (let seed = 1; seed <= 5; seed++) {
          const pieces = randomPieces(data, seed)
          // In batches of a few pieces, as a stream hands them over.
          const batches = [pieces.slice(0, 2), pieces.slice(2, 3), pieces.slice(3)].filter((b) => b.length > 0)
          const { chunks, rechunker } = run(chunkSize, batches)
          assert.strictEqual(chunks.length, Math.ceil(size / chunkSize))
          assert.strictEqual(rechunker.chunks, chunks.length)
          assert.strictEqual(rechunker.size, size)
          chunks.slice(0, -1).forEach((chunk) => assert.strictEqual(chunk.length, chunkSize))
          assert.isTrue(Buffer.concat(chunks).equals(Buffer.from(data)))
          assert.isTrue(
            Buffer.from(rechunker.digest()).equals(createHash("sha256").update(data).digest()),
            `digest of ${size} bytes in chunks of ${chunkSize}`
          )
        }
      }
    }
  })

  it("passes aligned chunks on as views of the input, without copying", () => {
    const data = bytes(4096, 1)
    const { chunks } = run(1024, [[data.subarray(0, 2048)], [data.subarray(2048)]])
    assert.strictEqual(chunks.length, 4)
    for (const chunk of chunks) assert.strictEqual(chunk.buffer, data.buffer)
    const whole = bytes(1024, 2)
    assert.strictEqual(run(1024, [[whole]]).chunks[0], whole)
  })

  it("fills a partial chunk from pieces in one buffer, then goes back to views", () => {
    const data = bytes(3000, 3)
    const { chunks } = run(1000, [[data.subarray(0, 500), data.subarray(500, 1500), data.subarray(1500)]])
    assert.deepStrictEqual(chunks.map((c) => c.length), [1000, 1000, 1000])
    assert.notStrictEqual(chunks[0]!.buffer, data.buffer)
    // The rest of the second piece is copied, the third piece's whole chunk is a view.
    assert.strictEqual(chunks[2]!.buffer, data.buffer)
  })
})
