/**
 * The JetStream half of the nats.js adapter: publish with PubAck and
 * expectations, stored-message look-ups, and the stream and consumer
 * operations assembled from their modules.
 */
import { headers as makeMsgHdrs, type Msg, type MsgHdrs, MsgHdrsImpl, RequestError } from "@nats-io/nats-core"
import { jetstream } from "@nats-io/jetstream"
import { Duration, Effect, Option } from "effect"
import type { JetStream, JetStreamPublishOptions, PubAck, StoredMsg } from "../../NatsClient.ts"
import * as NatsError from "../../NatsError.ts"
import { makeConsumers, makeOrdered } from "./consumers.ts"
import { ApiCodes, badRequest, type ErrorContext, fail } from "../apiErrors.ts"
import { publishProblem } from "../validation.ts"
import { fromNatsJs } from "./errors.ts"
import { fromMsgHdrs, toMsgHdrs } from "./headers.ts"
import { type JetStreamApi, parseAnswer } from "./jsapi.ts"
import * as Streams from "./streams.ts"

/** What the core side of the adapter shares with JetStream. */
export interface Core {
  readonly api: JetStreamApi
  /** The connected server advertises JetStream. */
  readonly jetstreamEnabled: () => boolean
  /** Fails when `subject` cannot be published to or `size` bytes are too many. */
  readonly checkPublish: (subject: string, size: number) => NatsError.NatsError | undefined
  /** Classifies a failed publish-like send (payload too large with headers, ...). */
  readonly publishError: (cause: unknown, context: ErrorContext, size: number, hdrs: MsgHdrs | undefined) => NatsError.NatsError
  /** The span of a JetStream publish. */
  readonly span: (subject: string, size: number) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

// Headers direct get adds to describe the stored message; not the user's.
const directHeaders: ReadonlySet<string> = new Set([
  "Nats-Stream",
  "Nats-Subject",
  "Nats-Sequence",
  "Nats-Time-Stamp",
  "Nats-Last-Sequence",
  "Nats-Num-Pending"
])

const publishHeaders = (options: JetStreamPublishOptions | undefined): MsgHdrs | undefined => {
  if (options === undefined) return undefined
  const { expect, headers, msgId } = options
  if (headers === undefined && msgId === undefined && expect === undefined) return undefined
  const hdrs = headers === undefined ? makeMsgHdrs() : toMsgHdrs(headers)
  if (msgId !== undefined) hdrs.set("Nats-Msg-Id", msgId)
  if (expect !== undefined) {
    if (expect.stream !== undefined) hdrs.set("Nats-Expected-Stream", expect.stream)
    if (expect.lastSequence !== undefined) hdrs.set("Nats-Expected-Last-Sequence", String(expect.lastSequence))
    if (expect.lastSubjectSequence !== undefined) {
      hdrs.set("Nats-Expected-Last-Subject-Sequence", String(expect.lastSubjectSequence))
    }
    if (expect.lastMsgId !== undefined) hdrs.set("Nats-Expected-Last-Msg-Id", expect.lastMsgId)
  }
  return hdrs
}

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

export const make = (core: Core): JetStream => {
  const { api } = core
  const nc = api.nc
  const js = jetstream(nc, { timeout: api.timeout })

  // Per stream: does it allow direct get? Forgotten when we change the stream,
  // and when a direct get finds nobody answering.
  const directAllowed = new Map<string, boolean>()
  const streams = Streams.make(api, (stream) => directAllowed.delete(stream))

  const publish: JetStream["publish"] = (subject, data, options) => {
    const context = { operation: "jetstream publish", subject }
    const invalid = core.checkPublish(subject, data.length)
    if (invalid !== undefined) return Effect.fail(invalid)
    let hdrs: MsgHdrs | undefined
    try {
      hdrs = publishHeaders(options)
    } catch (cause) {
      return Effect.fail(core.publishError(cause, context, data.length, undefined))
    }
    const timeout = options?.timeout === undefined ? api.timeout : Duration.toMillis(options.timeout)
    return Effect.tryPromise({
      try: () => nc.request(subject, data, hdrs === undefined ? { timeout } : { timeout, headers: hdrs }),
      catch: (cause) => {
        if (cause instanceof RequestError && cause.isNoResponders()) {
          return core.jetstreamEnabled()
            ? fail(
              new NatsError.NoResponders({ subject, message: `no stream captures subject '${subject}'` })
            )
            : fail(new NatsError.JetStreamNotEnabled({ message: "jetstream publish: JetStream is not enabled" }))
        }
        return core.publishError(cause, context, data.length, hdrs)
      }
    }).pipe(
      Effect.flatMap((msg) => parseAnswer<ServerPubAck>(msg.data, context)),
      Effect.map((ack): PubAck => ({ stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true })),
      core.span(subject, data.length)
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
    query: { readonly seq: number } | { readonly lastBySubject: string },
    context: ErrorContext
  ): Effect.Effect<Option.Option<StoredMsg> | undefined, NatsError.NatsError> =>
    Effect.tryPromise({
      try: () =>
        "seq" in query
          ? nc.request(`$JS.API.DIRECT.GET.${stream}`, JSON.stringify({ seq: query.seq }), { timeout: api.timeout })
          : nc.request(`$JS.API.DIRECT.GET.${stream}.${query.lastBySubject}`, empty, { timeout: api.timeout }),
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
    query: { readonly seq: number } | { readonly lastBySubject: string },
    context: ErrorContext
  ): Effect.Effect<Option.Option<StoredMsg>, NatsError.NatsError> =>
    api.request<ServerStoredMsg>(
      `STREAM.MSG.GET.${stream}`,
      "seq" in query ? { seq: query.seq } : { last_by_subj: query.lastBySubject },
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
        (error) => error.reason._tag === "JetStreamApiError" && error.reason.errCode === ApiCodes.NoMessageFound,
        () => Effect.succeed(Option.none())
      )
    )

  const getMessage: JetStream["getMessage"] = (stream, query) => {
    const context = { operation: "get message", stream }
    return Effect.gen(function*() {
      yield* Streams.checkName("stream", stream, context)
      if ("seq" in query) {
        if (!Number.isInteger(query.seq) || query.seq < 1) {
          return yield* Effect.fail(badRequest(context, `seq must be a positive integer, got ${query.seq}`))
        }
      } else {
        const problem = publishProblem(query.lastBySubject)
        if (problem !== undefined) {
          return yield* Effect.fail(
            fail(new NatsError.InvalidSubject({ subject: query.lastBySubject, message: problem }))
          )
        }
      }
      if (yield* allowsDirect(stream)) {
        const found = yield* directGet(stream, query, context)
        if (found !== undefined) return found
        directAllowed.delete(stream)
      }
      return yield* leaderGet(stream, query, context)
    })
  }

  return {
    publish,
    streams,
    getMessage,
    ordered: makeOrdered(api, js),
    consumers: makeConsumers(api, js)
  }
}
