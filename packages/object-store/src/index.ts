/**
 * @nats-effect/object-store: chunked streaming object storage on JetStream,
 * wire-compatible with the NATS object store (ADR-20).
 *
 * @module @nats-effect/object-store
 */
export * as ObjectStore from "./ObjectStore.ts"
export * as ObjectStoreError from "./ObjectStoreError.ts"
