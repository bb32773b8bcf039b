/**
 * Server URLs as users write them, credentials included
 * (`nats://user:password@host:4222`, `nats://token@host`). nats.js ignores
 * user info in a URL, and a URL shown in a log or an error would print it:
 * the credentials are taken out into `Redacted` options and the URLs kept
 * without them, so no secret reaches nats.js's server list, a log line or an
 * error message. A URL whose scheme NATS does not speak is refused with
 * `InvalidUrl`: nats.js would connect to `http://host:4222` as to
 * `nats://host:4222`.
 */
import { Redacted, Result } from "effect"
import * as NatsError from "../../NatsError.ts"

export interface Servers {
  /** The URLs without user info: safe to show. */
  readonly urls: ReadonlyArray<string>
  readonly user: string | undefined
  readonly pass: Redacted.Redacted<string> | undefined
  readonly token: Redacted.Redacted<string> | undefined
}

// Optional scheme, then everything up to the last `@` before the path.
const userInfo = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)?([^/]*)@/
const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//
const schemes = new Set(["nats", "tls", "ws", "wss"])

const decode = (s: string): string => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/**
 * Splits the credentials out of `servers`; the first URL with user info
 * gives them. A URL without a scheme (`host:4222`) is `nats://`.
 */
export const parse = (servers: string | ReadonlyArray<string>): Result.Result<Servers, NatsError.NatsError> => {
  let user: string | undefined
  let pass: Redacted.Redacted<string> | undefined
  let token: Redacted.Redacted<string> | undefined
  let found = false
  const urls = (typeof servers === "string" ? [servers] : servers).map((url) => {
    const match = userInfo.exec(url)
    if (match === null) return url
    const info = match[2]!
    if (!found && info.length > 0) {
      found = true
      const colon = info.indexOf(":")
      if (colon === -1) {
        token = Redacted.make(decode(info))
      } else {
        user = decode(info.slice(0, colon))
        pass = Redacted.make(decode(info.slice(colon + 1)))
      }
    }
    return `${match[1] ?? ""}${url.slice(match[0].length)}`
  })
  for (const url of urls) {
    const given = scheme.exec(url)?.[1]
    if (given !== undefined && !schemes.has(given.toLowerCase())) {
      return Result.fail(NatsError.fromReason(
        new NatsError.InvalidUrl({
          url,
          message: `the server URL ${url} is not a NATS URL: its scheme must be nats://, tls://, ws:// or wss://`
        })
      ))
    }
  }
  return Result.succeed({ urls, user, pass, token })
}
