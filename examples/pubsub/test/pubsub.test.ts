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

const checkLogs = (lines: ReadonlyArray<Line>) => {
  const order = lines.find((line) => line.message === "order o-1: 3 x widget")
  assert.isDefined(order, "the order handler logged the order")
  assert.strictEqual(order!.annotations["subject"], "orders.created")
  assert.strictEqual(order!.annotations["subscriber"], "orders.created")
  assert.isString(order!.annotations["correlation_id"])

  const failed = lines.find((line) => line.level === "Error" && line.annotations["subject"] === "prices.quote")
  assert.isDefined(failed, "the quote handler's failure was logged")

  const jobLines = lines.filter((line) => line.annotations["subject"]?.toString().startsWith("jobs."))
  assert.strictEqual(jobLines.length, 4, "each job handled once")
  for (const line of jobLines) assert.include(["worker-1", "worker-2"], line.annotations["subscriber"])
}

describe("pubsub example", () => {
  it.live("runs the demo on the in-memory NATS and stops", () =>
    Effect.gen(function*() {
      const { lines, result } = yield* runRecorded(NatsClient.layerMemory())
      checkResult(result)
      checkLogs(lines)
    }))

  it.live("runs the same app on a real nats-server", () =>
    Effect.gen(function*() {
      const { lines, result } = yield* runRecorded(NatsServer.layerClient())
      checkResult(result)
      checkLogs(lines)
    }))
})
