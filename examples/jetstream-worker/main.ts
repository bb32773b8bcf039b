// `node examples/jetstream-worker/main.ts`: the work queue demo against
// NATS_URL when it is set, else on the in-memory NATS. Exits 0 once every job
// is done or dead-lettered. Logs per LOG_LEVEL / LOG_FORMAT (pretty, json, logfmt).
import { NodeRuntime } from "@effect/platform-node"
import { NatsLogger } from "@nats-effect/core"
import { Effect } from "effect"
import { Nats } from "../nats.ts"
import { run } from "./src/app.ts"

run(Nats).pipe(
  Effect.tap(({ deadLetters, done }) =>
    Effect.log(`done: ${done.join(", ")}; dead-lettered: ${deadLetters.map((letter) => letter.image).join(", ")}`)
  ),
  Effect.provide(NatsLogger.layerConfig()),
  NodeRuntime.runMain
)
