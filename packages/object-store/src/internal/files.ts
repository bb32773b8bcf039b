/**
 * Local files: `putFile` and `getFile`, and their large reads and writes on a
 * `FileHandle`, the handle closed on every exit. Node's file streams read and
 * write 64–128 KiB at a time through the thread pool with a callback each;
 * reads of 4 MiB, and writes of a chunk with a synchronous call, cost less
 * per byte. Reads stay asynchronous: synchronous ones measured no cheaper,
 * and would hold the event loop on a pipe until its writer writes.
 */
import { NatsTracing as Tracing } from "@nats-effect/core"
import { Cause, Effect, Stream } from "effect"
import { writeSync } from "node:fs"
import { open, rename, rm, stat } from "node:fs/promises"
import type { ObjectMeta, TransferOptions } from "../ObjectStore.ts"
import * as Errors from "../ObjectStoreError.ts"
import type { ObjectStoreError } from "../ObjectStoreError.ts"
import { objectSpan, type StoreContext } from "./context.ts"
import * as Get from "./get.ts"
import * as Nuid from "./nuid.ts"
import * as Put from "./put.ts"

/** Bytes a read asks for (whole chunks, at least one). */
const readSize = 4 * 1024 * 1024

const fileError = (path: string, action: string) => (cause: unknown): ObjectStoreError =>
  Errors.fromReason(
    new Errors.FileError({ path, message: `cannot ${action} ${path}: ${String(cause)}`, cause })
  )

const opened = (path: string, flags: "r" | "w", action: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: () => open(path, flags), catch: fileError(path, action) }),
    // A written file's failure to close is reported by `writeStream`, which
    // closes it first; here the transfer has failed, been interrupted, or read.
    (handle) => Effect.ignore(Effect.tryPromise(() => handle.close()))
  )

/** The first `filled` bytes of `buffer`, cut into views of `chunkSize` bytes (the last one shorter). */
const cut = (buffer: Uint8Array, filled: number, chunkSize: number): Array<Uint8Array> => {
  const pieces: Array<Uint8Array> = []
  for (let offset = 0; offset < filled; offset += chunkSize) {
    pieces.push(buffer.subarray(offset, Math.min(offset + chunkSize, filled)))
  }
  return pieces
}

/**
 * The bytes of the file at `path`, as pieces of `chunkSize` bytes (the last
 * one shorter), read 4 MiB (whole chunks) or one chunk at a time, one read
 * ahead of the consumer.
 *
 * Each read fills a fresh buffer, not a reused one: the re-chunker passes
 * aligned chunks on as they are, and the port may keep the bytes it publishes
 * (the in-memory adapter stores them as given), so a buffer reused for the
 * next read would change stored chunks. The chunks are views of that buffer:
 * one allocation per read rather than one per chunk, which V8 tracks and
 * collects at a fraction of the cost (measured with 128 KiB chunks: a half to
 * a third of the time in GC, and less CPU per MiB).
 */
const readChunks = (path: string, chunkSize: number): Stream.Stream<Uint8Array, ObjectStoreError> =>
  Stream.unwrap(Effect.map(opened(path, "r", "read"), (handle) => {
    const wholeChunks = Math.max(1, Math.floor(readSize / chunkSize)) * chunkSize
    const read = (): Promise<Array<Uint8Array>> => {
      const buffer = Buffer.allocUnsafe(wholeChunks)
      // A short read (at the end of a regular file) is passed on as read: the
      // re-chunker copies unaligned pieces into whole chunks.
      return handle.read(buffer, 0, wholeChunks, null).then(({ bytesRead }) => cut(buffer, bytesRead, chunkSize))
    }
    let ahead = read()
    // Its failure is reported when pulled; a stream ended before is not told.
    ahead.catch(() => {})
    const pull = Effect.flatMap(
      Effect.tryPromise({ try: () => ahead, catch: fileError(path, "read") }),
      (pieces) => {
        if (pieces.length === 0) return Cause.done()
        ahead = read()
        ahead.catch(() => {})
        return Effect.succeed(pieces as [Uint8Array, ...Array<Uint8Array>])
      }
    )
    return Stream.fromPull(Effect.succeed(pull))
  }))

/** Writes all of `piece`: a write may be short (a full disk, a signal). */
const writeAll = (fd: number, piece: Uint8Array) => {
  for (let offset = 0; offset < piece.length;) offset += writeSync(fd, piece, offset)
}

/**
 * Writes `data` to a new file at `path` (replacing one there), each chunk
 * with a synchronous write as it arrives. A write lands in the page cache in
 * tens of microseconds, less than a thread-pool round trip costs, and the
 * chunk is let go at once. Measured on 256 MiB gets right after a putFile:
 * 0.6 ms of system time per MiB this way, 1.1–1.4 with one `writev` of the
 * chunks that arrived together, and 4.7–7.6 ms of CPU per MiB in all through
 * the thread pool (1 MiB writes, one in flight) against 3.0–3.2 this way.
 * The price is that a slow file system holds the event loop for its writes.
 * The file is closed when this ends; removing it after a failure is the caller's.
 */
const writeStream = <E, R>(path: string, data: Stream.Stream<Uint8Array, E, R>) =>
  Effect.scoped(Effect.gen(function*() {
    const handle = yield* opened(path, "w", "write")
    yield* Stream.runForEachArray(data, (pieces) =>
      Effect.try({
        try: () => {
          for (const piece of pieces) writeAll(handle.fd, piece)
        },
        catch: fileError(path, "write")
      }))
    yield* Effect.tryPromise({ try: () => handle.close(), catch: fileError(path, "write") })
  }))

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

/** The size of the file at `path`: the `total` of its put's progress. */
const fileSize = (path: string) =>
  Effect.tryPromise({ try: () => stat(path), catch: fileError(path, "read") }).pipe(Effect.map((stats) => stats.size))

export const putFile = <E, R>(
  ctx: StoreContext,
  meta: string | ObjectMeta,
  path: string,
  options?: TransferOptions<E, R>
) =>
  Effect.gen(function*() {
    const chunkSize = yield* Put.resolveChunkSize(ctx, meta)
    const total = options?.onProgress === undefined ? undefined : yield* fileSize(path)
    return yield* Put.put(ctx, meta, readChunks(path, chunkSize), options, total)
  })

/**
 * Best effort: the get has failed, and that failure is what the caller
 * needs. A partial file that cannot be removed (its directory is gone or
 * not one) is logged, not turned into a defect over the failure.
 */
const removePartial = (partial: string) =>
  Effect.tryPromise({ try: () => rm(partial, { force: true }), catch: fileError(partial, "remove") }).pipe(
    Effect.ignore({ log: "Warn", message: `object store: cannot remove the partial file ${partial}` })
  )

export const getFile = <E, R>(ctx: StoreContext, name: string, path: string, options?: TransferOptions<E, R>) =>
  Effect.gen(function*() {
    const { data, info } = yield* Get.open(ctx, name, options)
    // Written beside the destination and renamed into place once checked.
    const partial = `${path}.${Nuid.next()}.partial`
    yield* writeStream(partial, data).pipe(
      Effect.andThen(Effect.tryPromise({ try: () => rename(partial, path), catch: fileError(path, "write") })),
      Effect.onError(() => removePartial(partial))
    )
    return info
  }).pipe(
    Tracing.withSpan("ObjectStore.getFile", objectSpan(ctx.bucket, name, "consumer"))
  )
