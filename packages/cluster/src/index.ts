/**
 * @nats-effect/cluster: Effect Cluster on NATS, runner-to-runner RPC over
 * NATS, runner registration and shard locks in a KV bucket, durable messages
 * in JetStream.
 *
 * @module @nats-effect/cluster
 */
export * as NatsCluster from "./NatsCluster.ts"
