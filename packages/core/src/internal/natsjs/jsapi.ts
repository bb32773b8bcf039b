/**
 * Requests to the JetStream API (`$JS.API.*`) sent directly, so that we send
 * exactly the fields we mean to (servers from 2.12 reject unknown ones) and
 * classify the answers ourselves.
 */
import { Empty, type NatsConnection, RequestError } from "@nats-io/nats-core"
import type { ApiError } from "@nats-io/jetstream"
import { Effect } from "effect"
import * as NatsError from "../../NatsError.ts"
import { type ErrorContext, fail, fromApiError, jetStreamNotEnabled } from "../apiErrors.ts"
import { atLeast } from "../version.ts"
import { fromNatsJs } from "./errors.ts"

export interface JetStreamApi {
  readonly nc: NatsConnection
  /** Milliseconds. */
  readonly timeout: number
  /**
   * Sends `body` (JSON, or nothing when `undefined`) to `$JS.API.<subject>`
   * and returns the answer, failing with the API error it carries.
   */
  readonly request: <A>(subject: string, body: unknown, context: ErrorContext) => Effect.Effect<A, NatsError.NatsError>
  /** The server's version is at least `major.minor.patch`. */
  readonly serverAtLeast: (major: number, minor: number, patch: number) => boolean
}

const prefix = "$JS.API"
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Parses a JSON API answer, failing with the API error it carries. */
export const parseAnswer = <A>(data: Uint8Array, context: ErrorContext): Effect.Effect<A, NatsError.NatsError> => {
  let answer: { readonly error?: ApiError; readonly stream?: string }
  try {
    answer = JSON.parse(decoder.decode(data))
  } catch (cause) {
    return Effect.fail(
      fail(new NatsError.UnknownError({ message: `${context.operation}: the server's answer is not JSON`, cause }))
    )
  }
  if (answer.error !== undefined) {
    // A refused publish's answer names the stream.
    const stream = context.stream ?? answer.stream
    return Effect.fail(
      fromApiError(answer.error.code, answer.error.err_code, answer.error.description, { ...context, stream })
    )
  }
  return Effect.succeed(answer as A)
}

export const make = (nc: NatsConnection, timeout: number): JetStreamApi => {
  const serverVersion = () => nc.info?.version ?? "0.0.0"
  return {
    nc,
    timeout,
    serverAtLeast: (major, minor, patch) => atLeast(serverVersion(), major, minor, patch),
    request: <A>(subject: string, body: unknown, context: ErrorContext) =>
      Effect.tryPromise({
        try: () =>
          nc.request(
            `${prefix}.${subject}`,
            body === undefined ? Empty : encoder.encode(JSON.stringify(body)),
            { timeout }
          ),
        catch: (cause) =>
          // Nobody answers the API when JetStream is off.
          cause instanceof RequestError && cause.isNoResponders()
            ? jetStreamNotEnabled(context)
            : fromNatsJs(cause, context)
      }).pipe(Effect.flatMap((msg) => parseAnswer<A>(msg.data, context)))
  }
}
