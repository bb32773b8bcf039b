/**
 * The client side: an `RpcClient.Protocol` that sends each call as a NATS
 * request to the service subject, learns from the answer which replica took
 * it, and follows the call there (acks, interrupts, pings) until its exit
 * arrives in the client's inbox. See `wire.ts` for the messages.
 *
 * A call whose replica goes away fails with an `RpcClientError` whose cause is
 * the NATS failure that showed it (no responders to a ping, a ping timed out,
 * the connection lost): the protocol's `send` of the request stays pending
 * while the call is in flight, and failing it fails the call alone, as
 * `RpcClient` ends a call whose send failed.
 */
import { NatsClient, NatsHeaders } from "@nats-effect/core"
import { Deferred, Duration, Effect, Exit, Result, Schedule, type Scope, Stream } from "effect"
import { RpcClient, RpcClientError, type RpcMessage, RpcSerialization } from "effect/rpc"
import * as Wire from "./wire.ts"

export interface ClientOptions {
  readonly timeout?: Duration.Input | undefined
  readonly pingInterval?: Duration.Input | undefined
  readonly pingTimeout?: Duration.Input | undefined
  readonly inboxPrefix?: string | undefined
}

export const defaultTimeout = Duration.seconds(5)
export const defaultPingInterval = Duration.seconds(1)
export const defaultPingTimeout = Duration.seconds(3)

/** A call in flight, by its request id. */
interface Call {
  readonly clientId: number
  /** The replica that took it; unknown until its answer (or a first response) arrives. */
  replica: string | undefined
  /** Interrupted before the replica was known: the interrupt is sent once it is. */
  interrupted: boolean
  /** Completes when the exit arrives; fails when the replica is lost. */
  readonly done: Deferred.Deferred<void, RpcClientError.RpcClientError>
}

const clientError = (message: string, cause: unknown) =>
  new RpcClientError.RpcClientError({ reason: new RpcClientError.RpcClientDefect({ message, cause }) })

export const make = (
  subject: string,
  options: ClientOptions = {}
): Effect.Effect<
  RpcClient.Protocol["Service"],
  never,
  NatsClient.NatsClient | RpcSerialization.RpcSerialization | Scope.Scope
