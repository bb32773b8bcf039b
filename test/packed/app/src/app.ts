// A small application as a user writes it against the published packages: a
// request/reply subscriber that reads its template from an object store.
import { NatsBroker } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { Effect, Layer, Schema } from "effect"

export const Greeting = Schema.Struct({ name: Schema.String })

export const Greeter = NatsBroker.subscriber("greet", { schema: Greeting, response: Schema.String }, ({ name }) =>
  Effect.gen(function*() {
    const templates = yield* ObjectStore.ObjectStore
    const template = new TextDecoder().decode(yield* templates.getBytes("greeting"))
    yield* Effect.log(`greeting ${name}`)
    return template.replace("{name}", name)
  }))

const StoreTemplate = Effect.gen(function*() {
  const templates = yield* ObjectStore.ObjectStore
  yield* templates.putBytes("greeting", "Hello, {name}!")
})

/** Needs a NatsBroker (and so a NatsClient): `main.ts` and the test provide them. */
export const App = Greeter.pipe(
  NatsBroker.afterStartup(StoreTemplate),
  Layer.provideMerge(ObjectStore.layer({ bucket: "greeter-templates" }))
)
