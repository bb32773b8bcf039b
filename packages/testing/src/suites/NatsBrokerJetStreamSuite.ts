/**
 * The broker's JetStream subscribers and publishers, run against every
 * adapter: streams declared from subscribers (merged, or only attached to),
 * consumer options checked up front, the ack policies, retries with backoff,
 * dead letters, progress reports for slow handlers, at most `concurrency`
 * unacknowledged messages, at-least-once across a restart of the app, and
 * JetStream publishes with their PubAck, de-duplication and expectations.
 *
 * One NATS (one server process for `nats-server`) per suite; every test uses
 * its own stream.
 *
 * @since 0.1.0
 */
import { assert, describe, layer } from "@effect/vitest"
import { NatsBroker, NatsClient, NatsError, NatsHeaders, NatsMessage } from "@nats-effect/core"
import { Deferred, Effect, Layer, Option, Queue, Schema } from "effect"
import type { Adapter } from "../Adapters.ts"
import { failure, unique } from "../internal/fixtures.ts"

const Order = Schema.Struct({ id: Schema.String, quantity: Schema.Int })

class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", { message: Schema.String }) {}

const client = NatsClient.NatsClient

/** Runs `program` with the subscribers of `app` live (and a broker), released afterwards. */
const withApp = <A, E, R, E2, R2>(
  app: Layer.Layer<never, E2, R2>,
  program: Effect.Effect<A, E, R>,
  broker: Layer.Layer<NatsBroker.NatsBroker, never, NatsClient.NatsClient> = NatsBroker.layer
) => Effect.provide(program, app.pipe(Layer.provideMerge(broker)))

/** A stream name for one test; the stream is deleted when the test ends. */
const streamName = Effect.gen(function*() {
  const nats = yield* client
  const name = unique("JS")
  yield* Effect.addFinalizer(() => Effect.ignore(nats.jetstream.streams.delete(name)))
  return name
})

const consumerInfo = (stream: string, consumer: string) =>
  Effect.flatMap(client, (nats) => Effect.andThen(nats.flush, nats.jetstream.consumers.info(stream, consumer)))

const publishText = (subject: string, stream: string, count: number) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => i + 1),
    (i) => NatsBroker.publish(subject, `m${i}`, { stream }),
    { discard: true }
  )

