/**
 * The server side: an `RpcServer.Protocol` on a service subject (in a queue
 * group when given) and on a subject of its own, where the calls it took get
 * their acks, interrupts and pings. See `wire.ts` for the messages.
 */
import { NatsClient, type NatsError, NatsHeaders } from "@nats-effect/core"
import { Clock, Duration, Effect, Queue, Result, Schema, type Scope, Stream } from "effect"
import { RpcMessage, RpcSerialization, RpcServer } from "effect/rpc"
import * as Wire from "./wire.ts"

export interface ServerOptions {
  readonly subject: string
  readonly queue?: string | undefined
  readonly clientTimeout?: Duration.Input | undefined
  readonly inboxPrefix?: string | undefined
}

interface Client {
  readonly id: number
  readonly inbox: string
  /** One per client: JSON-RPC pairs a batch's responses with its requests in the parser. */
  parser: RpcSerialization.Parser
  lastSeen: number
}

export const make = (
  options: ServerOptions
): Effect.Effect<
  RpcServer.Protocol["Service"],
  NatsError.NatsError,
  NatsClient.NatsClient | RpcSerialization.RpcSerialization | Scope.Scope
> =>
  Effect.gen(function*() {
    const nats = yield* NatsClient.NatsClient
    const serialization = yield* RpcSerialization.RpcSerialization
    const clock = yield* Clock.Clock
    const encodeDefect = Schema.encodeSync(serialization.codecFor(Schema.Defect()))
    const clientTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.clientTimeout ?? defaultClientTimeout))
    const replica = Wire.inbox(options.inboxPrefix ?? Wire.defaultInboxPrefix)
    const fromReplica = { [Wire.serverHeader]: replica }
    const disconnects = yield* Queue.unbounded<number>()

    const byInbox = new Map<string, Client>()
    const byId = new Map<number, Client>()
    let nextId = 0

    const clientFor = (inbox: string): Client => {
      const now = clock.currentTimeMillisUnsafe()
      let client = byInbox.get(inbox)
      if (client === undefined) {
        client = { id: nextId++, inbox, parser: serialization.makeUnsafe(), lastSeen: now }
        byInbox.set(inbox, client)
        byId.set(client.id, client)
      }
      client.lastSeen = now
      return client
    }

    const forget = (client: Client) => {
      byInbox.delete(client.inbox)
      byId.delete(client.id)
    }

    const send = (client: Client, response: RpcMessage.FromServerEncoded): Effect.Effect<void> => {
      let encoded: Uint8Array | string | undefined
      try {
        encoded = client.parser.encode(response)
      } catch (cause) {
        encoded = client.parser.encode(RpcMessage.ResponseDefectEncoded(encodeDefect(cause)))
      }
      if (encoded === undefined) return Effect.void
      // A failed publish (connection closed, a reply over max_payload) is the
      // server's defect: RpcServer answers the call with it where it can.
      return Effect.orDie(nats.publish(client.inbox, Wire.toBytes(encoded), { headers: fromReplica }))
    }

    const decode = (client: Client, data: Uint8Array): Result.Result<ReadonlyArray<RpcMessage.FromClientEncoded>, unknown> => {
      try {
        return Result.succeed(client.parser.decode(data) as ReadonlyArray<RpcMessage.FromClientEncoded>)
      } catch (cause) {
        return Result.fail(cause)
      }
    }

    /**
     * The call's messages, or why it cannot be taken: it must be in this
     * serialization, and whole. A parser left holding part of a frame is
     * replaced, so the client's next call is read afresh.
     */
    const readCall = (client: Client, msg: NatsClient.Msg): Result.Result<ReadonlyArray<RpcMessage.FromClientEncoded>, string> => {
      const contentType = NatsHeaders.get(msg.headers, Wire.contentTypeHeader)
      if (contentType !== undefined && contentType !== serialization.contentType) {
        return Result.fail(`the RPC server on ${msg.subject} reads ${serialization.contentType}, not ${contentType}`)
      }
      const decoded = decode(client, msg.data)
      if (Result.isSuccess(decoded) && decoded.success.length > 0) return Result.succeed(decoded.success)
      client.parser = serialization.makeUnsafe()
      return Result.fail(
        Result.isFailure(decoded)
          ? `the RPC server on ${msg.subject} cannot decode the call: ${decoded.failure}`
          : `the RPC server on ${msg.subject} found no whole message in the call: is its RpcSerialization the client's?`
      )
    }

    return yield* RpcServer.Protocol.make(Effect.fnUntraced(function*(writeRequest) {
      const write = (client: Client, messages: ReadonlyArray<RpcMessage.FromClientEncoded>) =>
        Effect.forEach(messages, (message) => writeRequest(client.id, message), { discard: true })

      // A call: take it (the empty reply names this replica), then hand it to the server.
      const onRequest = (msg: NatsClient.Msg): Effect.Effect<void> => {
        const inbox = NatsHeaders.get(msg.headers, Wire.clientHeader)
        if (inbox === undefined || msg.reply === undefined) {
          return Effect.logDebug(`dropped a message on ${msg.subject} that is no RPC call`)
        }
        const client = clientFor(inbox)
        const call = readCall(client, msg)
        const answer = Result.isSuccess(call)
          ? Effect.andThen(nats.publish(msg.reply, Wire.empty, { headers: fromReplica }), write(client, call.success))
          : nats.publish(msg.reply, Wire.fromText(call.failure), {
            headers: { ...fromReplica, [Wire.opHeader]: Wire.refused }
          })
        return Effect.catch(answer, (error) => Effect.logWarning(`could not answer an RPC call on ${msg.subject}`, error))
      }

      // A message about a call already taken; one that cannot be read fails the client's calls here.
      const deliver = (client: Client, data: Uint8Array): Effect.Effect<void> => {
        const decoded = decode(client, data)
        return Result.isSuccess(decoded)
          ? write(client, decoded.success)
          : send(client, RpcMessage.ResponseDefectEncoded(encodeDefect(decoded.failure)))
      }

      // Acks, interrupts, pings and goodbyes of the calls this replica took.
      const onControl = (msg: NatsClient.Msg): Effect.Effect<void> => {
        const inbox = NatsHeaders.get(msg.headers, Wire.clientHeader)
        if (inbox === undefined) return Effect.void
        switch (NatsHeaders.get(msg.headers, Wire.opHeader)) {
          case Wire.ping: {
            const client = byInbox.get(inbox)
            if (client !== undefined) client.lastSeen = clock.currentTimeMillisUnsafe()
            if (msg.reply === undefined) return Effect.void
            const answer = client === undefined ? { [Wire.opHeader]: Wire.gone } : undefined
            return Effect.ignore(nats.publish(msg.reply, Wire.empty, { headers: answer }))
          }
          case Wire.disconnect: {
            const client = byInbox.get(inbox)
            if (client === undefined) return Effect.void
            forget(client)
            return Queue.offer(disconnects, client.id)
          }
          default:
            return deliver(clientFor(inbox), msg.data)
        }
      }

      // A client silent for `clientTimeout` is gone: its calls are interrupted.
      const sweep = Effect.suspend(() => {
        const deadline = clock.currentTimeMillisUnsafe() - clientTimeout
        const silent = Array.from(byId.values()).filter((client) => client.lastSeen < deadline)
        for (const client of silent) forget(client)
        return Queue.offerAll(disconnects, silent.map((client) => client.id))
      })

      const requests = yield* nats.subscribe(options.subject, { queue: options.queue })
      const control = yield* nats.subscribe(replica)
      yield* Effect.forkScoped(Stream.runForEach(requests, onRequest))
      yield* Effect.forkScoped(Stream.runForEach(control, onControl))
      yield* Effect.forkScoped(
        Effect.forever(Effect.andThen(Effect.sleep(Duration.millis(clientTimeout / 5)), sweep))
      )

      return {
        disconnects,
        send: (clientId, response) => {
          const client = byId.get(clientId)
          return client === undefined ? Effect.void : send(client, response)
        },
        end: (clientId) =>
          Effect.sync(() => {
            const client = byId.get(clientId)
            if (client !== undefined) forget(client)
          }),
        clientIds: Effect.sync(() => new Set(byId.keys())),
        initialMessage: Effect.succeedNone,
        supportsAck: true,
        supportsTransferables: false,
        supportsSpanPropagation: true,
        supportsNotifications: true,
        codecFor: serialization.codecFor
      }
    })).pipe(Effect.annotateLogs({ "rpc.subject": options.subject }))
  })

export const defaultClientTimeout = Duration.seconds(5)
