// `pnpm example`: the object storage demo against NATS_URL when it is set,
// else on the in-memory NATS. Exits 0 once the handler has read `File mock`.
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { Nats } from "../nats.ts"
import { run } from "./src/app.ts"

run(Nats).pipe(
  Effect.tap(({ file, message }) => Effect.log(`the handler got ${JSON.stringify(message)} and read ${JSON.stringify(file)}`)),
  NodeRuntime.runMain
)
