import * as Fs from "node:fs"
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as NatsServer from "../src/NatsServer.ts"

const accepts = (port: number) =>
  Effect.callback<boolean>((resume) => {
    const socket = Net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

describe("NatsServer", () => {
  it.live("starts a server on a free port with its own store, stops, starts and removes it", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* Layer.buildWithScope(NatsServer.layer(), scope).pipe(
        Effect.map(Context.get(NatsServer.NatsServer))
      )
      assert.strictEqual(server.url, `nats://127.0.0.1:${server.port}`)
      assert.isTrue(Fs.existsSync(server.storeDir))
      assert.isTrue(yield* accepts(server.port))

      yield* server.stop
      assert.isFalse(yield* accepts(server.port))
      yield* server.start
      assert.isTrue(yield* accepts(server.port))
      yield* server.kill
      assert.isFalse(yield* accepts(server.port))
      yield* server.restart
      assert.isTrue(yield* accepts(server.port))

      yield* Scope.close(scope, Exit.void)
      assert.isFalse(yield* accepts(server.port))
      assert.isFalse(Fs.existsSync(server.storeDir))
    }))

  it.live("fails with NatsServerError when the binary is missing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(NatsServer.layer({ bin: "/nonexistent/nats-server" })))
      assert.strictEqual(error._tag, "NatsServerError")
      assert.include(error.message, "/nonexistent/nats-server")
    }))

  it.live("fails with the server's output when it exits before it is ready", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(NatsServer.layer({ args: ["--no-such-flag"] })))
      assert.strictEqual(error._tag, "NatsServerError")
      assert.include(error.message, "exited before it was ready")
      assert.include(error.output ?? "", "no-such-flag")
    }))
})
