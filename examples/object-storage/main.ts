// `pnpm example`: the object storage demo against NATS_URL when it is set,
// else on the in-memory NATS. Exits 0 once the handler has read `File mock`.
import { NodeRuntime } from "@effect/platform-node"
import { NatsClient } from "@nats-effect/core"
import { Effect } from "effect"
import { run } from "./src/app.ts"

const nats = process.env["NATS_URL"] ? NatsClient.layerConfig() : NatsClient.layerMemory()

run(nats).pipe(
  Effect.tap(({ file, message }) => Effect.log(`the handler got ${JSON.stringify(message)} and read ${JSON.stringify(file)}`)),
  NodeRuntime.runMain
)
