import { assert, describe, it } from "@effect/vitest"
import { NodeProcess } from "@nats-effect/testing"
import { Effect } from "effect"
import { fileURLToPath } from "node:url"

const program = fileURLToPath(new URL("./nodeProcess/program.ts", import.meta.url))

describe("NodeProcess", () => {
  it.live("runs a TypeScript program until it is ready, follows its output, and kills it", () =>
    Effect.gen(function*() {
      const child = yield* NodeProcess.spawn(program, { args: ["ready"] })
      yield* child.written("working")
      assert.include(child.output(), "ready\nworking")
      yield* child.kill
      yield* child.exited
      assert.throws(() => process.kill(child.pid, 0))
    }))

  it.live("fails with what the program wrote when it exits before it is ready", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(NodeProcess.spawn(program, { args: ["fail"] }))
      assert.strictEqual(error._tag, "NodeProcessError")
      assert.include(error.message, "exited before it was ready (code 3)")
      assert.include(error.output, "cannot start: no configuration")
    }))
})
