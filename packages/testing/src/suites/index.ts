/**
 * The conformance suites every `NatsClient` adapter passes, for vitest with
 * `@effect/vitest`. Run them against a new adapter (a driver given to
 * `NatsClient.make`) to prove it behaves as nats-server does:
 *
 * ```ts
 * import { NatsClientSuite } from "@nats-effect/testing/suites"
 * NatsClientSuite.suite({ name: "my-adapter", layer: () => MyAdapter.layer() })
 * ```
 *
 * `ObjectStoreSuite` and `ObjectWatcherSuite` need `@nats-effect/object-store` installed, `KeyValueSuite`,
 * `KeyValueWatcherSuite` and `KeyValueStoreSuite` `@nats-effect/kv`.
 *
 * @since 0.1.0
 * @module @nats-effect/testing/suites
 */
export * as JetStreamSuite from "./JetStreamSuite.ts"
export * as KeyValueStoreSuite from "./KeyValueStoreSuite.ts"
export * as KeyValueSuite from "./KeyValueSuite.ts"
export * as KeyValueWatcherSuite from "./KeyValueWatcherSuite.ts"
export * as NatsBrokerJetStreamSuite from "./NatsBrokerJetStreamSuite.ts"
export * as NatsBrokerSuite from "./NatsBrokerSuite.ts"
export * as NatsClientSuite from "./NatsClientSuite.ts"
export * as ObjectStoreSuite from "./ObjectStoreSuite.ts"
export * as ObjectWatcherSuite from "./ObjectWatcherSuite.ts"
export * as NatsBrokerMiddlewareSuite from "./NatsBrokerMiddlewareSuite.ts"
