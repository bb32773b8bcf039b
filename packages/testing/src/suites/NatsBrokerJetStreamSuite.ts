/**
 * The broker's JetStream subscribers and publishers, run against every
 * adapter: streams declared from subscribers (merged, or only attached to),
 * consumers on several subjects, consumer options checked up front, the ack
 * policies, retries with backoff,
 * dead letters, progress reports for slow handlers and batches, at most `concurrency`
 * unacknowledged messages, at-least-once across a restart of the app, and
 * JetStream publishes with their PubAck, de-duplication and expectations.
 *
 * One NATS (one server process for `nats-server`) per suite; every test uses
 * its own stream.
 *
 * @since 0.1.0
 * @module
 */
import { assert, describe, layer } from "@effect/vitest"
import { NatsBroker, NatsClient, NatsError, NatsHeaders, NatsMessage, NatsMetrics } from "@nats-effect/core"
import { Deferred, Duration, Effect, Layer, Metric, Option, Queue, Schema, Stream } from "effect"
import type { Adapter } from "../Adapters.ts"
import { bytes, failure, recordingLogs, text, unique } from "../internal/fixtures.ts"
import { lacking, requires } from "../internal/requires.ts"

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

/**
 * Completes once `duration` has passed by the server's clock, awaited instead
 * of slept: a message left unacknowledged comes back after its consumer's ack
 * wait.
 */
const serverElapsed = (duration: Duration.Input) =>
  Effect.scoped(Effect.gen(function*() {
    const nats = yield* client
    const name = unique("TIMER")
    yield* nats.jetstream.streams.add({ name, subjects: [name] })
    yield* Effect.addFinalizer(() => Effect.ignore(nats.jetstream.streams.delete(name)))
    yield* nats.jetstream.publish(name, new Uint8Array(0))
    yield* nats.jetstream.consumers.add(name, { name: "timer", ackWait: duration })
    yield* Stream.runDrain(Stream.take(nats.jetstream.consumers.consume(name, "timer"), 2))
  }))

const consumerInfo = (stream: string, consumer: string) =>
  Effect.flatMap(client, (nats) => Effect.andThen(nats.flush, nats.jetstream.consumers.info(stream, consumer)))

const publishText = (subject: string, stream: string, count: number) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => i + 1),
    (i) => NatsBroker.publish(subject, `m${i}`, { stream }),
    { discard: true }
  )

