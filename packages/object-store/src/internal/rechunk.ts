/**
 * Re-cuts a byte stream into chunks of exactly `chunkSize` bytes (the last
 * one shorter), hashing the bytes with SHA-256 as they pass.
 *
 * Bytes are copied only to fill a chunk from pieces: whole chunks of an input
 * that is aligned with the chunk boundaries are passed on as views of it, and
 * a partial chunk is accumulated in one preallocated buffer, so the work is
 * linear in the size whatever the input's pieces are.
 */
import { createHash, type Hash } from "node:crypto"

export class Rechunker {
  readonly chunkSize: number
  /** Bytes seen so far. */
  size = 0
  /** Chunks emitted so far. */
  chunks = 0
  private readonly hash: Hash = createHash("sha256")
  private pending: Buffer | undefined = undefined
  private filled = 0

  constructor(chunkSize: number) {
    this.chunkSize = chunkSize
  }

  /** The complete chunks that `pieces` finish, in order. */
  push(pieces: ReadonlyArray<Uint8Array>): Array<Uint8Array> {
    const chunks: Array<Uint8Array> = []
    const chunkSize = this.chunkSize
    for (const piece of pieces) {
      const length = piece.length
      if (length === 0) continue
      this.hash.update(piece)
      this.size += length
      let offset = 0
      if (this.pending !== undefined) {
        const taken = Math.min(chunkSize - this.filled, length)
        this.pending.set(taken === length ? piece : piece.subarray(0, taken), this.filled)
        this.filled += taken
        offset = taken
        if (this.filled < chunkSize) continue
        chunks.push(this.pending)
        this.pending = undefined
        this.filled = 0
      }
      for (; length - offset >= chunkSize; offset += chunkSize) {
        chunks.push(offset === 0 && length === chunkSize ? piece : piece.subarray(offset, offset + chunkSize))
      }
      if (offset < length) {
        // Not zero-filled: only the first `filled` bytes are ever read.
        this.pending = Buffer.allocUnsafe(chunkSize)
        this.pending.set(piece.subarray(offset), 0)
        this.filled = length - offset
      }
    }
    this.chunks += chunks.length
    return chunks
  }

  /** The last, partial chunk, if any. */
  flush(): Array<Uint8Array> {
    if (this.pending === undefined) return []
    const last = this.pending.subarray(0, this.filled)
    this.pending = undefined
    this.filled = 0
    this.chunks++
    return [last]
  }

  /** The SHA-256 of every byte pushed; call once, after `flush`. */
  digest(): Uint8Array {
    return this.hash.digest()
  }
}
