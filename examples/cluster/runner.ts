// `node examples/cluster/runner.ts`: one runner of the shop, on the NATS at
// NATS_URL (runners in separate processes share a real server). Start two,
// kill one (`kill -9`): the other takes its carts and checkouts over within
// 30 seconds. RUNNER_NAME names it in replies and logs; it prints
// "runner <name> ready" once it serves.
import { NodeRuntime } from "@effect/platform-node"
import { NatsClient } from "@nats-effect/core"
import { Effect, Layer } from "effect"
import { hostname } from "node:os"
import { runner } from "./src/cluster.ts"

const name = process.env["RUNNER_NAME"] ?? `${hostname()}-${process.pid}`

Layer.effectDiscard(Effect.log(`runner ${name} ready`)).pipe(
  Layer.provideMerge(runner(name)),
  Layer.provide(NatsClient.layerConfig()),
  Layer.launch,
  NodeRuntime.runMain
)
