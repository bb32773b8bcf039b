/**
 * Listings (`untilCaughtUp` ordered consumers: KV `keys` and `history`, the
 * object store's `list`), and a KV watcher reading the current values, racing a write
 * on a real nats-server: a key overwritten between the listing consumer's
 * creation and its first delivery. nats-server 2.9.10 then delivers the last
 * message with a pending count of 1, never 0; a listing that waited for 0
 * never ended, and a watcher behind it never saw a change.
 */
import { assert, describe, layer } from "@effect/vitest"
import { NatsBroker, NatsClient } from "@nats-effect/core"
import { KeyValue } from "@nats-effect/kv"
import { NatsServer } from "@nats-effect/testing"
import { Effect, Fiber, Layer, Queue, Stream } from "effect"
import { bytes, text, unique } from "../src/internal/fixtures.ts"

const tries = 20

/** Fails the test when `effect` takes longer than a listing could. */
const ends = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string) =>
  Effect.timeoutOrElse(effect, { duration: "10 seconds", orElse: () => Effect.die(`${what} never ended`) })

/**
 * Runs `write` as soon as the server receives the request that creates a
 * consumer on `stream` whose configuration contains `config` (in the
 * current scope): between the consumer's creation and its first delivery.
 */
const onConsumerCreated = <A, E, R>(stream: string, config: string, write: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const nats = yield* NatsClient.NatsClient
    const requests = yield* nats.subscribe(`$JS.API.CONSUMER.CREATE.${stream}.>`)
    return yield* requests.pipe(
      Stream.filter((request) => text(request.data).includes(config)),
      Stream.take(1),
      Stream.runForEach(() => write),
      Effect.forkScoped
    )
  })

for (const binary of NatsServer.matrix()) describe(`listings racing an overwrite (nats-server ${binary.version})`, () => {
  layer(NatsServer.layerClient({ bin: binary.bin }), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("a listing ends when its last message is overwritten before the first delivery", () =>
      Effect.gen(function*() {
        const nats = yield* NatsClient.NatsClient
        const stream = unique("LIST")
        yield* nats.jetstream.streams.add({ name: stream, subjects: [`${stream}.>`], maxMsgsPerSubject: 1 })
        for (let attempt = 0; attempt < tries; attempt++) {
          const subject = `${stream}.k${attempt}`
          yield* nats.jetstream.publish(subject, bytes("old"))
          const listed = yield* Effect.scoped(Effect.gen(function*() {
            const overwrite = yield* onConsumerCreated(stream, "last_per_subject", nats.jetstream.publish(subject, bytes("new")))
            const listed = yield* ends(
              Stream.runCollect(nats.jetstream.ordered(stream, {
                filterSubjects: [subject],
                deliver: "last_per_subject",
                untilCaughtUp: true
              })),
              `listing ${attempt}`
            )
            yield* Fiber.join(overwrite)
            return listed
          }))
          // The key's value before or after the overwrite, whichever the consumer found.
          assert.oneOf(listed.map((msg) => text(msg.data)).join(), ["old", "new"], `attempt ${attempt}`)
        }
      }))

    it.effect("a KV watcher sees a key overwritten while it lists the current values", () =>
      Effect.gen(function*() {
        for (let attempt = 0; attempt < tries; attempt++) {
          const kv = yield* KeyValue.make({ bucket: unique("race"), history: 1 })
          yield* kv.put("a", "old")
          const received = yield* Queue.unbounded<string>()
          const watcher = KeyValue.watcher(kv.bucket, "a", {}, (value) => Queue.offer(received, text(value!)))
          yield* Effect.scoped(Effect.gen(function*() {
            // The watcher reads the current values with a last-per-subject consumer, then the changes.
            yield* onConsumerCreated(`KV_${kv.bucket}`, "last_per_subject", kv.put("a", "new"))
            yield* Layer.build(watcher.pipe(Layer.provideMerge(NatsBroker.layer)))
            const seen = [yield* ends(Queue.take(received), `watcher ${attempt}`)]
            while (seen.at(-1) !== "new") seen.push(yield* ends(Queue.take(received), `watcher ${attempt}`))
            assert.oneOf(seen.join(), ["old,new", "new"], `attempt ${attempt}`)
          }))
        }
      }))
  })
})