> =>
  RpcClient.Protocol.make(Effect.fnUntraced(function*(writeResponse) {
    const nats = yield* NatsClient.NatsClient
    const serialization = yield* RpcSerialization.RpcSerialization
    const timeout = options.timeout ?? defaultTimeout
    const pingTimeout = options.pingTimeout ?? defaultPingTimeout
    const inbox = Wire.inbox(options.inboxPrefix ?? Wire.defaultInboxPrefix)
    const fromClient = { [Wire.clientHeader]: inbox }
    const callHeaders = { ...fromClient, [Wire.contentTypeHeader]: serialization.contentType }
    // Every NATS message holds whole frames, so one parser serves every replica.
    const parser = serialization.makeUnsafe()

    const calls = new Map<string, Call>()
    const byReplica = new Map<string, Set<string>>()

    const assign = (key: string, call: Call, replica: string) => {
      call.replica = replica
      let keys = byReplica.get(replica)
      if (keys === undefined) byReplica.set(replica, keys = new Set())
      keys.add(key)
    }

    const forget = (key: string) => {
      const call = calls.get(key)
      if (call === undefined) return undefined
      calls.delete(key)
      if (call.replica !== undefined) {
        const keys = byReplica.get(call.replica)
        keys?.delete(key)
        if (keys?.size === 0) byReplica.delete(call.replica)
      }
      return call
    }

    /** Fails every call the replica has. */
    const lose = (replica: string, error: RpcClientError.RpcClientError) =>
      Effect.sync(() => {
        for (const key of byReplica.get(replica) ?? []) {
          const call = forget(key)
          if (call !== undefined) Deferred.doneUnsafe(call.done, Exit.fail(error))
        }
      })

    const encode = (message: RpcMessage.FromClientEncoded): Uint8Array => Wire.toBytes(parser.encode(message) ?? "")

    const interrupt = (replica: string, requestId: string | number) =>
      nats.publish(replica, encode({ _tag: "Interrupt", requestId }), { headers: fromClient })

    const subscribed = yield* Effect.result(nats.subscribe(inbox))
    // Without an inbox nothing can be answered: every call fails with the reason.
    const broken = Result.isFailure(subscribed)
      ? clientError(`cannot receive RPC responses for ${subject} on ${inbox}`, subscribed.failure)
      : undefined

    const onMessage = (msg: NatsClient.Msg): Effect.Effect<void> => {
      // A status message (no responders to something sent with this inbox as
      // its reply) has no body: nothing to decode, nobody to fail.
      if (msg.data.length === 0) return Effect.void
      const replica = NatsHeaders.get(msg.headers, Wire.serverHeader)
      let responses: ReadonlyArray<RpcMessage.FromServerEncoded>
      try {
        responses = parser.decode(msg.data) as ReadonlyArray<RpcMessage.FromServerEncoded>
      } catch (cause) {
        return replica === undefined
          ? Effect.logDebug(`dropped an undecodable message in the RPC inbox of ${subject}`, cause)
          : lose(replica, clientError(`cannot decode a response of ${replica}`, cause))
      }
      return Effect.forEach(responses, (response) => onResponse(replica, response), { discard: true })
    }

    // A server's defect ends the calls of every client that has some on it,
    // as a defect ends those of a socket's connection.
    const onDefect = (replica: string, defect: RpcMessage.ResponseDefectEncoded) =>
      Effect.suspend(() => {
        const clientIds = new Set<number>()
        for (const key of byReplica.get(replica) ?? []) {
          const call = forget(key)
          if (call !== undefined) clientIds.add(call.clientId)
        }
        return Effect.forEach(clientIds, (clientId) => writeResponse(clientId, defect), { discard: true })
      })

    const onResponse = (replica: string | undefined, response: RpcMessage.FromServerEncoded): Effect.Effect<void> => {
      if (response._tag === "Defect") return replica === undefined ? Effect.void : onDefect(replica, response)
      if (response._tag !== "Chunk" && response._tag !== "Exit") return Effect.void
      const key = String(response.requestId)
      const call = calls.get(key)
      if (call === undefined) {
        // A call given up (its answer too late, or interrupted meanwhile)
        // whose chunks still come: stop it, or it waits for acks forever.
        return response._tag === "Chunk" && replica !== undefined
          ? Effect.ignore(interrupt(replica, response.requestId))
          : Effect.void
      }
      if (call.replica === undefined && replica !== undefined) assign(key, call, replica)
      if (response._tag === "Chunk") return writeResponse(call.clientId, response)
      forget(key)
      return Effect.andThen(writeResponse(call.clientId, response), Deferred.succeed(call.done, undefined))
    }

    const sendRequest = (clientId: number, request: RpcMessage.RequestEncoded) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const key = String(request.id)
          const entry: Call = { clientId, replica: undefined, interrupted: false, done: Deferred.makeUnsafe() }
          calls.set(key, entry)
          // Not interruptible (it is bounded by `timeout`): an interrupt that
          // comes meanwhile is sent to the replica once it is known.
          const answer = yield* nats.request(subject, encode(request), { headers: callHeaders, timeout }).pipe(
            Effect.tapError(() => Effect.sync(() => forget(key))),
            Effect.mapError((error) =>
              clientError(
                error.reason._tag === "NoResponders"
                  ? `no RPC server on ${subject}`
                  : `the RPC request to ${subject} failed: ${error.message}`,
                error
              )
            )
          )
          const replica = NatsHeaders.get(answer.headers, Wire.serverHeader)
          if (replica === undefined || NatsHeaders.get(answer.headers, Wire.opHeader) === Wire.refused) {
            forget(key)
            return yield* clientError(
              replica === undefined ? `${subject} answered the RPC call without naming its server` : Wire.text(answer.data),
              answer
            )
          }
          if (!calls.has(key)) return // the exit came before the answer
          if (entry.replica === undefined) assign(key, entry, replica)
          if (entry.interrupted) {
            forget(key)
            return yield* Effect.ignore(interrupt(replica, request.id))
          }
          return yield* restore(Deferred.await(entry.done))
        })
      )

    const send = (
      clientId: number,
      message: RpcMessage.FromClientEncoded
    ): Effect.Effect<void, RpcClientError.RpcClientError> => {
      if (broken !== undefined) return Effect.fail(broken)
      switch (message._tag) {
        case "Request":
          return sendRequest(clientId, message)
        case "Ack":
        case "Interrupt": {
          const key = String(message.requestId)
          const call = calls.get(key)
          if (call === undefined) return Effect.void
          if (call.replica === undefined) {
            if (message._tag === "Interrupt") call.interrupted = true
            return Effect.void
          }
          const replica = call.replica
          if (message._tag === "Interrupt") forget(key)
          return nats.publish(replica, encode(message), { headers: fromClient }).pipe(
            Effect.mapError((error) => clientError(`cannot reach the RPC server ${replica}`, error))
          )
        }
        default:
          return Effect.void
      }
    }

    const ping = (replica: string) =>
      nats.request(replica, Wire.empty, {
        headers: { ...fromClient, [Wire.opHeader]: Wire.ping },
        timeout: pingTimeout
      }).pipe(
        Effect.flatMap((answer) =>
          NatsHeaders.get(answer.headers, Wire.opHeader) === Wire.gone
            ? lose(replica, clientError(`the RPC server ${replica} dropped this client, and its calls`, answer))
            : Effect.void
        ),
        Effect.catch((error) => lose(replica, clientError(`the RPC server ${replica} is gone: ${error.message}`, error)))
      )

    if (Result.isSuccess(subscribed)) {
      yield* Effect.forkScoped(Stream.runForEach(subscribed.success, onMessage))
      yield* Effect.forkScoped(
        Effect.suspend(() => Effect.forEach(Array.from(byReplica.keys()), ping, { concurrency: "unbounded", discard: true })).pipe(
          Effect.repeat(Schedule.spaced(options.pingInterval ?? defaultPingInterval))
        )
      )
      // Closing: the replicas still running calls for this client stop them now.
      yield* Effect.addFinalizer(() =>
        Effect.forEach(
          byReplica.keys(),
          (replica) =>
            Effect.ignore(
              nats.publish(replica, Wire.empty, { headers: { ...fromClient, [Wire.opHeader]: Wire.disconnect } })
            ),
          { discard: true }
        )
      )
    }

    return {
      send,
      supportsAck: true,
      supportsTransferables: false,
      codecFor: serialization.codecFor
    }
  })).pipe(Effect.annotateLogs({ "rpc.subject": subject }))

