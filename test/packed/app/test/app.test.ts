import { assert, it } from "@effect/vitest"
import { NatsTest } from "@nats-effect/testing"
import { Effect, Schema } from "effect"
import { App, Greeting } from "../src/app.ts"

it.effect("greets by name with the stored template", () =>
  Effect.gen(function*() {
    const reply = yield* NatsTest.request("greet", { name: "Ada" }, { schema: Greeting, response: Schema.String })
    assert.strictEqual(reply, "Hello, Ada!")
    yield* NatsTest.assertCalledOnceWith("greet", { name: "Ada" })
  }).pipe(Effect.provide(NatsTest.layer(App))))
