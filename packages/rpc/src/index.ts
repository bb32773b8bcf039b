/**
 * @nats-effect/rpc: Effect RPC over NATS, the server and client protocols on
 * request/reply and queue groups.
 *
 * @module @nats-effect/rpc
 */
export * as NatsRpc from "./NatsRpc.ts"
