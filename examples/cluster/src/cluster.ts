/**
 * The shop's processes as layers, on whatever NATS they are given: a runner
 * (the cart entity and the checkout workflow, on `NatsCluster.layer`), and a
 * client that only sends to them (`NatsCluster.layerClientOnly`).
 */
import { NatsCluster } from "@nats-effect/cluster"
import { NatsBroker, type NatsClient, type NatsError } from "@nats-effect/core"
import type { KeyValueError } from "@nats-effect/kv"
import { Layer } from "effect"
import { ClusterWorkflowEngine, type MessageStorage, type Runners, type Sharding } from "effect/cluster"
import type { WorkflowEngine } from "effect/workflow"
import { Carts, RunnerName, Shop } from "./shop.ts"

/** What a runner or a client gives the code around it. */
export type Cluster = Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage

/**
 * A runner named `name`. Fresh: several in one process (as in the demo and
 * its test) each build their own cluster services.
 */
export const runner = (
  name: string,
  options: NatsCluster.ClusterOptions = {}
): Layer.Layer<Cluster, KeyValueError.KeyValueError | NatsError.NatsError, NatsClient.NatsClient> =>
  Layer.fresh(
    Shop.pipe(
      Layer.provide(ClusterWorkflowEngine.layer),
      Layer.provideMerge(NatsCluster.layer(options)),
      Layer.provide([Carts.layer, NatsBroker.layer, Layer.succeed(RunnerName, name)])
    )
  )

/** Sends to carts and starts checkouts (`Cart.client`, `Checkout.execute`), running neither. */
export const client = (
  options: NatsCluster.ClusterOptions = {}
): Layer.Layer<Cluster | WorkflowEngine.WorkflowEngine, KeyValueError.KeyValueError, NatsClient.NatsClient> =>
  ClusterWorkflowEngine.layer.pipe(Layer.provideMerge(NatsCluster.layerClientOnly(options)))
