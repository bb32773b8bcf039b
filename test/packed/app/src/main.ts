// Runs on the in-memory NATS, or on the server in NATS_URL when it is set.
import { NodeRuntime } from "@effect/platform-node"
import { NatsBroker, NatsClient } from "@nats-effect/core"
import { Effect, Layer, Schema } from "effect"
import { App, Greeting } from "./app.js"
import { add, MathServer } from "./math.js"

const Nats = process.env["NATS_URL"] ? NatsClient.layerConfig() : NatsClient.layerMemory()

const greetAda = NatsBroker.request("greet", { name: "Ada" }, { schema: Greeting, response: Schema.String }).pipe(
  Effect.tap((reply) => Effect.log(`reply: ${reply}`))
)

const sum = add(1, 2).pipe(Effect.tap((sum) => Effect.log(`sum: ${sum}`)))

Effect.andThen(greetAda, sum).pipe(
  Effect.provide(Layer.mergeAll(App, MathServer).pipe(Layer.provideMerge(NatsBroker.layer), Layer.provideMerge(Nats))),
  NodeRuntime.runMain
)
