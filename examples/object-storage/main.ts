// `pnpm example`: the object storage demo against NATS_URL when it is set,
// else on the in-memory NATS. Exits 0 once the handler has read `File mock`
// (and the object watcher has logged it).
// Logs per LOG_LEVEL / LOG_FORMAT (pretty, json, logfmt).
import { NodeRuntime } from "@effect/platform-node"
import { NatsLogger } from "@nats-effect/core"
import { Effect } from "effect"
import { Nats } from "../nats.ts"
import { run } from "./src/app.ts"

run(Nats).pipe(
  Effect.tap(({ file, message }) => Effect.log(`the handler got ${JSON.stringify(message)} and read ${JSON.stringify(file)}`)),
  Effect.provide(NatsLogger.layerConfig()),
  NodeRuntime.runMain
)