export const suite = (adapter: Adapter) =>
  describe(`NatsBroker JetStream (${adapter.name})`, () => {
    layer(adapter.layer(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
      // -----------------------------------------------------------------------
      // Streams and consumers
      // -----------------------------------------------------------------------

      it.effect("handles the messages of a stream it declares, with their JetStream fields, and acks them", () =>
        Effect.gen(function*() {
          const name = yield* streamName
          const subject = `${name}.orders`
          const received = yield* Queue.unbounded<readonly [unknown, NatsMessage.JetStreamMessage]>()
          const app = NatsBroker.subscriber(
            subject,
            { stream: name, durable: "worker", schema: Order },
            (order, message) => Queue.offer(received, [order, message])
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              const ack = yield* NatsBroker.publish(subject, { id: "o-1", quantity: 2 }, { stream: name, schema: Order })
              assert.deepStrictEqual(ack, { stream: name, seq: 1, duplicate: false })
              const [order, message] = yield* Queue.take(received)
              assert.deepStrictEqual(order, { id: "o-1", quantity: 2 })
              assert.deepInclude(message, {
                subject,
                stream: name,
                sequence: 1,
                deliveryCount: 1,
                redelivered: false,
                subscriber: subject
              })
              assert.instanceOf(message.timestamp, Date)
              assert.isTrue(NatsMessage.isJetStream(message))
            })
          )
          const info = yield* consumerInfo(name, "worker")
          assert.deepStrictEqual([info.numAckPending, info.numRedelivered, info.ackFloor.streamSeq], [0, 0, 1])
        }))

      it.effect("declares one stream from the subjects of two subscribers, added to an existing stream's", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          yield* nats.jetstream.streams.add({ name, subjects: [`${name}.x`], maxMsgs: 100 })
          const received = yield* Queue.unbounded<string>()
          const app = Layer.mergeAll(
            NatsBroker.subscriber(`${name}.a`, { stream: name }, (_, message) => Queue.offer(received, message.subject)),
            NatsBroker.subscriber(`${name}.b.*`, { stream: { name, maxMsgs: 5 } }, (_, message) =>
              Queue.offer(received, message.subject))
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              const info = yield* nats.jetstream.streams.info(name)
              assert.deepStrictEqual([...info.config.subjects].sort(), [`${name}.a`, `${name}.b.*`, `${name}.x`])
              // The existing stream's own settings are kept.
              assert.strictEqual(info.config.maxMsgs, 100)
              yield* NatsBroker.publish(`${name}.a`, "1", { stream: name })
              yield* NatsBroker.publish(`${name}.b.c`, "2", { stream: name })
              const got = [yield* Queue.take(received), yield* Queue.take(received)]
              assert.deepStrictEqual(got.sort(), [`${name}.a`, `${name}.b.c`])
            })
          )
        }))

      it.effect("creates a stream with the configuration given, and its subscribers' subjects", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          const app = NatsBroker.subscriber(
            `${name}.jobs`,
            { stream: { name, subjects: [`${name}.other`], retention: "workqueue", storage: "memory" } },
            () => Effect.void
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              const info = yield* nats.jetstream.streams.info(name)
              assert.deepStrictEqual([...info.config.subjects].sort(), [`${name}.jobs`, `${name}.other`])
              assert.deepStrictEqual([info.config.retention, info.config.storage], ["workqueue", "memory"])
            })
          )
        }))

      it.effect("with declare: false attaches to an existing stream, and fails with StreamNotFound without one", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          const missing = yield* failure(
            withApp(NatsBroker.subscriber(`${name}.a`, { stream: { name, declare: false } }, () => Effect.void), Effect.void)
          )
          assert.strictEqual(missing._tag, "StreamNotFound")
          const streams = yield* nats.jetstream.streams.list()
          assert.isFalse(streams.some((info) => info.config.name === name))

          yield* nats.jetstream.streams.add({ name, subjects: [`${name}.>`] })
          const received = yield* Queue.unbounded<unknown>()
          yield* withApp(
            NatsBroker.subscriber(`${name}.a`, { stream: { name, declare: false } }, (payload) =>
              Queue.offer(received, payload)),
            Effect.gen(function*() {
              yield* NatsBroker.publish(`${name}.a`, "hello", { stream: name })
              assert.strictEqual(yield* Queue.take(received), "hello")
            })
          )
          const info = yield* nats.jetstream.streams.info(name)
          assert.deepStrictEqual(info.config.subjects, [`${name}.>`])
        }))

      it.effect("refuses a backoff without maxDeliver above its length, or with another ackWait, when built", () =>
        Effect.gen(function*() {
          const name = yield* streamName
          const build = (options: Partial<NatsBroker.JetStreamSubscriberOptions>) =>
            failure(withApp(
              NatsBroker.subscriber(`${name}.a`, { stream: name, durable: "d", ...options }, () => Effect.void),
              Effect.void
            ))
          const noMaxDeliver = yield* build({ backoff: ["1 second", "2 seconds"] })
          assert.strictEqual(noMaxDeliver._tag, "InvalidConsumerConfig")
          assert.include(noMaxDeliver.message, "maxDeliver greater than 2")
          const tooFew = yield* build({ backoff: ["1 second", "2 seconds"], maxDeliver: 2 })
          assert.strictEqual(tooFew._tag, "InvalidConsumerConfig")
          const otherAckWait = yield* build({ backoff: ["1 second"], maxDeliver: 3, ackWait: "5 seconds" })
          assert.strictEqual(otherAckWait._tag, "InvalidConsumerConfig")
          assert.include(otherAckWait.message, "first entry")
          assert.deepInclude(otherAckWait as NatsError.InvalidConsumerConfig, { stream: name, consumer: "d" })
        }))

      it.effect("never has more unacknowledged messages than its concurrency", () =>
        Effect.gen(function*() {
          const name = yield* streamName
          const subject = `${name}.work`
          const started = yield* Queue.unbounded<number>()
          const release = yield* Deferred.make<void>()
          const app = NatsBroker.subscriber(
            subject,
            { stream: name, durable: "pool", concurrency: 2 },
            (_, message) => Effect.andThen(Queue.offer(started, message.sequence), Deferred.await(release))
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* publishText(subject, name, 6)
              yield* Queue.take(started)
              yield* Queue.take(started)
              const held = yield* consumerInfo(name, "pool")
              assert.deepStrictEqual([held.numAckPending, held.numPending], [2, 4])
              yield* Deferred.succeed(release, undefined)
              for (let i = 0; i < 4; i++) yield* Queue.take(started)
            })
          )
          const info = yield* consumerInfo(name, "pool")
          assert.deepStrictEqual([info.numAckPending, info.numPending, info.numRedelivered], [0, 0, 0])
        }))

      // -----------------------------------------------------------------------
      // Ack policies
      // -----------------------------------------------------------------------

      it.effect("nackOnError: redelivers after the backoff delays, then dead-letters and terminates", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          const dead = yield* streamName
          yield* nats.jetstream.streams.add({ name: dead, subjects: [`${dead}.>`] })
          const subject = `${name}.orders`
          const deliveries: Array<readonly [number, number]> = []
          const app = NatsBroker.subscriber(
            subject,
            {
              stream: name,
              durable: "retry",
              backoff: ["200 millis", "500 millis"],
              maxDeliver: 3,
              deadLetter: `${dead}.orders`
            },
            (_, message) =>
              Effect.andThen(
                Effect.sync(() => deliveries.push([message.deliveryCount, Date.now()])),
                Effect.fail(new OutOfStock({ message: "no stock\nat all" }))
              )
          )
          const letters = yield* Queue.unbounded<NatsMessage.Message>()
          const deadLetters = NatsBroker.subscriber(`${dead}.orders`, {}, (_, message) => Queue.offer(letters, message))
          const letter = yield* withApp(
            Layer.merge(app, deadLetters),
            Effect.andThen(
              NatsBroker.publish(subject, "order", { stream: name, headers: { "x-trace": "t1" } }),
              Queue.take(letters)
            )
          )
          // Stored: the dead-letter subject is captured by a stream.
          const stored = yield* nats.jetstream.getMessage(dead, { lastBySubject: `${dead}.orders` })
          assert.isTrue(Option.isSome(stored))
          assert.deepStrictEqual(deliveries.map(([count]) => count), [1, 2, 3])
          assert.isAtLeast(deliveries[1]![1] - deliveries[0]![1], 150)
          assert.isAtLeast(deliveries[2]![1] - deliveries[1]![1], 450)
          assert.strictEqual(new TextDecoder().decode(letter.data), "order")
          const header = (key: string) => NatsHeaders.get(letter.headers, key)
          assert.deepStrictEqual(
            [
              header("x-trace"),
              header("nats-effect-dead-letter-subject"),
              header("nats-effect-dead-letter-stream"),
              header("nats-effect-dead-letter-sequence"),
              header("nats-effect-dead-letter-delivery-count"),
              header("nats-effect-dead-letter-error-tag"),
              header("nats-effect-dead-letter-error-message")
            ],
            ["t1", subject, name, "1", "3", "OutOfStock", "no stock at all"]
          )
          const info = yield* consumerInfo(name, "retry")
          assert.deepStrictEqual([info.numAckPending, info.ackFloor.streamSeq], [0, 1])
        }))
    })
  })
