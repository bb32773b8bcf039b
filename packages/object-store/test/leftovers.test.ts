import { assert, describe, it } from "@effect/vitest"
import { NatsClient, NatsError } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { Deferred, Effect, Exit, Fiber, Logger, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"

const KiB = 1024

/** What a JetStream operation does while the server is away: time out, after 5 s. */
const timesOut = (operation: string) =>
  Effect.andThen(
    Effect.sleep("5 seconds"),
    Effect.fail(NatsError.fromReason(new NatsError.TimeoutError({ operation, message: `${operation} timed out` })))
  )

/**
 * The in-memory NATS, with a server that goes away once `chunksBeforeAway`
 * chunks are stored: from then on every publish times out and every purge
 * fails with `purgeAway` (a time-out by default), until `comeBack`.
 */
const serverGoingAway = (
  nats: NatsClient.NatsClient["Service"],
  chunksBeforeAway: number,
  purgeAway: Effect.Effect<never, NatsError.NatsError> = timesOut("purge")
) => {
  let away = false
  let chunks = 0
  const state = { purgeAttempts: 0 }
  const client = NatsClient.NatsClient.of({
    ...nats,
    jetstream: {
      ...nats.jetstream,
      publish: (subject, data, options) =>
        Effect.suspend(() => {
          if (subject.includes(".C.") && ++chunks > chunksBeforeAway) away = true
          return away ? timesOut("publish") : nats.jetstream.publish(subject, data, options)
        }),
      streams: {
        ...nats.jetstream.streams,
        purge: (name, options) =>
          Effect.suspend(() => {
            state.purgeAttempts++
            return away ? purgeAway : nats.jetstream.streams.purge(name, options)
          })
      }
    }
  })
  return { client, state, comeBack: Effect.sync(() => (away = false)) }
}

/** Every message logged, in order. */
const capturedLogs = () => {
  const lines: Array<string> = []
  const layer = Logger.layer([
    Logger.make(({ message }) => {
      lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
  ])
  return { lines, layer }
}

const messagesIn = (stream: string) =>
  Effect.flatMap(NatsClient.NatsClient, (nats) => nats.jetstream.streams.info(stream)).pipe(
    Effect.map((info) => info.state.messages)
  )

describe("chunks left behind", () => {
  it.effect("a put that fails with the server away has its chunks removed in the background once it is back", () => {
    const logs = capturedLogs()
    return Effect.gen(function*() {
      const away = serverGoingAway(yield* NatsClient.NatsClient, 3)
      const store = yield* ObjectStore.make({ bucket: "away", chunkSize: KiB, publishWindow: 1 }).pipe(
        Effect.provideService(NatsClient.NatsClient, away.client)
      )
      const put = yield* Effect.flip(store.putBytes("lost", new Uint8Array(10 * KiB))).pipe(Effect.forkChild)
      // One timeout (the 4th chunk's), not a second one to try removing the chunks now.
      yield* TestClock.adjust("5 seconds")
      assert.isDefined(put.pollUnsafe(), "the put has not failed after one timeout")
      const failed = yield* Fiber.join(put)
      assert.strictEqual(failed.reason._tag, "NatsError")
      assert.strictEqual(yield* messagesIn("OBJ_away"), 3)

      yield* TestClock.adjust("1 minute")
      assert.isAbove(away.state.purgeAttempts, 5)
      assert.strictEqual(yield* messagesIn("OBJ_away"), 3)
      yield* away.comeBack
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* messagesIn("OBJ_away"), 0)
      assert.include(logs.lines, `object store: removed the 3 chunks of the failed put of "lost"`)
    }).pipe(Effect.provide([logs.layer, NatsClient.layerMemory()]))
  })

  it.effect("the background removal gives up after 10 minutes, and stops with the store's scope", () => {
    const logs = capturedLogs()
    return Effect.gen(function*() {
      const away = serverGoingAway(yield* NatsClient.NatsClient, 0)
      const failedPut = (bucket: string) =>
        Effect.gen(function*() {
          const store = yield* ObjectStore.make({ bucket, chunkSize: KiB }).pipe(
            Effect.provideService(NatsClient.NatsClient, away.client)
          )
          const put = yield* Effect.flip(store.putBytes("lost", new Uint8Array(KiB))).pipe(Effect.forkChild)
          yield* TestClock.adjust("5 seconds")
          yield* Fiber.join(put)
        })

      yield* failedPut("bounded")
      yield* TestClock.adjust("11 minutes")
      assert.isTrue(
        logs.lines.some((line) => line.includes("gave up removing the chunks of the failed put")),
        logs.lines.join("\n")
      )
      const attempts = away.state.purgeAttempts
      yield* TestClock.adjust("10 minutes")
      assert.strictEqual(away.state.purgeAttempts, attempts)

      const scope = yield* Scope.make()
      yield* failedPut("scoped").pipe(Scope.provide(scope))
      yield* TestClock.adjust("1 minute")
      yield* Scope.close(scope, Exit.void)
      const beforeClose = away.state.purgeAttempts
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(away.state.purgeAttempts, beforeClose)
    }).pipe(Effect.provide([logs.layer, NatsClient.layerMemory()]))
  })

  it.effect("a removal the server refuses for good is not retried: the chunks are left to sweep", () => {
    const refusals = [
      new NatsError.AuthorizationError({ message: "purge: permissions violation" }),
      new NatsError.JetStreamNotEnabled({ message: "purge: JetStream is not enabled" })
    ]
    return Effect.forEach(refusals, (refusal) => {
      const logs = capturedLogs()
      return Effect.gen(function*() {
        const away = serverGoingAway(yield* NatsClient.NatsClient, 1, Effect.fail(NatsError.fromReason(refusal)))
        const store = yield* ObjectStore.make({ bucket: "refused", chunkSize: KiB, publishWindow: 1 }).pipe(
          Effect.provideService(NatsClient.NatsClient, away.client)
        )
        const put = yield* Effect.flip(store.putBytes("lost", new Uint8Array(4 * KiB))).pipe(Effect.forkChild)
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(put)
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(away.state.purgeAttempts, 1, refusal._tag)
        assert.strictEqual(yield* messagesIn("OBJ_refused"), 1, refusal._tag)
        assert.isTrue(
          logs.lines.some((line) => line.includes("gave up removing the chunks of the failed put")),
          logs.lines.join("\n")
        )
      }).pipe(Effect.provide([logs.layer, NatsClient.layerMemory()]))
    }, { discard: true })
  })

  it.effect("sweep spares a put that starts after it and ends before it decides", () =>
    Effect.gen(function*() {
      const nats = yield* NatsClient.NatsClient
      const chunksScanStarts = yield* Deferred.make<void>()
      const scanChunks = yield* Deferred.make<void>()
      const metasRead = yield* Deferred.make<void>()
      const decide = yield* Deferred.make<void>()
      // Holds the sweep before it reads the chunks, and after it reads the metas.
      const paced = NatsClient.NatsClient.of({
        ...nats,
        jetstream: {
          ...nats.jetstream,
          ordered: (stream, options) => {
            const filter = options?.filterSubjects?.[0] ?? ""
            const messages = nats.jetstream.ordered(stream, options)
            if (filter.endsWith(".C.>")) {
              return Stream.unwrap(
                Deferred.succeed(chunksScanStarts, undefined).pipe(
                  Effect.andThen(Deferred.await(scanChunks)),
                  Effect.as(messages)
                )
              )
            }
            if (filter.endsWith(".M.>")) {
              return Stream.concat(
                messages,
                Stream.fromEffectDrain(Deferred.succeed(metasRead, undefined).pipe(Effect.andThen(Deferred.await(decide))))
              )
            }
            return messages
          }
        }
      })
      const store = yield* ObjectStore.make({ bucket: "race", chunkSize: KiB, publishWindow: 1 }).pipe(
        Effect.provideService(NatsClient.NatsClient, paced)
      )
      const sweep = yield* store.sweep({ olderThan: 0 }).pipe(Effect.forkChild)
      yield* Deferred.await(chunksScanStarts)

      // A put whose chunks the sweep sees, but not its meta.
      const chunksStored = yield* Deferred.make<void>()
      const resume = yield* Deferred.make<void>()
      const data = new Uint8Array(4 * KiB).fill(7)
      const source = Stream.make(data.subarray(0, 2 * KiB), data.subarray(2 * KiB, 3 * KiB)).pipe(
        Stream.concat(Stream.fromEffectDrain(Deferred.succeed(chunksStored, undefined).pipe(
          Effect.andThen(Deferred.await(resume))
        ))),
        Stream.concat(Stream.make(data.subarray(3 * KiB)))
      )
      const put = yield* store.put("racing", source).pipe(Effect.forkChild)
      yield* Deferred.await(chunksStored)
      yield* Deferred.succeed(scanChunks, undefined)
      yield* Deferred.await(metasRead)
      yield* Deferred.succeed(resume, undefined)
      yield* Fiber.join(put)
      yield* Deferred.succeed(decide, undefined)

      assert.deepStrictEqual(yield* Fiber.join(sweep), { chunks: 0, bytes: 0, nuids: [] })
      assert.deepStrictEqual(yield* store.getBytes("racing"), data)
    }).pipe(Effect.provide(NatsClient.layerMemory())))
})
