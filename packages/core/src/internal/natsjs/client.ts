/**
 * The nats.js driver of `NatsClient`: connects with `@nats-io/transport-node`
 * as a scoped resource (drained on release), logs the connection's status
 * through Effect's logger, and moves what the port hands it through nats.js
 * and the JetStream API (the port's rules are `NatsClient.make`'s).
 */
import * as Fs from "node:fs/promises"
import {
  AuthorizationError,
  type Authenticator,
  type ConnectionOptions,
  credsAuthenticator,
  type Msg as NatsJsMsg,
  type NatsConnection,
  nkeyAuthenticator,
  type ServerInfo as NatsJsServerInfo,
  type Status,
  UserAuthenticationExpiredError
} from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { Cause, Duration, Effect, Queue, Redacted, type Scope, Stream } from "effect"
import type { Driver, Msg, NatsClientOptions, OutgoingMsg, ServerInfo } from "../../NatsClient.ts"
import * as NatsError from "../../NatsError.ts"
import { fail, messageOf } from "../apiErrors.ts"
import { fromNatsJs } from "./errors.ts"
import { fromMsgHdrs, toMsgHdrs } from "./headers.ts"
import * as JetStream from "./jetstream.ts"
import * as JetStreamApi from "./jsapi.ts"
import * as Servers from "./servers.ts"

const defaultServers = "nats://127.0.0.1:4222"
// Bounds the drain on release: a drain waits for the server, which may be gone.
const drainTimeout = Duration.seconds(10)

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

const toConnectionOptions = Effect.fnUntraced(function*(options: NatsClientOptions, servers: Servers.Servers) {
  const authenticators: Array<Authenticator> = []
  if (options.nkeySeed !== undefined) {
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(Redacted.value(options.nkeySeed))))
  }
  if (options.credsFile !== undefined) authenticators.push(credsAuthenticator(yield* readCreds(options.credsFile)))
  // Credentials given as options win over those in a URL.
  const user = options.user ?? servers.user
  const pass = options.pass ?? servers.pass
  const token = options.token ?? servers.token
  const connection: ConnectionOptions = {
    servers: [...servers.urls],
    timeout: Duration.toMillis(options.timeout ?? Duration.seconds(5)),
    reconnect: options.reconnect ?? true,
    maxReconnectAttempts: options.maxReconnectAttempts ?? -1,
    reconnectTimeWait: Duration.toMillis(options.reconnectTimeWait ?? Duration.seconds(2)),
    // nats.js would build an Error per request and timer for the stack of a failure that
    // we report as a NatsError without it: a tenth of a KV get's CPU time.
    noAsyncTraces: true
  }
  if (options.name !== undefined) connection.name = options.name
  if (user !== undefined) connection.user = user
  if (pass !== undefined) connection.pass = Redacted.value(pass)
  if (token !== undefined) connection.token = Redacted.value(token)
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

const defaultMaxControlLine = 4096

const toServerInfo = (info: NatsJsServerInfo & { readonly max_control_line?: number }): ServerInfo => ({
  serverId: info.server_id,
  version: info.version,
  maxPayload: info.max_payload,
  // nats-server does not announce it in INFO today; its default is 4,096.
  maxControlLine: info.max_control_line ?? defaultMaxControlLine,
  jetstream: info.jetstream === true
})

const sendOptions = (msg: OutgoingMsg) => ({
  ...(msg.headers !== undefined ? { headers: toMsgHdrs(msg.headers) } : {}),
  ...(msg.reply !== undefined ? { reply: msg.reply } : {})
})

const toMsg = (msg: NatsJsMsg): Msg => ({
  subject: msg.subject,
  data: msg.data,
  headers: fromMsgHdrs(msg.headers),
  reply: msg.reply || undefined
})

/** Connects, and makes a `NatsClient` driver of the connection. */
export const make = (options: NatsClientOptions): Effect.Effect<Driver, NatsError.NatsError, Scope.Scope> =>
  Effect.gen(function*() {
    const parsed = yield* Effect.fromResult(Servers.parse(options.servers ?? defaultServers))
    const connectionOptions = yield* toConnectionOptions(options, parsed)
    // Without user info (taken out into the options): shown in logs and errors.
    const servers = parsed.urls.join(",")
    let connected = true
    const nc: NatsConnection = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => connect(connectionOptions),
        catch: (cause) => connectionFailure(servers, cause)
      }),
      (nc) => {
        // Drain (deliver what was received, flush what was sent) while the
        // server is there; otherwise, or when the drain fails, just close.
        const close = Effect.ignore(Effect.tryPromise(() => nc.close()))
        return connected
          ? Effect.tryPromise(() => nc.drain()).pipe(Effect.timeout(drainTimeout), Effect.catch(() => close))
          : close
      }
    )

    let serverInfo = toServerInfo(nc.info!)
    // nats.js reports the server in use as host:port, never with user info.
    yield* Effect.logInfo(
      `connected to NATS at nats://${nc.getServer()} ` +
        `(nats-server ${serverInfo.version}, JetStream ${serverInfo.jetstream ? "on" : "off"})`
    )

    yield* Stream.fromAsyncIterable(nc.status(), (cause) => cause).pipe(
      Stream.runForEach((status) => {
        switch (status.type) {
          case "disconnect":
            connected = false
            break
          case "reconnect":
            connected = true
            if (nc.info !== undefined) serverInfo = toServerInfo(nc.info)
            break
        }
        return logStatus(status)
      }),
      Effect.ignore,
      Effect.annotateLogs({ "nats.servers": servers }),
      Effect.forkScoped
    )

    const publish: Driver["publish"] = (msg) =>
      Effect.try({
        try: () =>
          msg.headers === undefined && msg.reply === undefined
            ? nc.publish(msg.subject, msg.data)
            : nc.publish(msg.subject, msg.data, sendOptions(msg)),
        catch: (cause) => fromNatsJs(cause, { operation: "publish", subject: msg.subject })
      })

    const subscribe: Driver["subscribe"] = (subject, queue) =>
      Effect.gen(function*() {
        const context = { operation: "subscribe", subject }
        // nats.js buffers a core subscription without bound (the server
        // pushes); the queue mirrors that, and lets the Stream read in chunks.
        const messages = yield* Queue.unbounded<Msg, NatsError.NatsError | Cause.Done>()
        let refused: unknown
        const sub = yield* Effect.acquireRelease(
          Effect.try({
            try: () =>
              nc.subscribe(subject, {
                ...(queue !== undefined ? { queue } : {}),
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

    const request: Driver["request"] = (msg, timeout) =>
      Effect.tryPromise({
        try: () =>
          nc.request(msg.subject, msg.data, {
            timeout: Duration.toMillis(timeout),
            ...(msg.headers !== undefined ? { headers: toMsgHdrs(msg.headers) } : {})
          }),
        catch: (cause) => fromNatsJs(cause, { operation: "request", subject: msg.subject })
      }).pipe(Effect.map(toMsg))

    const flush = Effect.tryPromise({
      try: () => nc.flush(),
      catch: (cause) => fromNatsJs(cause, { operation: "flush" })
    })

    const api = JetStreamApi.make(nc, Duration.toMillis(options.jetstreamTimeout ?? Duration.seconds(5)))
    return {
      server: () => serverInfo,
      adapter: "nats.js",
      publish,
      subscribe,
      request,
      flush,
      jetstream: JetStream.make(api, () => serverInfo.jetstream)
    } satisfies Driver
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
