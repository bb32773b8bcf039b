/**
 * The object store's wire format (ADR-20, as nats.go, nats.js and nats.py
 * write it): subjects, the bucket's stream, digests and the meta JSON. Written
 * canonically, read tolerantly.
 */
import { NatsHeaders } from "@nats-effect/core"
import type { NatsClient } from "@nats-effect/core"
import { Cause, Exit, Schema } from "effect"
import type { ObjectInfo, ObjectMeta, ObjectOptions } from "../ObjectStore.ts"

export const defaultChunkSize = 128 * 1024

const bucketNamePattern = /^[A-Za-z0-9_-]+$/
const isValidBucketName = (bucket: string): boolean => bucketNamePattern.test(bucket)

export const streamName = (bucket: string): string => `OBJ_${bucket}`
export const chunkSubject = (bucket: string, nuid: string): string => `$O.${bucket}.C.${nuid}`
const metaPrefix = (bucket: string): string => `$O.${bucket}.M.`
export const metaSubject = (bucket: string, name: string): string => metaPrefix(bucket) + encodeName(name)
export const allMetaSubjects = (bucket: string): string => `$O.${bucket}.M.>`
export const allChunkSubjects = (bucket: string): string => `$O.${bucket}.C.>`

/** The nuid of a chunk subject `$O.<bucket>.C.<nuid>`. */
export const chunkNuid = (bucket: string, subject: string): string => subject.slice(`$O.${bucket}.C.`.length)

/** The stream subjects in the order every client uses: chunks, then meta. */
export const streamSubjects = (bucket: string): ReadonlyArray<string> => [allChunkSubjects(bucket), allMetaSubjects(bucket)]

/** Padded base64url of the name's UTF-8 bytes (nats.go and nats.py; nats.js agrees for ASCII names). */
export const encodeName = (name: string): string => toBase64UrlPadded(Buffer.from(name, "utf8"))

const toBase64UrlPadded = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64").replace(/\+/g, "-").replace(
    /\//g,
    "_"
  )

// ---------------------------------------------------------------------------
// Name lengths
// ---------------------------------------------------------------------------

/**
 * The server closes the connection on a protocol line longer than its
 * `max_control_line`, losing everything buffered behind it. The longest line
 * an object name goes into is the direct get of its meta:
 * `PUB $JS.API.DIRECT.GET.OBJ_<bucket>.$O.<bucket>.M.<base64url(name)> <inbox> <size>`.
 * `lineRoom` bytes are kept for the verb, the reply inbox, the size and the
 * spaces: more than the port counts for them (about 100), so a name we accept
 * is never refused there.
 */
const lineRoom = 128

/** The most UTF-8 bytes an object name of `bucket` can have; below 1, no name fits. */
export const maxNameBytes = (bucket: string, maxControlLine: number): number => {
  const encoded = maxControlLine - lineRoom - `$JS.API.DIRECT.GET.${streamName(bucket)}.${metaPrefix(bucket)}`.length
  // Padded base64 writes 4 characters for every 3 bytes, or part of them.
  return Math.floor(encoded / 4) * 3
}

/** Why `bucket` cannot name a bucket on a server with this `max_control_line`, or `undefined`. */
export const bucketNameProblem = (bucket: string, maxControlLine: number): string | undefined => {
  if (!isValidBucketName(bucket)) {
    return `invalid bucket name ${JSON.stringify(bucket)}: use 1 or more of A-Z a-z 0-9 _ -`
  }
  return maxNameBytes(bucket, maxControlLine) >= 1 ? undefined : `bucket name is too long: ${bucket.length} ` +
    `characters leave no room for an object name in the server's max_control_line of ${maxControlLine} bytes`
}

/** Why `name` cannot name an object of `bucket` on a server with this `max_control_line`, or `undefined`. */
export const objectNameProblem = (bucket: string, name: string, maxControlLine: number): string | undefined => {
  if (name.length === 0) return `object name must not be empty (bucket ${bucket})`
  const max = maxNameBytes(bucket, maxControlLine)
  // Three UTF-8 bytes per UTF-16 unit at most: most names are far shorter.
  if (name.length * 3 <= max) return undefined
  const bytes = Buffer.byteLength(name, "utf8")
  return bytes <= max ? undefined : `object name is too long: ${bytes} bytes, and names in bucket ${bucket} ` +
    `are at most ${max} bytes (their subjects must fit in the server's max_control_line of ${maxControlLine} bytes)`
}

export const rollupHeaders: NatsClient.HeadersInput = { "Nats-Rollup": "sub" }

// ---------------------------------------------------------------------------
// Digests
// ---------------------------------------------------------------------------

const digestPrefix = "SHA-256="

/** `SHA-256=` and the padded base64url of a SHA-256 value. */
export const formatDigest = (sha256: Uint8Array): string => digestPrefix + toBase64UrlPadded(sha256)

const base64Digest = /^[A-Za-z0-9+/_-]{43}=?$/
const hexDigest = /^[0-9a-fA-F]{64}$/

/**
 * The 32 bytes of a digest written by any client: base64url or standard
 * base64, padded or not, or hex (as nats.js accepts). `undefined` when it is
 * not a SHA-256 digest in one of these forms.
 */
export const parseDigest = (digest: string): Uint8Array | undefined => {
  if (digest.slice(0, digestPrefix.length).toUpperCase() !== digestPrefix) return undefined
  const value = digest.slice(digestPrefix.length)
  if (hexDigest.test(value)) return Buffer.from(value, "hex")
  if (base64Digest.test(value)) return Buffer.from(value, "base64")
  return undefined
}

