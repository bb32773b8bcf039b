/**
 * The nats.js adapter of `NatsClient`: connects with `@nats-io/transport-node`
 * as a scoped resource (drained on release), logs the connection's status
 * through Effect's logger, and maps the port onto nats.js and the JetStream
 * API.
 */
import * as Fs from "node:fs/promises"
import {
  AuthorizationError,
  type Authenticator,
  type ConnectionOptions,
  credsAuthenticator,
  InvalidArgumentError,
  type Msg as NatsJsMsg,
  type MsgHdrs,
  MsgHdrsImpl,
  type NatsConnection,
  nkeyAuthenticator,
  type ServerInfo as NatsJsServerInfo,
  type Status,
  UserAuthenticationExpiredError
} from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { Cause, Duration, Effect, Queue, Redacted, type Scope, Stream } from "effect"
import type { Msg, NatsClient, NatsClientOptions, ServerInfo } from "../../NatsClient.ts"
import * as NatsError from "../../NatsError.ts"
import { type ErrorContext, fail, messageOf } from "../apiErrors.ts"
import { publishProblem, queueProblem, subscribeProblem } from "../validation.ts"
import { fromNatsJs } from "./errors.ts"
import { fromMsgHdrs, toMsgHdrs } from "./headers.ts"
import * as JetStream from "./jetstream.ts"
import * as JetStreamApi from "./jsapi.ts"

const defaultServers = "nats://127.0.0.1:4222"
const defaultRequestTimeout = Duration.seconds(5)
// Bounds the drain on release: a drain waits for the server, which may be gone.
const drainTimeout = Duration.seconds(10)

const serversLabel = (servers: string | ReadonlyArray<string>) =>
  typeof servers === "string" ? servers : servers.join(",")

const connectionFailure = (servers: string, cause: unknown): NatsError.NatsError =>
  cause instanceof AuthorizationError || cause instanceof UserAuthenticationExpiredError
    ? fail(
      new NatsError.AuthenticationError({
        message: `the NATS server at ${servers} rejected the credentials: ${cause.message}`,
        cause
      })
    )
    : fail(new NatsError.ConnectionError({ message: `cannot connect to NATS at ${servers}: ${messageOf(cause)}`, cause }))

const readCreds = (path: string): Effect.Effect<Uint8Array, NatsError.NatsError> =>
  Effect.tryPromise({
    try: () => Fs.readFile(path),
    catch: (cause) =>
      fail(
        new NatsError.AuthenticationError({ message: `cannot read the credentials file ${path}: ${messageOf(cause)}`, cause })
      )
  })

const toConnectionOptions = Effect.fnUntraced(function*(options: NatsClientOptions) {
  const authenticators: Array<Authenticator> = []
  if (options.nkeySeed !== undefined) {
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(Redacted.value(options.nkeySeed))))
  }
  if (options.credsFile !== undefined) authenticators.push(credsAuthenticator(yield* readCreds(options.credsFile)))
  const servers = options.servers ?? defaultServers
  const connection: ConnectionOptions = {
    servers: typeof servers === "string" ? servers : [...servers],
    timeout: Duration.toMillis(options.timeout ?? Duration.seconds(5)),
    reconnect: options.reconnect ?? true,
    maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
    reconnectTimeWait: Duration.toMillis(options.reconnectTimeWait ?? Duration.seconds(2))
  }
  if (options.name !== undefined) connection.name = options.name
  if (options.user !== undefined) connection.user = options.user
  if (options.pass !== undefined) connection.pass = Redacted.value(options.pass)
  if (options.token !== undefined) connection.token = Redacted.value(options.token)
  if (authenticators.length > 0) connection.authenticator = authenticators
  if (options.pingInterval !== undefined) connection.pingInterval = Duration.toMillis(options.pingInterval)
  if (options.tls !== undefined) {
    const { caFile, certFile, keyFile, required } = options.tls
    // nats.js requires TLS as soon as `tls` is set.
    if (required === false && caFile === undefined && certFile === undefined && keyFile === undefined) {
      return connection
    }
    connection.tls = {
      ...(caFile !== undefined ? { caFile } : {}),
      ...(certFile !== undefined ? { certFile } : {}),
      ...(keyFile !== undefined ? { keyFile } : {})
    }
  }
  return connection
})

const toServerInfo = (info: NatsJsServerInfo): ServerInfo => ({
  serverId: info.server_id,
  version: info.version,
  maxPayload: info.max_payload,
  jetstream: info.jetstream === true
})

const toMsg = (msg: NatsJsMsg): Msg => ({
  subject: msg.subject,
  data: msg.data,
  headers: fromMsgHdrs(msg.headers),
  reply: msg.reply || undefined
})

