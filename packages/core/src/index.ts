/**
 * @nats-effect/core: NATS for Effect. The `NatsClient` port and its adapters,
 * the broker with handlers as Effects, the current message as a service,
 * logging, metrics.
 *
 * @module @nats-effect/core
 */
export * as NatsBroker from "./NatsBroker.ts"
export * as NatsClient from "./NatsClient.ts"
export * as NatsError from "./NatsError.ts"
export * as NatsHeaders from "./NatsHeaders.ts"
export * as NatsLogger from "./NatsLogger.ts"
export * as NatsMessage from "./NatsMessage.ts"
export * as NatsMetrics from "./NatsMetrics.ts"
export * as NatsSubject from "./NatsSubject.ts"
export * as NatsTracing from "./NatsTracing.ts"
