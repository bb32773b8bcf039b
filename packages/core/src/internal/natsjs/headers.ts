/**
 * Conversion between nats.js `MsgHdrs` and the port's header records. On the
 * hot path of every message: nothing is allocated when there are no headers.
 */
import { headers as makeMsgHdrs, type MsgHdrs } from "@nats-io/nats-core"
import type { Headers, HeadersInput } from "../../NatsClient.ts"

const noKeys: ReadonlySet<string> = new Set()

/**
 * Received headers as a record (keys as sent, every value), leaving out
 * `skip` (headers the server adds to describe a stored message); `undefined`
 * when none remain.
 */
export const fromMsgHdrs = (hdrs: MsgHdrs | undefined, skip: ReadonlySet<string> = noKeys): Headers | undefined => {
  if (hdrs === undefined) return undefined
  let out: Record<string, ReadonlyArray<string>> | undefined
  for (const [key, values] of hdrs) {
    if (skip.has(key)) continue
    if (out === undefined) out = {}
    out[key] = values
  }
  return out
}

/** Publish headers as `MsgHdrs`; throws nats.js's `InvalidArgumentError` on an invalid name or value. */
export const toMsgHdrs = (input: HeadersInput): MsgHdrs => {
  const hdrs = makeMsgHdrs()
  for (const key in input) {
    const value = input[key]!
    if (typeof value === "string") {
      hdrs.append(key, value)
    } else {
      for (const v of value) hdrs.append(key, v)
    }
  }
  return hdrs
}