export const make = (options: NatsClientOptions): Effect.Effect<NatsClient["Service"], NatsError.NatsError, Scope.Scope> =>
  Effect.gen(function*() {
    const servers = serversLabel(options.servers ?? defaultServers)
    const connectionOptions = yield* toConnectionOptions(options)
    let connected = true
    const nc: NatsConnection = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => connect(connectionOptions),
        catch: (cause) => connectionFailure(servers, cause)
      }),
      (nc) =>
        // Drain (deliver what was received, flush what was sent) while the
        // server is there; otherwise just close.
        connected
          ? Effect.promise(() => nc.drain()).pipe(
            Effect.timeout(drainTimeout),
            Effect.catchCause(() => Effect.promise(() => nc.close()))
          )
          : Effect.promise(() => nc.close())
    )

    let serverInfo = toServerInfo(nc.info!)
    // span attributes: the server the client is connected to now
    let serverAddress = ""
    let serverPort = 0
    const setServerAddress = () => {
      const [host = "", port = "0"] = nc.getServer().split(":")
      serverAddress = host
      serverPort = Number(port)
    }
    setServerAddress()

    yield* Stream.fromAsyncIterable(nc.status(), (cause) => cause).pipe(
      Stream.runForEach((status) => {
        switch (status.type) {
          case "disconnect":
            connected = false
            break
          case "reconnect":
            connected = true
            if (nc.info !== undefined) serverInfo = toServerInfo(nc.info)
            setServerAddress()
            break
        }
        return logStatus(status)
      }),
      Effect.ignore,
      Effect.annotateLogs({ "nats.servers": servers }),
      Effect.forkScoped
    )

    const span = (name: string, operation: "publish" | "send", kind: "producer" | "client") =>
    (subject: string, size: number) =>
    <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.withSpan(self, name, {
        kind,
        attributes: {
          "messaging.system": "nats",
          "messaging.destination.name": subject,
          "messaging.operation.type": operation,
          "messaging.operation.name": operation,
          "messaging.message.body.size": size,
          "server.address": serverAddress,
          "server.port": serverPort
        },
        captureStackTrace: false
      })
    const publishSpan = span("NatsClient.publish", "publish", "producer")
    const requestSpan = span("NatsClient.request", "send", "client")
    const jetstreamPublishSpan = span("NatsClient.jetstream.publish", "publish", "producer")

    const payloadTooLarge = (subject: string, size: number) =>
      fail(
        new NatsError.PayloadTooLarge({
          size,
          maxPayload: serverInfo.maxPayload,
          message: `a message of ${size} bytes to '${subject}' exceeds the server's max_payload of ${serverInfo.maxPayload} bytes`
        })
      )

    const checkPublish = (subject: string, size: number): NatsError.NatsError | undefined => {
      const problem = publishProblem(subject)
      if (problem !== undefined) return fail(new NatsError.InvalidSubject({ subject, message: problem }))
      return size > serverInfo.maxPayload ? payloadTooLarge(subject, size) : undefined
    }

    const publishError = (
      cause: unknown,
      context: ErrorContext,
      size: number,
      hdrs: MsgHdrs | undefined
    ): NatsError.NatsError => {
      const subject = context.subject ?? ""
      if (cause instanceof InvalidArgumentError) {
        // With headers the message can exceed max_payload though the data does not.
        return cause.message.includes("max_payload")
          ? payloadTooLarge(subject, size + (hdrs instanceof MsgHdrsImpl ? hdrs.encode().length : 0))
          : fail(new NatsError.EncodeError({ subject, message: cause.message }))
      }
      return fromNatsJs(cause, context)
    }

    // Publish headers converted up front: a bad header name is an EncodeError.
    const convertHeaders = (
      input: Parameters<typeof toMsgHdrs>[0] | undefined,
      context: ErrorContext
    ): MsgHdrs | undefined | NatsError.NatsError => {
      if (input === undefined) return undefined
      try {
        return toMsgHdrs(input)
      } catch (cause) {
        return publishError(cause, context, 0, undefined)
      }
    }

    const replyProblem = (reply: string): NatsError.NatsError | undefined => {
      const problem = publishProblem(reply)
      return problem === undefined
        ? undefined
        : fail(new NatsError.InvalidSubject({ subject: reply, message: `reply subject: ${problem}` }))
    }

    const publish: NatsClient["Service"]["publish"] = (subject, data, options) => {
      const context = { operation: "publish", subject }
      const invalid = checkPublish(subject, data.length) ??
        (options?.reply === undefined ? undefined : replyProblem(options.reply))
      if (invalid !== undefined) return publishSpan(subject, data.length)(Effect.fail(invalid))
      const hdrs = convertHeaders(options?.headers, context)
      if (NatsError.isNatsError(hdrs)) return publishSpan(subject, data.length)(Effect.fail(hdrs))
      return publishSpan(subject, data.length)(Effect.try({
        try: () =>
          hdrs === undefined && options?.reply === undefined
            ? nc.publish(subject, data)
            : nc.publish(subject, data, {
              ...(hdrs !== undefined ? { headers: hdrs } : {}),
              ...(options?.reply !== undefined ? { reply: options.reply } : {})
            }),
        catch: (cause) => publishError(cause, context, data.length, hdrs)
      }))
    }

    const subscribe: NatsClient["Service"]["subscribe"] = (subject, options) =>
      Effect.gen(function*() {
        const context = { operation: "subscribe", subject }
        const problem = subscribeProblem(subject) ??
          (options?.queue === undefined ? undefined : queueProblem(options.queue))
        if (problem !== undefined) {
          return yield* Effect.fail(fail(new NatsError.InvalidSubject({ subject, message: problem })))
        }
        // nats.js buffers a core subscription without bound (the server
        // pushes); the queue mirrors that, and lets the Stream read in chunks.
        const messages = yield* Queue.unbounded<Msg, NatsError.NatsError | Cause.Done>()
        let refused: unknown
        const sub = yield* Effect.acquireRelease(
          Effect.try({
            try: () =>
              nc.subscribe(subject, {
                ...(options?.queue !== undefined ? { queue: options.queue } : {}),
                callback: (error, msg) => {
                  if (error === null) Queue.offerUnsafe(messages, toMsg(msg))
                  else refused = error
                }
              }),
            catch: (cause) => fromNatsJs(cause, context)
          }),
          (sub) => Effect.sync(() => sub.isClosed() || sub.unsubscribe())
        )
        // The server refuses a subscription (permissions) after the fact, before
        // it answers a later round trip: after a flush, it is live or refused.
        yield* Effect.tryPromise({ try: () => nc.flush(), catch: (cause) => fromNatsJs(cause, context) })
        if (refused !== undefined) return yield* Effect.fail(fromNatsJs(refused, context))
        sub.closed.then((error) => {
          if (error instanceof Error) Queue.failCauseUnsafe(messages, Cause.fail(fromNatsJs(error, context)))
          else Queue.endUnsafe(messages)
        })
        return Stream.fromQueue(messages).pipe(
          Stream.ensuring(Effect.sync(() => sub.isClosed() || sub.unsubscribe()))
        )
      })

    const request: NatsClient["Service"]["request"] = (subject, data, options) => {
      const context = { operation: "request", subject }
      const invalid = checkPublish(subject, data.length)
      if (invalid !== undefined) return requestSpan(subject, data.length)(Effect.fail(invalid))
      const hdrs = convertHeaders(options?.headers, context)
      if (NatsError.isNatsError(hdrs)) return requestSpan(subject, data.length)(Effect.fail(hdrs))
      const timeout = Duration.toMillis(options?.timeout ?? defaultRequestTimeout)
      return requestSpan(subject, data.length)(Effect.tryPromise({
        try: () => nc.request(subject, data, hdrs === undefined ? { timeout } : { timeout, headers: hdrs }),
        catch: (cause) => publishError(cause, context, data.length, hdrs)
      }).pipe(Effect.map(toMsg)))
    }

    const flush = Effect.tryPromise({
      try: () => nc.flush(),
      catch: (cause) => fromNatsJs(cause, { operation: "flush" })
    })

    const jetstream = JetStream.make({
      api: JetStreamApi.make(nc, Duration.toMillis(options.jetstreamTimeout ?? Duration.seconds(5))),
      jetstreamEnabled: () => serverInfo.jetstream,
      checkPublish,
      publishError,
      span: (subject, size) => jetstreamPublishSpan(subject, size)
    })

    return {
      get server() {
        return serverInfo
      },
      adapter: "nats.js",
      publish,
      subscribe,
      request,
      flush,
      jetstream
    } satisfies NatsClient["Service"]
  })

const logStatus = (status: Status): Effect.Effect<void> => {
  switch (status.type) {
    case "disconnect":
      return Effect.logWarning(`NATS disconnected from ${status.server}`)
    case "reconnecting":
      return Effect.logDebug("NATS reconnecting")
    case "reconnect":
      return Effect.logInfo(`NATS reconnected to ${status.server}`)
    case "error":
      return Effect.logError("NATS asynchronous error", status.error)
    case "ldm":
      return Effect.logWarning(`NATS server ${status.server} entered lame duck mode`)
    case "staleConnection":
      return Effect.logWarning("NATS connection is stale")
    case "slowConsumer":
      return Effect.logWarning(
        `NATS slow consumer on '${status.sub.getSubject()}': ${status.pending} messages pending`
      )
    case "update":
      return Effect.logDebug("NATS cluster update", { added: status.added, deleted: status.deleted })
    case "forceReconnect":
      return Effect.logInfo("NATS reconnect forced")
    case "close":
      return Effect.logDebug("NATS connection closed")
    case "ping":
      return Effect.void
  }
}
