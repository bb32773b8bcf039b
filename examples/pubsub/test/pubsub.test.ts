import { assert, describe, it } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { NatsServer } from "@nats-effect/testing"
import { Effect, Layer, Logger, References } from "effect"
import { type DemoResult, run } from "../src/app.ts"

interface Line {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** Runs the demo on `nats`, recording the log lines. */
const runRecorded = <E>(nats: Layer.Layer<NatsClient.NatsClient, E>) =>
  Effect.gen(function*() {
    const lines: Array<Line> = []
    const recorder = Logger.make((options) => {
      lines.push({
        level: options.logLevel,
        message: Array.isArray(options.message) ? options.message.join(" ") : String(options.message),
        annotations: options.fiber.getRef(References.CurrentLogAnnotations)
      })
    })
    const result = yield* run(nats).pipe(Effect.provide(Logger.layer([recorder])))
    return { result, lines }
  })

const checkResult = (result: DemoResult) => {
  assert.deepStrictEqual(result.booked, { id: "o-1", item: "widget", quantity: 3 })
  assert.deepStrictEqual(result.quote, { symbol: "ACME", price: 12.5 })
  assert.strictEqual(result.unknownSymbol, "UnknownSymbol")
  assert.deepStrictEqual(result.jobs.map((job) => [job.id, job.kind]), [
    [1, "thumbnail"],
    [2, "resize"],
    [3, "thumbnail"],
    [4, "resize"]
  ])
  for (const job of result.jobs) assert.include(["worker-1", "worker-2"], job.worker)
}

/** Checks the demo's log; `nats` matches its first line, which says which NATS it used. */
const checkLogs = (lines: ReadonlyArray<Line>, nats: RegExp) => {
  const order = lines.find((line) => line.message === "order o-1: 3 x widget")
  assert.isDefined(order, "the order handler logged the order")
  assert.strictEqual(order!.annotations["subject"], "orders.created")
  assert.strictEqual(order!.annotations["subscriber"], "orders.created")
  assert.isString(order!.annotations["correlation_id"])

  // The deliberate failure is expected: one warning with its tag and message, and nothing looks like a crash.
  const failed = lines.filter((line) => line.annotations["subject"] === "prices.quote" && line.level !== "Info")
  assert.deepStrictEqual(failed.map((line) => [line.level, line.message]), [
    ["Warn", "handler failed with UnknownSymbol: no price for NOPE"]
  ])
  assert.isFalse(lines.some((line) => line.level === "Error"))

  // Startup says which NATS it uses and where each subscriber listens.
  assert.match(lines[0]!.message, nats)
  for (const live of ["listening on orders.created", "listening on prices.quote"]) {
    assert.include(lines.map((line) => line.message), live)
  }
  for (const worker of ["worker-1", "worker-2"]) {
    assert.include(lines.map((line) => line.message), `listening on jobs.* in queue group "workers" as "${worker}"`)
  }

  const jobLines = lines.filter((line) => line.annotations["subject"]?.toString().startsWith("jobs."))
  assert.strictEqual(jobLines.length, 4, "each job handled once")
  for (const line of jobLines) assert.include(["worker-1", "worker-2"], line.annotations["subscriber"])
}

describe("pubsub example", () => {
  it.live("runs the demo on the in-memory NATS and stops", () =>
    Effect.gen(function*() {
      const { lines, result } = yield* runRecorded(NatsClient.layerMemory())
      checkResult(result)
      checkLogs(lines, /^using the in-memory NATS/)
    }))

  for (const server of NatsServer.matrix()) it.live(`runs the same app on a real nats-server (nats-server ${server.version})`, () =>
    Effect.gen(function*() {
      const { lines, result } = yield* runRecorded(NatsServer.layerClient({ bin: server.bin }))
      checkResult(result)
      checkLogs(lines, /^connected to NATS at nats:\/\/127\.0\.0\.1:\d+ \(nats-server [\d.]+, JetStream on\)$/)
    }))
})
