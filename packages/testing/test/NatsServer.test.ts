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
  it("lists each installed version once, oldest first, each binary reporting its version", () => {
    const matrix = NatsServer.matrix()
    assert.isAbove(matrix.length, 0, "no nats-server found")
    const versions = matrix.map((server) => server.version)
    assert.deepStrictEqual(new Set(versions).size, versions.length)
    for (const server of matrix) assert.strictEqual(NatsServer.binaryVersion(server.bin), server.version)
    const numbers = (version: string) => version.split(".").map((part) => parseInt(part, 10))
    for (let i = 1; i < matrix.length; i++) {
      const [a, b] = [numbers(versions[i - 1]!), numbers(versions[i]!)]
      assert.isTrue(a[0]! < b[0]! || (a[0] === b[0] && (a[1]! < b[1]! || (a[1] === b[1] && a[2]! < b[2]!))), versions.join(" "))
    }
    assert.isUndefined(NatsServer.binaryVersion("/nonexistent/nats-server"))
  })

  for (const binary of NatsServer.matrix()) {
    it.live(`starts nats-server ${binary.version} on a free port with its own store, stops, starts and removes it`, () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const server = yield* Layer.buildWithScope(NatsServer.layer({ bin: binary.bin }), scope).pipe(
          Effect.map(Context.get(NatsServer.NatsServer))
        )
        assert.strictEqual(server.version, binary.version)
        assert.strictEqual(server.bin, binary.bin)
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

    // Its complaint is on stderr, read to the end before the failure is reported.
    it.live(`fails with the output of nats-server ${binary.version} when it exits before it is ready`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Layer.build(NatsServer.layer({ bin: binary.bin, args: ["--no-such-flag"] })))
        assert.strictEqual(error._tag, "NatsServerError")
        assert.include(error.message, "exited before it was ready")
        assert.include(error.output ?? "", "no-such-flag")
      }))
  }

  it.live("fails with NatsServerError when the binary is missing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(NatsServer.layer({ bin: "/nonexistent/nats-server" })))
      assert.strictEqual(error._tag, "NatsServerError")
      assert.include(error.message, "/nonexistent/nats-server")
    }))
})