// ---------------------------------------------------------------------------
// Meta
// ---------------------------------------------------------------------------

const optionalNullable = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

/** The meta JSON as any client writes it; unknown keys (nats.js `revision`) are ignored. */
export const MetaJson = Schema.Struct({
  name: Schema.String,
  description: optionalNullable(Schema.String),
  headers: optionalNullable(Schema.Record(Schema.String, Schema.Union([Schema.String, Schema.Array(Schema.String)]))),
  metadata: optionalNullable(Schema.Record(Schema.String, Schema.String)),
  options: optionalNullable(Schema.Struct({
    link: optionalNullable(Schema.Struct({ bucket: Schema.String, name: optionalNullable(Schema.String) })),
    max_chunk_size: optionalNullable(Schema.Number)
  })),
  bucket: optionalNullable(Schema.String),
  nuid: optionalNullable(Schema.String),
  size: optionalNullable(Schema.Number),
  chunks: optionalNullable(Schema.Number),
  mtime: optionalNullable(Schema.String),
  digest: optionalNullable(Schema.String),
  deleted: optionalNullable(Schema.Boolean)
})
const decodeMetaJson = Schema.decodeUnknownExit(Schema.fromJsonString(MetaJson))

const textDecoder = new TextDecoder()

/**
 * Decodes a stored meta message, or returns the reason it cannot be read.
 * `bucket` is the bucket the message was read from: nats.js links omit
 * nothing else, but the field is filled in when absent.
 */
export const decodeInfo = (bucket: string, msg: NatsClient.StoredMsg): ObjectInfo | string => {
  const exit = decodeMetaJson(textDecoder.decode(msg.data))
  if (Exit.isFailure(exit)) {
    const error = Cause.squash(exit.cause)
    const why = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ")
    return `the meta on ${msg.subject} (seq ${msg.seq}) does not decode: ${why}`
  }
  const json = exit.value
  const options = decodeOptions(json.options)
  const info: Mutable<ObjectInfo> = {
    name: json.name,
    bucket: json.bucket ?? bucket,
    nuid: json.nuid ?? "",
    size: json.size ?? 0,
    chunks: json.chunks ?? 0,
    digest: json.digest ?? "",
    mtime: parseMtime(json.mtime) ?? msg.time,
    deleted: json.deleted ?? false,
    revision: msg.seq
  }
  if (json.description) info.description = json.description
  if (json.headers) info.headers = NatsHeaders.fromInput(json.headers)
  if (json.metadata) info.metadata = json.metadata
  if (options) info.options = options
  return info
}

/**
 * The `nuid` of a meta that `decodeInfo` refuses, when its JSON has one: its
 * chunks may still be an object to another client.
 */
export const undecodedNuid = (msg: NatsClient.StoredMsg): string | undefined => {
  try {
    const json: unknown = JSON.parse(textDecoder.decode(msg.data))
    return typeof json === "object" && json !== null && "nuid" in json && typeof json.nuid === "string"
      ? json.nuid
      : undefined
  } catch {
    return undefined
  }
}

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

const decodeOptions = (options: typeof MetaJson.Type["options"]): ObjectOptions | undefined => {
  if (!options) return undefined
  const out: Mutable<ObjectOptions> = {}
  if (options.link) out.link = options.link.name ? { bucket: options.link.bucket, name: options.link.name } : { bucket: options.link.bucket }
  if (options.max_chunk_size != null) out.maxChunkSize = options.max_chunk_size
  return out.link === undefined && out.maxChunkSize === undefined ? undefined : out
}

/** A recorded `mtime`, or `undefined` when it is absent, empty, unparseable or nats.go's zero time. */
export const parseMtime = (mtime: string | null | undefined): Date | undefined => {
  if (!mtime) return undefined
  const date = new Date(mtime)
  const time = date.getTime()
  return Number.isNaN(time) || date.getUTCFullYear() <= 1 ? undefined : date
}

/**
 * The meta JSON we write, with keys in nats.go's order: `name`, then what the
 * writer set (`description`, `headers`, `metadata`), `options`, `bucket`,
 * `nuid`, `size`, `mtime` (RFC 3339 UTC), `chunks`, `digest` (when there is
 * one) and `deleted` (only when true).
 */
export const encodeInfo = (info: Omit<ObjectInfo, "revision">): Uint8Array => {
  const json: Record<string, unknown> = { name: info.name }
  if (info.description) json.description = info.description
  if (info.headers && Object.keys(info.headers).length > 0) json.headers = info.headers
  if (info.metadata && Object.keys(info.metadata).length > 0) json.metadata = info.metadata
  if (info.options) {
    const options: Record<string, unknown> = {}
    if (info.options.link) options.link = info.options.link
    if (info.options.maxChunkSize !== undefined) options.max_chunk_size = info.options.maxChunkSize
    json.options = options
  }
  json.bucket = info.bucket
  json.nuid = info.nuid
  json.size = info.size
  json.mtime = info.mtime.toISOString()
  json.chunks = info.chunks
  if (info.digest) json.digest = info.digest
  if (info.deleted) json.deleted = true
  return Buffer.from(JSON.stringify(json), "utf8")
}

/** The meta fields a writer controls, normalised (headers as arrays). */
export const metaFields = (meta: ObjectMeta): Pick<ObjectInfo, "name" | "description" | "headers" | "metadata"> => {
  const out: Mutable<Pick<ObjectInfo, "name" | "description" | "headers" | "metadata">> = { name: meta.name }
  if (meta.description) out.description = meta.description
  if (meta.headers) out.headers = NatsHeaders.fromInput(meta.headers)
  if (meta.metadata) out.metadata = meta.metadata
  return out
}
