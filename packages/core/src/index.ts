/**
 * @nats-effect/core: NATS for Effect.
 */
export * as NatsClient from "./NatsClient.ts"
export * as NatsError from "./NatsError.ts"
export * as NatsHeaders from "./NatsHeaders.ts"
