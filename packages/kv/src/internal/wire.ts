/**
 * The key-value store's wire format (ADR-8, as nats.go and nats.js write and
 * read it): the bucket's stream and subjects, key grammar, the operation
 * headers, and stored messages read back as entries.
 */
import type { NatsClient } from "@nats-effect/core"
import { NatsHeaders } from "@nats-effect/core"
import type { Entry, Operation } from "../KeyValue.ts"

const bucketNamePattern = /^[A-Za-z0-9_-]+$/
export const isValidBucketName = (bucket: string): boolean => bucketNamePattern.test(bucket)

export const streamName = (bucket: string): string => `KV_${bucket}`
const subjectPrefix = (bucket: string): string => `$KV.${bucket}.`
export const keySubject = (bucket: string, key: string): string => subjectPrefix(bucket) + key
export const allKeys = ">"

/** Every client's limit on a bucket's history (nats.go `KeyValueMaxHistory`). */
export const maxHistory = 64

const keyPattern = /^[-/_=.a-zA-Z0-9]+$/
const filterPattern = /^[-/_=.a-zA-Z0-9*>]+$/

/**
 * The server closes the connection on a protocol line longer than its
 * `max_control_line` (4,096 bytes by default), losing everything buffered
 * behind it. The longest line a key goes into is the direct get request
 * `$JS.API.DIRECT.GET.KV_<bucket>.$KV.<bucket>.<key>`, with the verb, a reply
 * inbox and the sizes: 128 bytes are kept for those. Keys are ASCII, so
 * characters are bytes.
 */
const maxKeyLength = (bucket: string, maxControlLine: number): number =>
  maxControlLine - 128 - `$JS.API.DIRECT.GET.${streamName(bucket)}.${keySubject(bucket, "")}`.length

const tooLong = (bucket: string, key: string, maxControlLine: number): string | undefined => {
  const max = maxKeyLength(bucket, maxControlLine)
  return key.length > max
    ? `a key of bucket ${bucket} is at most ${max} characters long (the server's protocol line is ${maxControlLine} bytes)`
    : undefined
}

/**
 * Why `key` is not a key, or `undefined`: the characters nats.go and nats.js
 * accept, no leading or trailing dot, no empty token (the subject would be
 * invalid), and short enough for the server's protocol line.
 */
export const keyProblem = (bucket: string, key: string, maxControlLine: number): string | undefined => {
  if (!keyPattern.test(key)) return "a key is 1 or more of - / _ = . a-z A-Z 0-9"
  if (key.startsWith(".") || key.endsWith(".")) return "a key must not start or end with a dot"
  if (key.includes("..")) return "a key must not hold an empty token (..)"
  return tooLong(bucket, key, maxControlLine)
}

/** Why `filter` is not a key filter (a key, with `*` and a last `>` as whole tokens), or `undefined`. */
export const filterProblem = (bucket: string, filter: string, maxControlLine: number): string | undefined => {
  if (!filterPattern.test(filter)) return "a key filter is 1 or more of - / _ = . a-z A-Z 0-9 and the wildcards * >"
  if (filter.startsWith(".") || filter.endsWith(".")) return "a key filter must not start or end with a dot"
  const tokens = filter.split(".")
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!
    if (token === "") return "a key filter must not hold an empty token (..)"
    if (token === ">" && i !== tokens.length - 1) return "> must be the last token of a key filter"
    if (token !== "*" && token !== ">" && /[*>]/.test(token)) return "wildcards * and > must be whole tokens"
  }
  return tooLong(bucket, filter, maxControlLine)
}

export const operationHeader = "KV-Operation"

/** The headers of a delete marker, and of a purge marker (which also removes the key's earlier messages). */
export const markerHeaders = {
  DEL: { [operationHeader]: "DEL" },
  PURGE: { [operationHeader]: "PURGE", "Nats-Rollup": "sub" }
} as const satisfies Record<"DEL" | "PURGE", NatsClient.HeadersInput>

/**
 * What a message of a key is. The server's own markers (a key removed by a
 * TTL, nats-server 2.11) are read as nats.go reads them: `MaxAge` and
 * `Purge` as a purge, `Remove` as a delete.
 */
export const operationOf = (headers: NatsClient.Headers | undefined): Operation => {
  const operation = NatsHeaders.get(headers, operationHeader)
  if (operation === "DEL" || operation === "PURGE") return operation
  switch (NatsHeaders.get(headers, "Nats-Marker-Reason")) {
    case "MaxAge":
    case "Purge":
      return "PURGE"
    case "Remove":
      return "DEL"
    default:
      return "PUT"
  }
}

/** The entry a stored message of `bucket` is. */
export const toEntry = (bucket: string, msg: NatsClient.StoredMsg): Entry => ({
  bucket,
  key: msg.subject.slice(subjectPrefix(bucket).length),
  value: msg.data,
  revision: msg.seq,
  created: msg.time,
  operation: operationOf(msg.headers),
  delta: msg.pending
})