/**
 * Registers the conformance tests of the broker's JetStream subscribers and publishers for one adapter.
 *
 * @since 0.1.0
 * @category suites
 */
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
          const [, logs] = yield* recordingLogs(withApp(
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
          ))
          const conflicts = logs.filter((line) => line.level === "Warn" && line.message.includes("another configuration"))
          assert.deepStrictEqual(conflicts.map((line) => line.message), [
            `the stream "${name}" exists with another configuration (maxMsgs 100, not 5); its own is kept`
          ])
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

      it.effect("starts where its deliverPolicy says; an ephemeral consumer is deleted on shutdown", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          yield* nats.jetstream.streams.add({ name, subjects: [`${name}.>`] })
          for (const [subject, payload] of [["n", "old"], ["k.a", "a1"], ["k.a", "a2"], ["k.b", "b1"]]) {
            yield* nats.jetstream.publish(`${name}.${subject}`, bytes(payload))
          }
          const fresh = yield* Queue.unbounded<string>()
          const latest = yield* Queue.unbounded<string>()
          const app = Layer.merge(
            NatsBroker.subscriber(`${name}.n`, { stream: name, deliverPolicy: "new" }, (_, message) =>
              Queue.offer(fresh, text(message.data))),
            NatsBroker.subscriber(
              `${name}.k.*`,
              { stream: name, durable: "latest", deliverPolicy: "lastPerSubject" },
              (_, message) => Queue.offer(latest, text(message.data))
            )
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              assert.strictEqual((yield* nats.jetstream.streams.info(name)).state.consumerCount, 2)
              yield* NatsBroker.publish(`${name}.n`, "new", { stream: name })
              assert.strictEqual(yield* Queue.take(fresh), "new")
              assert.deepStrictEqual([yield* Queue.take(latest), yield* Queue.take(latest)], ["a2", "b1"])
            })
          )
          // The durable stays.
          assert.strictEqual((yield* nats.jetstream.streams.info(name)).state.consumerCount, 1)
        }))

      it.effect("gives the server the consumer's config as written, read back from the server", () =>
        Effect.gen(function*() {
          const name = yield* streamName
          const startTime = new Date(Date.UTC(2026, 0, 2, 3, 4, 5))
          const app = Layer.mergeAll(
            NatsBroker.subscriber(`${name}.orders.{region}`, {
              stream: name,
              durable: "orders",
              deliverPolicy: { startSequence: 3 },
              maxDeliver: 4,
              backoff: ["1 second", "3 seconds", "9 seconds"],
              maxAckPending: 7,
              ackPolicy: "rejectOnError",
              description: "orders by region"
            }, () => Effect.void),
            NatsBroker.subscriber(`${name}.audit`, {
              stream: name,
              durable: "audit",
              deliverPolicy: { startTime },
              ackWait: "45 seconds",
              concurrency: 4
            }, () => Effect.void)
          )
          yield* withApp(app, Effect.gen(function*() {
            const orders = (yield* consumerInfo(name, "orders")).config
            assert.deepStrictEqual(
              [orders.name, orders.filterSubjects, orders.deliver, orders.ackPolicy, orders.maxDeliver, orders.maxAckPending],
              ["orders", [`${name}.orders.*`], { startSequence: 3 }, "explicit", 4, 7]
            )
            // With a backoff, the server's ack wait is its first entry.
            assert.deepStrictEqual(
              [orders.ackWait, ...orders.backoff].map(Duration.toMillis),
              [1000, 1000, 3000, 9000]
            )
            assert.strictEqual(orders.description, "orders by region")
            const audit = (yield* consumerInfo(name, "audit")).config
            assert.deepStrictEqual(audit.deliver, { startTime })
            assert.strictEqual(Duration.toMillis(audit.ackWait), 45_000)
            // maxAckPending defaults to the concurrency; maxDeliver to unlimited.
            assert.deepStrictEqual([audit.maxAckPending, audit.maxDeliver, audit.backoff], [4, -1, []])
          }))
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

      requires(it, adapter, "several filter subjects", 2, 10).effect("consumes only the subjects given, within its subject, and declares its stream with them", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          const [eu, us, asia] = ["eu", "us", "asia"].map((region) => `${name}.orders.${region}`)
          const received = yield* Queue.unbounded<string>()
          const app = Layer.mergeAll(
            NatsBroker.subscriber(
              `${name}.orders.{region}`,
              { stream: name, durable: "west", subjects: [eu!, us!] },
              (_, message) => Queue.offer(received, message.params.region!)
            ),
            NatsBroker.subscriber(asia!, { stream: name }, () => Effect.void)
          )
          const [, logs] = yield* recordingLogs(withApp(
            app,
            Effect.gen(function*() {
              assert.deepStrictEqual([...(yield* nats.jetstream.streams.info(name)).config.subjects].sort(), [asia, eu, us])
              assert.deepStrictEqual((yield* consumerInfo(name, "west")).config.filterSubjects, [eu, us])
              for (const subject of [asia!, eu!, asia!, us!]) yield* NatsBroker.publish(subject, "order", { stream: name })
              assert.deepStrictEqual([yield* Queue.take(received), yield* Queue.take(received)], ["eu", "us"])
              const west = yield* consumerInfo(name, "west")
              assert.deepStrictEqual([west.numPending, west.delivered.streamSeq], [0, 4])
            })
          ))
          assert.isTrue(logs.some((line) =>
            line.message === `listening on ${name}.orders.* for ${eu}, ${us} on the stream "${name}" as consumer "west"` +
                ` as "${name}.orders.{region}"`
          ))
        }))

      it.effect("refuses subjects outside its subject, overlapping ones, none, or invalid ones, when built", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          const build = (subjects: ReadonlyArray<string>) =>
            failure(withApp(
              NatsBroker.subscriber(`${name}.orders.{region}`, { stream: name, durable: "d", subjects }, () => Effect.void),
              Effect.void
            ))
          const outside = yield* build([`${name}.orders.eu`, `${name}.refunds.eu`])
          assert.strictEqual(outside._tag, "InvalidConsumerConfig")
          assert.include(outside.message, `the subject ${name}.refunds.eu is not within the subscriber's ${name}.orders.{region}`)
          const overlapping = yield* build([`${name}.orders.*`, `${name}.orders.eu`])
          assert.strictEqual(overlapping._tag, "InvalidConsumerConfig")
          assert.include(overlapping.message, "overlap")
          assert.strictEqual((yield* build([]))._tag, "InvalidConsumerConfig")
          assert.strictEqual((yield* build([`${name}.orders.e u`]))._tag, "InvalidSubject")
          // Refused before anything was declared.
          assert.strictEqual((yield* failure(nats.jetstream.streams.info(name)))._tag, "StreamNotFound")
        }))

      lacking(it, adapter, "several filter subjects", 2, 10).effect("refuses several subjects before nats-server 2.10 with FeatureNotSupported, declaring nothing", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          const refused = yield* failure(withApp(
            NatsBroker.subscriber(
              `${name}.orders.{region}`,
              { stream: name, subjects: [`${name}.orders.eu`, `${name}.orders.us`] },
              () => Effect.void
            ),
            Effect.void
          ))
          assert.strictEqual(refused._tag, "FeatureNotSupported")
          assert.deepInclude(refused as NatsError.FeatureNotSupported, {
            feature: "several filter subjects",
            requiredVersion: "2.10.0",
            serverVersion: nats.server.version
          })
          assert.strictEqual((yield* failure(nats.jetstream.streams.info(name)))._tag, "StreamNotFound")
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
          assert.strictEqual(text(letter.data), "order")
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

      it.effect("terminates a payload that does not decode, without calling the handler", () =>
        Effect.gen(function*() {
          const name = yield* streamName
          const subject = `${name}.orders`
          const received = yield* Queue.unbounded<number>()
          const app = NatsBroker.subscriber(
            subject,
            { stream: name, durable: "strict", schema: Order, ackWait: "300 millis" },
            (_, message) => Queue.offer(received, message.sequence)
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(subject, "not an order", { stream: name })
              yield* NatsBroker.publish(subject, { id: "o-2", quantity: 1 }, { stream: name, schema: Order })
              assert.strictEqual(yield* Queue.take(received), 2)
            })
          )
          const info = yield* consumerInfo(name, "strict")
          assert.deepStrictEqual([info.numAckPending, info.numRedelivered, info.ackFloor.streamSeq], [0, 0, 2])
        }))

      it.effect("sends a payload that does not decode to the dead-letter subject at once, then terminates it", () =>
        Effect.gen(function*() {
          const name = yield* streamName
          const subject = `${name}.orders`
          const letters = yield* Queue.unbounded<NatsMessage.Message>()
          const app = Layer.merge(
            NatsBroker.subscriber(
              subject,
              { stream: name, durable: "poisoned", schema: Order, maxDeliver: 5, deadLetter: `${name}_dead.orders` },
              () => Effect.void
            ),
            NatsBroker.subscriber(`${name}_dead.orders`, {}, (_, message) => Queue.offer(letters, message))
          )
          const letter = yield* withApp(
            app,
            Effect.andThen(NatsBroker.publish(subject, "not an order", { stream: name }), Queue.take(letters))
          )
          assert.strictEqual(text(letter.data), "not an order")
          const header = (key: string) => NatsHeaders.get(letter.headers, key)
          assert.deepStrictEqual(
            [header("nats-effect-dead-letter-delivery-count"), header("nats-effect-dead-letter-error-tag")],
            ["1", "DecodeError"]
          )
          assert.include(header("nats-effect-dead-letter-error-message"), "Expected")
          const info = yield* consumerInfo(name, "poisoned")
          assert.deepStrictEqual([info.numAckPending, info.numRedelivered, info.ackFloor.streamSeq], [0, 0, 1])
        }))

      /**
       * Publishes one message that fails (on its first delivery) and one that
       * succeeds to a subscriber with `ackPolicy`, its handler blocked on the
       * first until released; returns
       * the deliveries (sequence/count), the ack-pending count while the first is
       * blocked, and the consumer's state after shutdown.
       */
      const underPolicy = (ackPolicy: NatsBroker.AckPolicy, broker?: Layer.Layer<NatsBroker.NatsBroker, never, NatsClient.NatsClient>) =>
        Effect.gen(function*() {
          const name = yield* streamName
          const subject = `${name}.jobs`
          const deliveries = yield* Queue.unbounded<string>()
          const release = yield* Deferred.make<void>()
          const app = NatsBroker.subscriber(
            subject,
            { stream: name, durable: "policy", ...(broker === undefined ? { ackPolicy } : {}) },
            (payload, message) =>
              Effect.gen(function*() {
                yield* Queue.offer(deliveries, `${message.sequence}/${message.deliveryCount}`)
                // "fail" fails on its first delivery only, once released.
                if (payload !== "fail" || message.deliveryCount > 1) return
                yield* Deferred.await(release)
                return yield* Effect.fail(new OutOfStock({ message: "none left" }))
              })
          )
          const [pendingWhileBlocked, seen] = yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(subject, "fail", { stream: name })
              yield* Queue.take(deliveries)
              const blocked = yield* consumerInfo(name, "policy")
              yield* Deferred.succeed(release, undefined)
              yield* NatsBroker.publish(subject, "ok", { stream: name })
              const seen = ["1/1"]
              while (!seen.includes("2/1")) seen.push(yield* Queue.take(deliveries))
              return [blocked.numAckPending, seen] as const
            }),
            broker
          )
          return { pendingWhileBlocked, seen, after: yield* consumerInfo(name, "policy") }
        })

      it.effect("ackFirst acks before the handler; ack acks after it, whatever its outcome", () =>
        Effect.gen(function*() {
          const first = yield* underPolicy("ackFirst")
          assert.strictEqual(first.pendingWhileBlocked, 0)
          assert.deepStrictEqual(first.seen, ["1/1", "2/1"])
          assert.deepStrictEqual([first.after.numAckPending, first.after.ackFloor.streamSeq], [0, 2])

          const after = yield* underPolicy("ack")
          assert.strictEqual(after.pendingWhileBlocked, 1)
          assert.deepStrictEqual(after.seen, ["1/1", "2/1"])
          assert.deepStrictEqual([after.after.numAckPending, after.after.ackFloor.streamSeq], [0, 2])
        }))

      it.effect("nackOnError (the default) redelivers a failure at once without backoff; layerWith sets the default", () =>
        Effect.gen(function*() {
          const byDefault = yield* underPolicy("nackOnError")
          assert.deepStrictEqual(byDefault.seen, ["1/1", "1/2", "2/1"])
          assert.strictEqual(byDefault.after.numRedelivered, 0)
          const brokerWide = yield* underPolicy("ack", NatsBroker.layerWith({ ackPolicy: "ack" }))
          assert.deepStrictEqual(brokerWide.seen, ["1/1", "2/1"])
        }))

      it.effect("rejectOnError terminates a failure and sends it to the dead letters at once", () =>
        Effect.gen(function*() {
          const name = yield* streamName
          const subject = `${name}.jobs`
          const deadLetter = unique("dead")
          const letters = yield* Queue.unbounded<NatsMessage.Message>()
          const deliveries = yield* Queue.unbounded<number>()
          const app = Layer.merge(
            NatsBroker.subscriber(
              subject,
              { stream: name, durable: "reject", ackPolicy: "rejectOnError", maxDeliver: 5, deadLetter },
              (_, message) =>
                Effect.andThen(Queue.offer(deliveries, message.deliveryCount), Effect.die(new Error("bug")))
            ),
            NatsBroker.subscriber(deadLetter, {}, (_, message) => Queue.offer(letters, message))
          )
          const letter = yield* withApp(
            app,
            Effect.andThen(NatsBroker.publish(subject, { id: "o-3", quantity: 1 }, { stream: name }), Queue.take(letters))
          )
          assert.deepStrictEqual(yield* Queue.takeAll(deliveries), [1])
          assert.deepStrictEqual(JSON.parse(text(letter.data)), { id: "o-3", quantity: 1 })
          assert.deepStrictEqual(
            [
              NatsHeaders.get(letter.headers, "nats-effect-dead-letter-delivery-count"),
              NatsHeaders.get(letter.headers, "nats-effect-dead-letter-error-tag"),
              NatsHeaders.get(letter.headers, "content-type")
            ],
            ["1", "Defect", "application/json"]
          )
          assert.include(NatsHeaders.get(letter.headers, "nats-effect-dead-letter-error-message"), "internal error")
          const info = yield* consumerInfo(name, "reject")
          assert.deepStrictEqual([info.numAckPending, info.ackFloor.streamSeq], [0, 1])
        }))

      it.effect("counts a JetStream subscriber's messages, failures and dead letters under its durable", () =>
        Effect.gen(function*() {
          const name = yield* streamName
          const subject = `${name}.orders`
          const deadLetter = unique("dead")
          const letters = yield* Queue.unbounded<NatsMessage.Message>()
          const handled = yield* Queue.unbounded<string>()
          const app = Layer.merge(
            NatsBroker.subscriber(
              subject,
              { stream: name, durable: "metered", schema: Order, maxDeliver: 2, deadLetter },
              (order) =>
                order.quantity > 0 ? Queue.offer(handled, order.id) : Effect.fail(new OutOfStock({ message: order.id }))
            ),
            NatsBroker.subscriber(deadLetter, {}, (_, message) => Queue.offer(letters, message))
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(subject, { id: "o-1", quantity: 1 }, { stream: name, schema: Order })
              yield* NatsBroker.publish(subject, { id: "o-2", quantity: 0 }, { stream: name, schema: Order })
              assert.strictEqual(yield* Queue.take(handled), "o-1")
              yield* Queue.take(letters)
            })
          )
          const attributes = NatsMetrics.subscriberAttributes({ name: subject, subject, consumerGroup: "metered" })
          const failedWith = { ...attributes, "error.type": "OutOfStock" }
          const count = (metric: Metric.Counter<number>) => Effect.map(Metric.value(metric), (state) => state.count)
          assert.deepStrictEqual({
            received: yield* count(NatsMetrics.consumedMessages(attributes)),
            handled: yield* count(NatsMetrics.handledMessages(attributes)),
            failed: yield* count(NatsMetrics.failedMessages(failedWith)),
            deadLettered: yield* count(NatsMetrics.deadLetteredMessages(attributes))
          }, { received: 3, handled: 1, failed: 2, deadLettered: 1 })
          assert.strictEqual((yield* Metric.value(NatsMetrics.processDuration(failedWith))).count, 2)
          // JetStream publishes are timed until their ack.
          const published = NatsMetrics.sentAttributes(subject, "publish")
          assert.strictEqual((yield* Metric.value(NatsMetrics.operationDuration(published))).count, 2)
        }))

      it.effect("manual leaves settling to the handler; what a handler settles is not settled again", () =>
        Effect.gen(function*() {
          const name = yield* streamName
          const subject = `${name}.jobs`
          const handled = yield* Queue.unbounded<number>()
          const app = Layer.merge(
            NatsBroker.subscriber(
              `${subject}.manual`,
              { stream: name, durable: "manual", ackPolicy: "manual" },
              (_, message) => Queue.offer(handled, message.sequence)
            ),
            // Under nackOnError: a nak for later, then success, which would otherwise ack it.
            NatsBroker.subscriber(
              `${subject}.own`,
              { stream: name, durable: "own" },
              (_, message) => Effect.andThen(message.nak("1 hour"), Queue.offer(handled, message.sequence))
            )
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(`${subject}.manual`, "a", { stream: name })
              yield* NatsBroker.publish(`${subject}.own`, "b", { stream: name })
              assert.deepStrictEqual([yield* Queue.take(handled), yield* Queue.take(handled)].sort(), [1, 2])
            })
          )
          const manual = yield* consumerInfo(name, "manual")
          const own = yield* consumerInfo(name, "own")
          assert.deepStrictEqual([manual.numAckPending, own.numAckPending], [1, 1])
        }))

      // -----------------------------------------------------------------------
      // Slow handlers, restarts
      // -----------------------------------------------------------------------

      const slowHandler = (inProgress: boolean) =>
        Effect.gen(function*() {
          const name = yield* streamName
          const subject = `${name}.slow`
          const deliveries = yield* Queue.unbounded<number>()
          const app = NatsBroker.subscriber(
            subject,
            { stream: name, durable: "slow", ackWait: "400 millis", inProgress },
            (_, message) =>
              // Work that takes longer than twice the ack wait.
              Effect.andThen(Queue.offer(deliveries, message.deliveryCount), serverElapsed("1 second"))
          )
          return yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(subject, "work", { stream: name })
              yield* NatsBroker.publish(subject, "next", { stream: name })
              // The second message is delivered after the first is done (concurrency 1).
              const seen: Array<number> = []
              const done = yield* Deferred.make<void>()
              yield* Effect.forkScoped(Effect.gen(function*() {
                while (true) {
                  seen.push(yield* Queue.take(deliveries))
                  if (seen.length === 2) yield* Deferred.succeed(done, undefined)
                }
              }))
              yield* Deferred.await(done)
              return seen
            })
          )
        })

      it.effect("reports progress while a slow handler runs, so it is not redelivered under it (opt-out)", () =>
        Effect.gen(function*() {
          assert.deepStrictEqual(yield* slowHandler(true), [1, 1])
          // Without progress reports the server redelivers the first message before the second.
          assert.deepStrictEqual(yield* slowHandler(false), [1, 2])
        }), { timeout: 20_000 })

      it.effect("handles every message at least once across a restart of the app, each once per process", () =>
        Effect.gen(function*() {
          const name = yield* streamName
          const subject = `${name}.tasks`
          const total = 20
          const run = (handled: Array<string>, enough: number, before: Effect.Effect<void, NatsError.NatsError, NatsBroker.NatsBroker>) =>
            Effect.gen(function*() {
              const reached = yield* Deferred.make<void>()
              const app = NatsBroker.subscriber(
                subject,
                { stream: name, durable: "tasks", concurrency: 4, ackWait: "5 seconds" },
                (payload) =>
                  Effect.sync(() => {
                    handled.push(payload as string)
                    if (handled.length >= enough) Deferred.doneUnsafe(reached, Effect.void)
                  })
              )
              yield* withApp(
                app,
                Effect.andThen(before, Deferred.await(reached))
              )
            })
          const first: Array<string> = []
          yield* run(first, 8, publishText(subject, name, total))
          const second: Array<string> = []
          const remaining = total - new Set(first).size
          yield* run(second, remaining, Effect.void)
          assert.strictEqual(new Set(first).size, first.length, "handled twice by the first process")
          assert.strictEqual(new Set(second).size, second.length, "handled twice by the second process")
          assert.deepStrictEqual(first.filter((payload) => second.includes(payload)), [])
          assert.strictEqual(new Set([...first, ...second]).size, total)
          const info = yield* consumerInfo(name, "tasks")
          assert.deepStrictEqual([info.numAckPending, info.numPending], [0, 0])
        }))

      // -----------------------------------------------------------------------
      // Batches
      // -----------------------------------------------------------------------

      it.effect("batch: hands full batches, then a partial one once its timeout has passed, acked together", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          const subject = `${name}.events`
          yield* nats.jetstream.streams.add({ name, subjects: [subject] })
          // All there before the subscriber starts: batches fill at once.
          yield* publishText(subject, name, 7).pipe(Effect.provide(NatsBroker.layer))
          const batches = yield* Queue.unbounded<readonly [ReadonlyArray<unknown>, number]>()
          const release = yield* Deferred.make<void>()
          const app = NatsBroker.subscriber(
            subject,
            { stream: name, durable: "batches", batch: { size: 3, timeout: "300 millis" } },
            (payloads) =>
              Effect.andThen(
                Queue.offer(batches, [payloads, Date.now()]),
                // The first batch waits, to show its messages unacknowledged together.
                payloads[0] === "m1" ? Deferred.await(release) : Effect.void
              )
          )
          const [seen, pendingWhileBlocked] = yield* withApp(
            app,
            Effect.gen(function*() {
              const first = yield* Queue.take(batches)
              const blocked = yield* consumerInfo(name, "batches")
              yield* Deferred.succeed(release, undefined)
              const rest = [yield* Queue.take(batches), yield* Queue.take(batches)]
              return [[first, ...rest], blocked.numAckPending] as const
            })
          )
          assert.deepStrictEqual(seen.map(([payloads]) => payloads), [["m1", "m2", "m3"], ["m4", "m5", "m6"], ["m7"]])
          assert.strictEqual(pendingWhileBlocked, 3)
          // m7 was there at once: its batch waited the timeout for two more.
          assert.isAtLeast(seen[2]![1] - seen[1]![1], 250)
          const info = yield* consumerInfo(name, "batches")
          assert.deepStrictEqual([info.numAckPending, info.numRedelivered, info.ackFloor.streamSeq], [0, 0, 7])
        }))

      it.effect("batch: a failed batch is nacked as a whole; a payload that does not decode is terminated and left out", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          const subject = `${name}.orders`
          yield* nats.jetstream.streams.add({ name, subjects: [subject] })
          yield* NatsBroker.publish(subject, { id: "o-1", quantity: 1 }, { stream: name, schema: Order }).pipe(
            Effect.andThen(NatsBroker.publish(subject, "not an order", { stream: name })),
            Effect.andThen(NatsBroker.publish(subject, { id: "o-2", quantity: 2 }, { stream: name, schema: Order })),
            Effect.provide(NatsBroker.layer)
          )
          const calls = yield* Queue.unbounded<string>()
          const app = NatsBroker.subscriber(
            subject,
            { stream: name, durable: "orders", schema: Order, batch: { size: 3, timeout: "200 millis" } },
            (orders, messages) =>
              Effect.andThen(
                Queue.offer(
                  calls,
                  orders.map((order, i) => `${order.id}@${messages[i]!.sequence}/${messages[i]!.deliveryCount}`).join(" ")
                ),
                // Fails on the first delivery only.
                messages[0].deliveryCount === 1 ? Effect.fail(new OutOfStock({ message: "later" })) : Effect.void
              )
          )
          const seen = yield* withApp(app, Effect.all([Queue.take(calls), Queue.take(calls)]))
          assert.deepStrictEqual(seen, ["o-1@1/1 o-2@3/1", "o-1@1/2 o-2@3/2"])
          const info = yield* consumerInfo(name, "orders")
          assert.deepStrictEqual([info.numAckPending, info.numPending, info.ackFloor.streamSeq], [0, 0, 3])
        }))

      it.effect("batch: rejectOnError terminates every message of a failed batch", () =>
        Effect.gen(function*() {
          const name = yield* streamName
          const subject = `${name}.jobs`
          const failed = yield* Deferred.make<ReadonlyArray<unknown>>()
          const app = NatsBroker.subscriber(
            subject,
            { stream: name, durable: "rejects", ackPolicy: "rejectOnError", batch: { size: 2, timeout: "5 seconds" } },
            (payloads) => Effect.andThen(Deferred.succeed(failed, payloads), Effect.fail(new OutOfStock({ message: "no" })))
          )
          const payloads = yield* withApp(
            app,
            Effect.andThen(publishText(subject, name, 2), Deferred.await(failed))
          )
          assert.deepStrictEqual(payloads, ["m1", "m2"])
          const info = yield* consumerInfo(name, "rejects")
          assert.deepStrictEqual([info.numAckPending, info.numRedelivered, info.ackFloor.streamSeq], [0, 0, 2])
        }))

      /** The first two batches of a slow batch handler, as `payload/deliveryCount`. */
      const slowBatches = (inProgress: boolean) =>
        Effect.gen(function*() {
          const name = yield* streamName
          const subject = `${name}.slow`
          const batches = yield* Queue.unbounded<ReadonlyArray<string>>()
          const app = NatsBroker.subscriber(
            subject,
            { stream: name, durable: "slow", ackWait: "400 millis", inProgress, batch: { size: 2, timeout: "5 seconds" } },
            (payloads, messages) =>
              // Work that takes longer than twice the ack wait.
              Effect.andThen(
                Queue.offer(batches, payloads.map((payload, i) => `${payload}/${messages[i]!.deliveryCount}`)),
                serverElapsed("1 second")
              )
          )
          return yield* withApp(
            app,
            // The second batch is delivered after the first is acked (maxAckPending is one batch).
            Effect.andThen(publishText(subject, name, 4), Effect.all([Queue.take(batches), Queue.take(batches)]))
          )
        })

      it.effect("batch: reports progress for every message of a slow batch, so none is redelivered under it", () =>
        Effect.gen(function*() {
          assert.deepStrictEqual(yield* slowBatches(true), [["m1/1", "m2/1"], ["m3/1", "m4/1"]])
          // Without progress reports the server redelivers the first batch before the second.
          const [first, second] = yield* slowBatches(false)
          assert.deepStrictEqual(first, ["m1/1", "m2/1"])
          assert.deepStrictEqual(second.map((delivery) => delivery.split("/")[0]), ["m1", "m2"])
        }), { timeout: 20_000 })

      it.effect("batch: on shutdown, what a half-handled batch acked stays done and the rest is redelivered", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          const subject = `${name}.jobs`
          yield* nats.jetstream.streams.add({ name, subjects: [subject] })
          yield* publishText(subject, name, 4).pipe(Effect.provide(NatsBroker.layer))
          const handled: Array<string> = []
          // Handles its batch one message at a time, acking each; the first time, it is still on m3 at shutdown.
          const run = (stuck: Deferred.Deferred<void> | undefined, enough: number) =>
            Effect.gen(function*() {
              const reached = yield* Deferred.make<void>()
              const app = NatsBroker.subscriber(
                subject,
                { stream: name, durable: "jobs", ackWait: "1 second", batch: { size: 4, timeout: "1 second" } },
                (payloads, messages) =>
                  Effect.forEach(payloads, (payload, i) =>
                    stuck !== undefined && payload === "m3"
                      ? Effect.andThen(Deferred.succeed(stuck, undefined), Effect.never)
                      : Effect.andThen(messages[i]!.ack, Effect.sync(() => {
                        handled.push(`${payload}/${messages[i]!.deliveryCount}`)
                        if (handled.length >= enough) Deferred.doneUnsafe(reached, Effect.void)
                      })), { discard: true })
              )
              yield* Effect.provide(
                Deferred.await(stuck ?? reached),
                app.pipe(Layer.provideMerge(NatsBroker.layerWith({ gracefulTimeout: "100 millis" })))
              )
            })
          yield* run(yield* Deferred.make<void>(), 2)
          assert.deepStrictEqual(handled, ["m1/1", "m2/1"])
          yield* run(undefined, 4)
          // Nothing lost, nothing acked handled again.
          assert.deepStrictEqual(handled, ["m1/1", "m2/1", "m3/2", "m4/2"])
          const info = yield* consumerInfo(name, "jobs")
          assert.deepStrictEqual([info.numAckPending, info.numPending, info.ackFloor.streamSeq], [0, 0, 4])
        }), { timeout: 20_000 })

      // -----------------------------------------------------------------------
      // Publishing
      // -----------------------------------------------------------------------

      it.effect("publishes through JetStream: PubAck, de-duplication by msgId, expectations", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          yield* nats.jetstream.streams.add({ name, subjects: [`${name}.>`] })
          yield* Effect.provide(
            Effect.gen(function*() {
              const first = yield* NatsBroker.publish(`${name}.a`, "x", { stream: name, msgId: "m-1" })
              const again = yield* NatsBroker.publish(`${name}.a`, "x", { stream: name, msgId: "m-1" })
              assert.deepStrictEqual([first, again], [
                { stream: name, seq: 1, duplicate: false },
                { stream: name, seq: 1, duplicate: true }
              ])
              const next = yield* NatsBroker.publish(`${name}.a`, "y", {
                stream: name,
                expect: { lastSubjectSequence: 1, stream: name }
              })
              assert.strictEqual(next.seq, 2)
              const stale = yield* failure(
                NatsBroker.publish(`${name}.a`, "z", { stream: name, expect: { lastSubjectSequence: 1 } })
              )
              assert.strictEqual(stale._tag, "WrongLastSequence")
              const unstored = yield* failure(NatsBroker.publish(unique("nowhere"), "z", { stream: name }))
              assert.strictEqual(unstored._tag, "NoResponders")
            }),
            NatsBroker.layer
          )
        }))

      requires(it, adapter, "per-message TTL", 2, 11).effect("publishes with a TTL, a publisher's own unless a publish gives one", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          const sessions = NatsBroker.publisher(`${name}.sessions`, {
            stream: { name, allowMsgTtl: true },
            ttl: "1 hour"
          })
          const ttlOf = (seq: number) =>
            Effect.map(
              nats.jetstream.getMessage(name, { seq }),
              (msg) => NatsHeaders.get(Option.getOrThrow(msg).headers, "Nats-TTL")
            )
          yield* withApp(
            sessions.layer,
            Effect.gen(function*() {
              const own = yield* sessions.publish("s-1")
              const given = yield* sessions.publish("s-2", { ttl: "90 seconds" })
              const direct = yield* NatsBroker.publish(`${name}.sessions`, "s-3", { stream: name, ttl: "2 minutes" })
              const none = yield* NatsBroker.publish(`${name}.sessions`, "s-4", { stream: name })
              assert.deepStrictEqual(
                [yield* ttlOf(own.seq), yield* ttlOf(given.seq), yield* ttlOf(direct.seq), yield* ttlOf(none.seq)],
                ["1h0m0s", "1m30s", "2m0s", undefined]
              )
            })
          )
        }))

      it.effect("a publisher publishes with its Schema and headers, through JetStream with a stream it declares", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          const stored = NatsBroker.publisher(`${name}.out`, { schema: Order, stream: name, headers: { "x-source": "svc" } })
          const plain = NatsBroker.publisher(`${name}.plain`, { schema: Order })
          const ping = NatsBroker.publisher(`${name}.ping`)
          const received = yield* Queue.unbounded<readonly [unknown, string | undefined]>()
          const app = Layer.mergeAll(
            stored.layer,
            plain.layer,
            NatsBroker.subscriber(`${name}.out`, { schema: Order }, (order, message) =>
              Queue.offer(received, [order, NatsHeaders.get(message.headers, "x-source")])),
            NatsBroker.subscriber(`${name}.plain`, { schema: Order }, (order, message) =>
              Queue.offer(received, [order, NatsHeaders.get(message.headers, "x-source")])),
            NatsBroker.subscriber(`${name}.ping`, {}, () => Effect.succeed("pong"))
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              assert.deepStrictEqual((yield* nats.jetstream.streams.info(name)).config.subjects, [`${name}.out`])
              const ack = yield* stored.publish({ id: "o-1", quantity: 1 }, { headers: { "x-extra": "1" } })
              assert.deepStrictEqual(ack, { stream: name, seq: 1, duplicate: false })
              assert.deepStrictEqual(yield* Queue.take(received), [{ id: "o-1", quantity: 1 }, "svc"])
              yield* plain.publish({ id: "o-2", quantity: 2 })
              assert.deepStrictEqual(yield* Queue.take(received), [{ id: "o-2", quantity: 2 }, undefined])
              assert.strictEqual(yield* ping.request("ping"), "pong")
            })
          )
        }))

      it.effect("publishTo publishes the handler's result there, besides the reply, declaring its stream", () =>
        Effect.gen(function*() {
          const nats = yield* client
          const name = yield* streamName
          const shouted = NatsBroker.publisher(`${name}.shouted`, { stream: name })
          const forwarded = yield* Queue.unbounded<unknown>()
          const app = Layer.merge(
            NatsBroker.subscriber(
              `${name}.said`,
              { publishTo: shouted },
              (payload) => Effect.succeed(String(payload).toUpperCase())
            ),
            NatsBroker.subscriber(`${name}.shouted`, {}, (payload) => Queue.offer(forwarded, payload))
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              assert.strictEqual(yield* NatsBroker.request(`${name}.said`, "hello"), "HELLO")
              assert.strictEqual(yield* Queue.take(forwarded), "HELLO")
              yield* NatsBroker.publish(`${name}.said`, "again")
              assert.strictEqual(yield* Queue.take(forwarded), "AGAIN")
            })
          )
          // Once the app is down its handlers are done, and their publishes acknowledged.
          const info = yield* nats.jetstream.streams.info(name)
          assert.deepStrictEqual([info.config.subjects, info.state.messages], [[`${name}.shouted`], 2])
        }))
    })
  })
