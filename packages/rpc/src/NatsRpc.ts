/**
 * `NatsRpc`: Effect RPC (`effect/rpc`) over NATS. `layerProtocolServer`
 * provides the `RpcServer.Protocol` that `RpcServer.layer(MyRpcs)` serves an
 * `RpcGroup` with; `layerProtocolClient` provides the `RpcClient.Protocol`
 * that `RpcClient.make(MyRpcs)` calls it with. Both need a `NatsClient` (a
 * real server, or `NatsClient.layerMemory()` in tests) and an
 * `RpcSerialization` (json, ndjson, JSON-RPC or schema-binary).
 *
 * ```ts
 * class MathRpcs extends RpcGroup.make(
 *   Rpc.make("Add", { payload: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
 * ) {}
 *
 * const Server = RpcServer.layer(MathRpcs).pipe(
 *   Layer.provide(MathRpcs.toLayer({ Add: ({ a, b }) => Effect.succeed(a + b) })),
 *   Layer.provide(NatsRpc.layerProtocolServer({ subject: "math", queue: "math" }))
 * )
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* RpcClient.make(MathRpcs)
 *   return yield* client.Add({ a: 1, b: 2 })
 * }).pipe(Effect.provide(NatsRpc.layerProtocolClient({ subject: "math" })))
 * ```
 *
 * Replicas serving one subject in one `queue` share the calls: each call
 * goes to one of them through the queue group, and stays there (its stream
 * chunks, the client's acks and interrupts). Every feature of Effect's
 * socket protocol carries over: unary and streaming calls with backpressure
 * (a stream's next chunk waits for the client's ack), interruption from the
 * client, typed errors and defects, span propagation. Liveness goes both
 * ways: a client pings the replicas that run its calls (every second by
 * default) and a replica drops a client silent for `clientTimeout` (5
 * seconds), interrupting its calls. A call whose replica goes away fails
 * with an `RpcClientError` (its cause the NATS failure: `NoResponders` at
 * once for a process that died, a timeout for one that hangs) within
 * `pingInterval + pingTimeout` (4 seconds by default); the next call goes to
 * a live replica. A call to a subject nobody serves fails at once on NATS's
 * no-responders answer.
 *
 * `layerServer(MyRpcs, options)` does `RpcServer.layer` and the protocol in
 * one, and declares the group's RPCs as request/reply operations of the
 * app's AsyncAPI document (`NatsBroker.asyncApi`).
 *
 * @since 0.2.0
 * @module
 */
import { NatsBroker, type NatsClient, type NatsError } from "@nats-effect/core"
import type { Duration, Scope } from "effect"
import { Effect, Layer, Option } from "effect"
import { type Rpc, RpcClient, type RpcGroup, type RpcSerialization, RpcServer } from "effect/rpc"
import * as AsyncApi from "./internal/asyncapi.ts"
import * as Client from "./internal/client.ts"
import * as Server from "./internal/server.ts"

/**
 * Options of a server: the subject it serves, and its queue group.
 *
 * @since 0.2.0
 * @category options
 */
export interface ServerOptions {
  /** The subject calls are sent to. */
  readonly subject: string
  /**
   * The queue group of the replicas that share the calls; each call goes to
   * one of them. Without it every server on `subject` gets every call, and
   * the first to answer takes it.
   */
  readonly queue?: string | undefined
  /**
   * How long a client may be silent (no call, ack or ping) before its calls
   * are interrupted. Clients ping every second while they have calls here.
   * Default 5 seconds.
   */
  readonly clientTimeout?: Duration.Input | undefined
  /** The prefix of the replica's own subject (`<prefix>.<id>`, for acks and pings). Default `_INBOX`. */
  readonly inboxPrefix?: string | undefined
}

/**
 * Options of a client of one subject.
 *
 * @since 0.2.0
 * @category options
 */
