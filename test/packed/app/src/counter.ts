// Effect Cluster on NATS, as a user writes it: an entity, a runner, a client.
import { NatsCluster } from "@nats-effect/cluster"
import type { NatsClient } from "@nats-effect/core"
import { Effect, Layer, Schema } from "effect"
import { ClusterSchema, Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"

export const Counter = Entity.make("Counter", [
  Rpc.make("Increment", { payload: { by: Schema.Int }, success: Schema.Int }).annotate(ClusterSchema.Persisted, true)
])

const CounterLive = Counter.toLayer(Effect.sync(() => {
  let count = 0
  return Counter.of({ Increment: ({ payload }) => Effect.succeed(count += payload.by) })
}))

/** A runner of the counters; needs a NatsClient. */
export const Runner = (nats: Layer.Layer<NatsClient.NatsClient>) =>
  CounterLive.pipe(Layer.provideMerge(NatsCluster.layer()), Layer.provide(nats))

export const increment = (id: string) => Effect.flatMap(Counter.client, (client) => client(id).Increment({ by: 1 }))
