import { assert, describe, it } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { NatsServer } from "@nats-effect/testing"
import { Context, Effect, Layer } from "effect"
import { type Outcome, run, stream } from "../src/app.ts"
import { recordingLogs } from "../../logs.ts"


/** Every job done but `broken.png`, dead-lettered after its three deliveries, each retry after its backoff delay. */
const checkOutcome = (outcome: Outcome) => {
  assert.sameMembers([...outcome.done], ["cat.png", "flaky.png", "dog.png"])
  assert.deepStrictEqual(outcome.deadLetters, [{
    image: "broken.png",
    deliveryCount: "3",
    errorTag: "ResizeFailed",
    errorMessage: "could not read broken.png"
  }])
  const deliveries = (image: string) => outcome.attempts.filter((attempt) => attempt.image === image)
  assert.deepStrictEqual(deliveries("cat.png").map((attempt) => attempt.deliveryCount), [1])
  assert.deepStrictEqual(deliveries("flaky.png").map((attempt) => attempt.deliveryCount), [1, 2])
  const broken = deliveries("broken.png")
  assert.deepStrictEqual(broken.map((attempt) => attempt.deliveryCount), [1, 2, 3])
  // backoff 200 ms, then 500 ms (the timers' own slack aside)
  assert.isAtLeast(broken[1]!.sinceFirst, 150)
  assert.isAtLeast(broken[2]!.sinceFirst - broken[1]!.sinceFirst, 450)
}

describe("jetstream worker example", () => {
  it.live("retries, backs off and dead-letters on the in-memory NATS", () =>
    Effect.gen(function*() {
      const [outcome, lines] = yield* recordingLogs(run(NatsClient.layerMemory()))
      checkOutcome(outcome)
      assert.include(lines, `removed the stream "${stream}" it created`)
    }))

  for (const server of NatsServer.matrix()) it.live(`the same app on a real nats-server: the work queue is empty once done, and the stream removed (nats-server ${server.version})`, () =>
    Effect.gen(function*() {
      const nats = yield* Effect.map(Layer.build(NatsServer.layerClient({ bin: server.bin })), Context.get(NatsClient.NatsClient))
      const onServer = Layer.succeed(NatsClient.NatsClient, nats)

      const [outcome, lines] = yield* recordingLogs(run(onServer))
      checkOutcome(outcome)
      assert.include(lines, `removed the stream "${stream}" it created`)
      assert.deepStrictEqual(yield* nats.jetstream.streams.list(), [])
    }).pipe(Effect.scoped))

  for (const server of NatsServer.matrix()) it.live(`on a server, leaves a stream that was there before, with every job acknowledged out of it (nats-server ${server.version})`, () =>
    Effect.gen(function*() {
      const nats = yield* Effect.map(Layer.build(NatsServer.layerClient({ bin: server.bin })), Context.get(NatsClient.NatsClient))
      yield* nats.jetstream.streams.add({ name: stream, subjects: ["jobs.resize"], retention: "workqueue" })

      const [outcome, lines] = yield* recordingLogs(run(Layer.succeed(NatsClient.NatsClient, nats)))
      checkOutcome(outcome)
      assert.include(lines, `left the stream "${stream}", which was there before`)
      // Work queue: an acknowledged (or terminated) job leaves the stream.
      assert.strictEqual((yield* nats.jetstream.streams.info(stream)).state.messages, 0)
    }).pipe(Effect.scoped))
})
