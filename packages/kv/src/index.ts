/**
 * @nats-effect/kv: key-value stores on JetStream, wire-compatible with the
 * NATS KV (ADR-8).
 *
 * @module @nats-effect/kv
 */
export * as KeyValue from "./KeyValue.ts"
export * as KeyValueError from "./KeyValueError.ts"
