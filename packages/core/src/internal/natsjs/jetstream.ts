/**
 * The JetStream half of the nats.js adapter: publish with PubAck and
 * expectations, stored-message look-ups, and the stream and consumer
 * operations assembled from their modules.
 */
import { type Msg, MsgHdrsImpl, RequestError } from "@nats-io/nats-core"
import { jetstream } from "@nats-io/jetstream"
import { Duration, Effect, Option } from "effect"
import type { Driver, JetStream, MessageQuery, PubAck, StoredMsg } from "../../NatsClient.ts"
import * as NatsError from "../../NatsError.ts"
import { hasWildcard } from "../../NatsSubject.ts"
import { makeConsumers, makeOrdered } from "./consumers.ts"
import { type ErrorContext, fail, isNoMessageFound, jetStreamNotEnabled, noStreamCaptures } from "../apiErrors.ts"
import { fromNatsJs } from "./errors.ts"
import { fromMsgHdrs, toMsgHdrs } from "./headers.ts"
import { type JetStreamApi, parseAnswer } from "./jsapi.ts"
import * as Streams from "./streams.ts"

// Headers direct get adds to describe the stored message; not the user's.
const directHeaders: ReadonlySet<string> = new Set([
  "Nats-Stream",
  "Nats-Subject",
  "Nats-Sequence",
  "Nats-Time-Stamp",
  "Nats-Last-Sequence",
  "Nats-Num-Pending"
])

interface ServerPubAck {
  readonly stream: string
  readonly seq: number
  readonly duplicate?: boolean
}

interface ServerStoredMsg {
  readonly message: {
    readonly subject: string
    readonly seq: number
    readonly data?: string
    readonly hdrs?: string
    readonly time: string
  }
}

const fromBase64 = (data: string): Uint8Array => {
  const buffer = Buffer.from(data, "base64")
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}

const empty = new Uint8Array(0)

/** The body of a message get (direct or through the stream's leader), as the server reads it. */
const getRequest = (query: MessageQuery) =>
  "nextBySubject" in query
    ? { seq: query.seq, next_by_subj: query.nextBySubject }
    : "seq" in query
    ? { seq: query.seq }
    : { last_by_subj: query.lastBySubject }

export const make = (api: JetStreamApi, jetstreamEnabled: () => boolean): Driver["jetstream"] => {
  const nc = api.nc
  const js = jetstream(nc, { timeout: api.timeout })

  // Per stream: does it allow direct get? Forgotten when we change the stream,
  // and when a direct get finds nobody answering.
  const directAllowed = new Map<string, boolean>()
  const streams = Streams.make(api, (stream) => directAllowed.delete(stream))

  const publish: Driver["jetstream"]["publish"] = (msg, timeout) => {
    const subject = msg.subject
    const context = { operation: "jetstream publish", subject }
    return Effect.tryPromise({
      try: () =>
        nc.request(subject, msg.data, {
          timeout: Duration.toMillis(timeout),
          ...(msg.headers !== undefined ? { headers: toMsgHdrs(msg.headers) } : {})
        }),
      catch: (cause) => {
        if (cause instanceof RequestError && cause.isNoResponders()) {
          return jetstreamEnabled() ? noStreamCaptures(subject) : jetStreamNotEnabled(context)
        }
        return fromNatsJs(cause, context)
      }
    }).pipe(
      Effect.flatMap((answer) => parseAnswer<ServerPubAck>(answer.data, context)),
      Effect.map((ack): PubAck => ({ stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true }))
    )
  }

  const allowsDirect = (stream: string) => {
    const known = directAllowed.get(stream)
    if (known !== undefined) return Effect.succeed(known)
    return Effect.map(streams.info(stream), (info) => {
      directAllowed.set(stream, info.config.allowDirect)
      return info.config.allowDirect
    })
  }

  const fromDirect = (stream: string, msg: Msg): Option.Option<StoredMsg> => {
    const hdrs = msg.headers!
    return Option.some({
      stream: hdrs.last("Nats-Stream") || stream,
      subject: hdrs.last("Nats-Subject"),
      seq: parseInt(hdrs.last("Nats-Sequence"), 10),
      time: new Date(Date.parse(hdrs.last("Nats-Time-Stamp"))),
      data: msg.data,
      headers: fromMsgHdrs(hdrs, directHeaders),
      pending: 0
    })
  }

  const directGet = (
    stream: string,
    query: MessageQuery,
    context: ErrorContext
  ): Effect.Effect<Option.Option<StoredMsg> | undefined, NatsError.NatsError> =>
    Effect.tryPromise({
      try: () =>
        "lastBySubject" in query && !hasWildcard(query.lastBySubject)
          ? nc.request(`$JS.API.DIRECT.GET.${stream}.${query.lastBySubject}`, empty, { timeout: api.timeout })
          // A filter goes in the body: a subject with wildcards is not one to publish on.
          : nc.request(`$JS.API.DIRECT.GET.${stream}`, JSON.stringify(getRequest(query)), { timeout: api.timeout }),
      catch: (cause) => cause
    }).pipe(
      Effect.matchEffect({
        // Nobody answers: direct get was turned off; the caller asks the leader.
        onFailure: (cause) =>
          cause instanceof RequestError && cause.isNoResponders()
            ? Effect.succeed(undefined)
            : Effect.fail(fromNatsJs(cause, context)),
        onSuccess: (msg) => {
          const code = msg.headers?.code ?? 0
          if (code === 0) return Effect.succeed(fromDirect(stream, msg))
          if (code === 404) return Effect.succeed(Option.none())
          return Effect.fail(
            fail(
              new NatsError.JetStreamApiError({
                code,
                errCode: 0,
                message: `${context.operation}: ${msg.headers?.description ?? ""}`
              })
            )
          )
        }
      })
    )

  const leaderGet = (
    stream: string,
    query: MessageQuery,
    context: ErrorContext
  ): Effect.Effect<Option.Option<StoredMsg>, NatsError.NatsError> =>
    api.request<ServerStoredMsg>(
      `STREAM.MSG.GET.${stream}`,
      getRequest(query),
      context
    ).pipe(
      Effect.map(({ message }) =>
        Option.some<StoredMsg>({
          stream,
          subject: message.subject,
          seq: message.seq,
          time: new Date(Date.parse(message.time)),
          data: message.data === undefined ? empty : fromBase64(message.data),
          headers: message.hdrs === undefined ? undefined : fromMsgHdrs(MsgHdrsImpl.decode(fromBase64(message.hdrs))),
          pending: 0
        })
      ),
      Effect.catchIf(
        isNoMessageFound,
        () => Effect.succeed(Option.none())
      )
    )

  // A KV get's path: composed without a generator, which cost as much as the rest of it.
  const getMessage: JetStream["getMessage"] = (stream, query) => {
    const context = { operation: "get message", stream }
    const direct = Effect.flatMap(directGet(stream, query, context), (found) => {
      if (found !== undefined) return Effect.succeed(found)
      directAllowed.delete(stream)
      return leaderGet(stream, query, context)
    })
    const known = directAllowed.get(stream)
    if (known !== undefined) return known ? direct : leaderGet(stream, query, context)
    return Effect.flatMap(allowsDirect(stream), (allowed) => allowed ? direct : leaderGet(stream, query, context))
  }

  return {
    publish,
    streams,
    getMessage,
    ordered: makeOrdered(api, js),
    consumers: makeConsumers(api, js)
  }
}
