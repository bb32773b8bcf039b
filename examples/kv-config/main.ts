// `node examples/kv-config/main.ts`: the feature flags demo on the NATS at
// NATS_URL when it is set, else on the in-memory NATS. Logs per LOG_LEVEL /
// LOG_FORMAT (pretty, json, logfmt); exits 0 once the demo has run.
import { NodeRuntime } from "@effect/platform-node"
import { NatsLogger } from "@nats-effect/core"
import { Effect } from "effect"
import { Nats } from "../nats.ts"
import { run } from "./src/app.ts"

run(Nats).pipe(
  Effect.tap((result) => Effect.log(`demo done: ${JSON.stringify(result)}`)),
  Effect.provide(NatsLogger.layerConfig()),
  NodeRuntime.runMain
)
