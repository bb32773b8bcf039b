/**
 * The broker against a real nats-server whose permissions deny a subject:
 * a refused subscription fails the app's startup, and a subscription revoked
 * while the app runs ends `NatsBroker.launch` with the reason.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { NatsBroker, NatsClient, NatsError } from "@nats-effect/core"
import { NatsServer } from "@nats-effect/testing"
import { Cause, Context, Deferred, Effect, Exit, Fiber, Layer, Redacted } from "effect"

// How a permissions violation is classified.
const permissionViolation = "AuthorizationError"

/** A server configuration with one user, `app`, who may not subscribe to `denied`. */
const configWith = (denied: ReadonlyArray<string>) => `
authorization {
  users = [
    { user: "app", password: "pw", permissions: { subscribe: { deny: ${JSON.stringify(denied)} } } }
  ]
}
`

/** A server on a configuration file in a temporary directory; `deny` rewrites it and reloads. */
const serverDenying = (bin: string, denied: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "nats-effect-permissions-"))),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    const file = Path.join(dir, "server.conf")
    Fs.writeFileSync(file, configWith(denied))
    const server = yield* Layer.build(NatsServer.layer({ bin, args: ["-c", file], jetstream: false })).pipe(
      Effect.map(Context.get(NatsServer.NatsServer))
    )
    const client = NatsClient.layer({ servers: server.url, user: "app", pass: Redacted.make("pw") })
    const deny = (subjects: ReadonlyArray<string>) =>
      Effect.andThen(Effect.sync(() => Fs.writeFileSync(file, configWith(subjects))), server.reload)
    return { client, deny }
  })

/** The NatsError an exit failed with. */
const failureOf = (exit: Exit.Exit<unknown, unknown>): NatsError.NatsError => {
  assert.isTrue(Exit.isFailure(exit))
  const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
  assert.isTrue(NatsError.isNatsError(error), `not a NatsError: ${String(error)}`)
  return error as NatsError.NatsError
}

for (const binary of NatsServer.matrix()) describe(`NatsBroker with permissions (nats-server ${binary.version})`, () => {
  it.live("fails the startup with the server's refusal of a subscription", () =>
    Effect.gen(function*() {
      const { client } = yield* serverDenying(binary.bin, ["secret.>"])
      const started = yield* Deferred.make<void>()
      const app = Layer.mergeAll(
        NatsBroker.subscriber("public.plans", {}, () => Effect.void),
        NatsBroker.subscriber("secret.plans", {}, () => Effect.void)
      ).pipe(
        NatsBroker.afterStartup(Deferred.succeed(started, undefined)),
        Layer.provide(NatsBroker.layer),
        Layer.provide(client)
      )
      const error = failureOf(yield* Effect.exit(Layer.launch(app)))
      assert.strictEqual(error.reason._tag, permissionViolation)
      assert.include(error.message, "Permissions Violation for Subscription to \"secret.plans\"")
      assert.isFalse(yield* Deferred.isDone(started))
    }), { timeout: 30_000 })

  it.live("ends NatsBroker.launch with the reason when a live subscription is revoked", () =>
    Effect.gen(function*() {
      const { client, deny } = yield* serverDenying(binary.bin, ["other.>"])
      const live = yield* Deferred.make<void>()
      const app = NatsBroker.subscriber("secret.plans", {}, () => Effect.void).pipe(
        NatsBroker.afterStartup(Deferred.succeed(live, undefined)),
        Layer.provide(NatsBroker.layer),
        Layer.provide(client)
      )
      const launched = yield* Effect.forkChild(NatsBroker.launch(app))
      yield* Deferred.await(live)
      yield* deny(["secret.>"])
      const error = failureOf(yield* Fiber.await(launched))
      assert.strictEqual(error.reason._tag, permissionViolation)
      assert.include(error.message, "secret.plans")
    }), { timeout: 30_000 })
})