export interface ClientOptions {
  /**
   * How long a call waits for a server to take it. A subject nobody serves
   * fails at once (no responders). Default 5 seconds.
   */
  readonly timeout?: Duration.Input | undefined
  /** How often the servers running this client's calls are pinged. Default 1 second. */
  readonly pingInterval?: Duration.Input | undefined
  /** How long a ping may wait for its answer before the server counts as gone. Default 3 seconds. */
  readonly pingTimeout?: Duration.Input | undefined
  /** The prefix of the client's inbox subject (`<prefix>.<id>`). Default `_INBOX`. */
  readonly inboxPrefix?: string | undefined
}

/**
 * The `RpcServer.Protocol` of a replica serving `subject`: subscribed (in
 * `queue` when given) when it completes, unsubscribed when the scope closes.
 * Fails when the subscriptions are refused (an invalid subject, no
 * permission).
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeProtocolServer: (
  options: ServerOptions
) => Effect.Effect<
  RpcServer.Protocol["Service"],
  NatsError.NatsError,
  NatsClient.NatsClient | RpcSerialization.RpcSerialization | Scope.Scope
> = Server.make

/**
 * Provides `RpcServer.Protocol` over NATS, for `RpcServer.layer(MyRpcs)`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerProtocolServer = (
  options: ServerOptions
): Layer.Layer<RpcServer.Protocol, NatsError.NatsError, NatsClient.NatsClient | RpcSerialization.RpcSerialization> =>
  Layer.effect(RpcServer.Protocol, Server.make(options))

/**
 * An `RpcClient.Protocol` calling `subject`, with an inbox of its own; one
 * per address where a process calls several (as a cluster's runners do).
 * It never fails: when its inbox cannot be subscribed, every call fails with
 * an `RpcClientError` saying why.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeProtocolClient: (
  subject: string,
  options?: ClientOptions
) => Effect.Effect<
  RpcClient.Protocol["Service"],
  never,
  NatsClient.NatsClient | RpcSerialization.RpcSerialization | Scope.Scope
> = Client.make

/**
 * Provides `RpcClient.Protocol` over NATS, for `RpcClient.make(MyRpcs)`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerProtocolClient = (
  options: ClientOptions & { readonly subject: string }
): Layer.Layer<RpcClient.Protocol, never, NatsClient.NatsClient | RpcSerialization.RpcSerialization> =>
  Layer.effect(RpcClient.Protocol, Client.make(options.subject, options))

/**
 * Options of `layerServer`: where it serves, and `RpcServer.layer`'s own.
 *
 * @since 0.2.0
 * @category options
 */
export type LayerServerOptions = ServerOptions & NonNullable<Parameters<typeof RpcServer.layer>[1]>

/**
 * Serves `group` on `subject`: `RpcServer.layer(group)` on this package's
 * protocol. When the app has a `NatsBroker`, its RPCs are also request/reply
 * operations of the app's AsyncAPI document (`NatsBroker.asyncApi`): one
 * `receive` operation per RPC on the channel of `subject` (in the queue
 * group's binding), its request and its replies (exit, stream chunks) as
 * JSON serializations encode them, `x-effect-rpc` naming the RPC.
 *
 * <!-- prelude: rpc-math -->
 * ```ts
 * const Server = NatsRpc.layerServer(MathRpcs, { subject: "math", queue: "math" }).pipe(
 *   Layer.provide(MathRpcs.toLayer({ Add: ({ a, b }) => Effect.succeed(a + b) }))
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerServer = <Rpcs extends Rpc.Any>(
  group: RpcGroup.RpcGroup<Rpcs>,
  options: LayerServerOptions
): Layer.Layer<
  never,
  NatsError.NatsError,
  | NatsClient.NatsClient
  | RpcSerialization.RpcSerialization
  | Rpc.ToHandler<Rpcs>
  | Rpc.Middleware<Rpcs>
  | Rpc.ServicesServer<Rpcs>
> =>
  Layer.merge(
    RpcServer.layer(group, options).pipe(Layer.provide(layerProtocolServer(options))),
    Layer.effectDiscard(Effect.gen(function*() {
      const broker = yield* Effect.serviceOption(NatsBroker.NatsBroker)
      if (Option.isNone(broker)) return
      yield* Effect.forEach(AsyncApi.endpoints(group, options), broker.value.register, { discard: true })
    }))
  )
