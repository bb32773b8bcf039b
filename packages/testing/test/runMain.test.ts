/**
 * How a failure reaches a person who runs a program with `NodeRuntime.runMain`:
 * an expected failure of ours (`NatsError`, `ObjectStoreError`) as one line
 * naming it, without stack frames; a defect with its stack.
 */
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { deadPort } from "../src/internal/fixtures.ts"

const program = Path.join(import.meta.dirname, "runMain", "program.ts")

/** Runs `program.ts` with `args`; completes with its exit code and its output (stdout and stderr, as lines). */
const run = (...args: ReadonlyArray<string>) =>
  Effect.callback<{ readonly code: number | null; readonly lines: ReadonlyArray<string> }>((resume) => {
    const child = ChildProcess.execFile(process.execPath, [program, ...args], { timeout: 30_000 }, (_, stdout, stderr) =>
      resume(Effect.succeed({
        code: child.exitCode,
        lines: `${stdout}${stderr}`.split("\n").filter((line) => line.length > 0)
      })))
  })

const stackFrame = /^\s+at /

describe("a failure under NodeRuntime.runMain", () => {
  it.live("a NatsError is one line naming the error and the server", () =>
    Effect.gen(function*() {
      const url = `nats://127.0.0.1:${yield* deadPort}`
      const { code, lines } = yield* run("connection", url)
      assert.strictEqual(code, 1)
      assert.lengthOf(lines, 1, lines.join("\n"))
      assert.match(
        lines[0]!,
        new RegExp(`ERROR \\(#\\d+\\): NatsError: ConnectionError: cannot connect to NATS at ${url}: connection refused$`)
      )
    }))

  it.live("an ObjectStoreError is one line naming the error and the object", () =>
    Effect.gen(function*() {
      const { code, lines } = yield* run("object-not-found")
      assert.strictEqual(code, 1)
      const failure = lines.filter((line) => !line.includes(" INFO "))
      assert.lengthOf(failure, 1, lines.join("\n"))
      assert.match(failure[0]!, /ERROR \(#\d+\): ObjectStoreError: ObjectNotFound: .*"missing"/)
    }))

  it.live("a defect keeps its stack", () =>
    Effect.gen(function*() {
      const { code, lines } = yield* run("defect")
      assert.strictEqual(code, 1)
      assert.match(lines[0]!, /ERROR \(#\d+\): Error: a bug in the app$/)
      assert.isTrue(lines.slice(1).some((line) => stackFrame.test(line)), lines.join("\n"))
    }))
})
