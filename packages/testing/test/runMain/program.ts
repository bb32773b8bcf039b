// A program run with `NodeRuntime.runMain`, as a user's would be, that fails
// in the way its argument names; `runMain.test.ts` runs it as a child process.
import { NodeRuntime } from "@effect/platform-node"
import { NatsClient } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { Effect, Layer } from "effect"

const [failure = "", url = ""] = process.argv.slice(2)

const programs: Record<string, Effect.Effect<unknown, unknown>> = {
  /** An expected failure: no server at `url`. */
  connection: Layer.launch(NatsClient.layer({ servers: url })),
  /** An expected failure of the object store: no such object. */
  "object-not-found": ObjectStore.make({ bucket: "files" }).pipe(
    Effect.flatMap((bucket) => bucket.getBytes("missing")),
    Effect.scoped,
    Effect.provide(NatsClient.layerMemory())
  ),
  /** A bug: a defect. */
  defect: Effect.die(new Error("a bug in the app"))
}

NodeRuntime.runMain(programs[failure] ?? Effect.die(new Error(`unknown failure "${failure}"`)))
