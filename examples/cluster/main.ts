// `node examples/cluster/main.ts`: the shop on Effect Cluster, two runners
// and a client on the NATS at NATS_URL when it is set, else on the
// in-memory NATS. Exits once the order is checked out.
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { Nats } from "../nats.ts"
import { run } from "./src/demo.ts"

run(Nats).pipe(Effect.asVoid, NodeRuntime.runMain)
