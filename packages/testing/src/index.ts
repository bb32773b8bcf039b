/**
 * @nats-effect/testing: a real nats-server harness, the conformance suites run
 * against every adapter, and helpers to test applications on the in-memory NATS.
 *
 * @module @nats-effect/testing
 */
export * as Adapters from "./Adapters.ts"
export * as NatsServer from "./NatsServer.ts"
export * as NatsTest from "./NatsTest.ts"
export * as NodeProcess from "./NodeProcess.ts"
