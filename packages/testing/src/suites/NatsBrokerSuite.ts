/**
 * The broker's behaviour, run against every adapter: publish/subscribe with
 * the default and Schema codecs, wildcards and `{param}` subjects, queue
 * groups, request/reply, error replies, failure isolation, concurrency,
 * graceful shutdown, `afterStartup`, log annotations, the `NatsMessage`
 * service and FastStream's header conventions on the wire.
 *
 * One NATS (one server process for `nats-server`) per suite; each test builds
 * its own broker and subscribers, on its own subjects.
 *
 * @since 0.1.0
 * @module
 */
import { assert, describe, layer } from "@effect/vitest"
import { NatsBroker, NatsClient, NatsError, NatsMessage, NatsMetrics } from "@nats-effect/core"
import {
  Cause,
  Deferred,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  Metric,
  Option,
  Queue,
  References,
  Schema,
  Scope,
  Stream,
  Tracer
} from "effect"
import type { Adapter } from "../Adapters.ts"
import { bytes, failure, recordingLogs, text, unique } from "../internal/fixtures.ts"




const Order = Schema.Struct({ id: Schema.String, quantity: Schema.Int })
const Quote = Schema.Struct({ symbol: Schema.String, price: Schema.Number })

class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", { message: Schema.String }) {}

/** Runs `program` with the subscribers of `app` live (and a broker), released afterwards. */
const withApp = <A, E, R, E2, R2>(
  app: Layer.Layer<never, E2, R2>,
  program: Effect.Effect<A, E, R>,
  broker: Layer.Layer<NatsBroker.NatsBroker, never, NatsClient.NatsClient> = NatsBroker.layer
) => Effect.provide(program, app.pipe(Layer.provideMerge(broker)))

interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
  readonly cause: Cause.Cause<unknown>
}

/**
 * A logger that records the lines a subscriber writes about its messages and
 * its shutdown (those annotated with `subscriber`), to assert on.
 */
const captureLogs = Effect.gen(function*() {
  const lines = yield* Queue.unbounded<LogLine>()
  const logger = Logger.make((options) => {
    const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
    if (!("subscriber" in annotations)) return
    const message = Array.isArray(options.message) ? options.message.map(String).join(" ") : String(options.message)
    Queue.offerUnsafe(lines, { level: options.logLevel, message, annotations, cause: options.cause })
  })
  return { lines, layer: Logger.layer([logger]) }
})

/**
 * Registers the conformance tests of the broker on core NATS for one adapter.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = (adapter: Adapter) =>
  describe(`NatsBroker conformance (${adapter.name})`, () => {
    layer(adapter.layer(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
      // -----------------------------------------------------------------------
      // Publish / subscribe
      // -----------------------------------------------------------------------

      it.effect("delivers strings, bytes and Schema-encoded JSON", () =>
        Effect.gen(function*() {
          const base = unique("pubsub")
          const received = yield* Queue.unbounded<readonly [string, unknown]>()
          const app = Layer.mergeAll(
            NatsBroker.subscriber(`${base}.text`, {}, (payload) => Queue.offer(received, ["text", payload])),
            NatsBroker.subscriber(`${base}.bytes`, {}, (payload) => Queue.offer(received, ["bytes", payload])),
            NatsBroker.subscriber(`${base}.order`, { schema: Order }, (order) => Queue.offer(received, ["order", order]))
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(`${base}.text`, "hello")
              const [kind, payload] = yield* Queue.take(received)
              assert.strictEqual(kind, "text")
              assert.strictEqual(payload, "hello")

              yield* NatsBroker.publish(`${base}.bytes`, new Uint8Array([0, 255, 7]))
              const [, bytes] = yield* Queue.take(received)
              assert.instanceOf(bytes, Uint8Array)
              assert.deepStrictEqual(Array.from(bytes as Uint8Array), [0, 255, 7])

              yield* NatsBroker.publish(`${base}.order`, { id: "o-1", quantity: 3 }, { schema: Order })
              const [, order] = yield* Queue.take(received)
              assert.deepStrictEqual(order, { id: "o-1", quantity: 3 })
            })
          )
        }))

      it.effect("decodes JSON without a schema, and refuses a payload its schema cannot encode", () =>
        Effect.gen(function*() {
          const subject = unique("json")
          const received = yield* Queue.unbounded<unknown>()
          yield* withApp(
            NatsBroker.subscriber(subject, {}, (payload) => Queue.offer(received, payload)),
            Effect.gen(function*() {
              yield* NatsBroker.publish(subject, { a: [1, 2], b: null })
              assert.deepStrictEqual(yield* Queue.take(received), { a: [1, 2], b: null })
              const reason = yield* failure(
                NatsBroker.publish(subject, { id: "x", quantity: 1.5 }, { schema: Order })
              )
              assert.strictEqual(reason._tag, "EncodeError")
              assert.strictEqual((reason as NatsError.EncodeError).subject, subject)
            })
          )
        }))

      it.effect("matches '*' and '>' wildcards", () =>
        Effect.gen(function*() {
          const base = unique("wild")
          const received = yield* Queue.unbounded<readonly [string, string]>()
          const app = Layer.mergeAll(
            NatsBroker.subscriber(`${base}.*`, {}, (_, message) => Queue.offer(received, ["one", message.subject])),
            NatsBroker.subscriber(`${base}.>`, {}, (_, message) => Queue.offer(received, ["all", message.subject]))
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(`${base}.a`, "x")
              yield* NatsBroker.publish(`${base}.a.b`, "x")
              const got = yield* Effect.forEach([1, 2, 3], () => Queue.take(received))
              assert.deepStrictEqual(
                got.map(([kind, subject]) => `${kind} ${subject}`).sort(),
                [`all ${base}.a`, `all ${base}.a.b`, `one ${base}.a`]
              )
            })
          )
        }))

      it.effect("hands {param} tokens to the handler as params", () =>
        Effect.gen(function*() {
          const base = unique("logs")
          const received = yield* Queue.unbounded<NatsMessage.Message["params"]>()
          yield* withApp(
            NatsBroker.subscriber(`${base}.{level}.x.{source}`, {}, (_, message) => Queue.offer(received, message.params)),
            Effect.gen(function*() {
              yield* NatsBroker.publish(`${base}.info.x.api`, "started")
              assert.deepStrictEqual(yield* Queue.take(received), { level: "info", source: "api" })
            })
          )
        }))

      it.effect("gives each message to one member of a queue group", () =>
        Effect.gen(function*() {
          const subject = unique("work")
          const handled = yield* Queue.unbounded<readonly [string, number]>()
          const worker = (name: string) =>
            NatsBroker.subscriber(
              subject,
              { queue: "workers", name, schema: Schema.Number },
              (n) => Queue.offer(handled, [name, n])
            )
          yield* withApp(
            Layer.mergeAll(worker("a"), worker("b")),
            Effect.gen(function*() {
              const count = 40
              for (let i = 0; i < count; i++) yield* NatsBroker.publish(subject, i, { schema: Schema.Number })
              const got = yield* Effect.forEach(Array.from({ length: count }), () => Queue.take(handled))
              assert.deepStrictEqual(
                got.map(([, n]) => n).sort((a, b) => a - b),
                Array.from({ length: count }, (_, i) => i)
              )
              // Both members took part (the odds of one getting all 40 are 2^-39).
              assert.deepStrictEqual([...new Set(got.map(([name]) => name))].sort(), ["a", "b"])
            })
          )
        }))

      // -----------------------------------------------------------------------
      // Request / reply
      // -----------------------------------------------------------------------

      it.effect("answers a request with a response schema", () =>
        Effect.gen(function*() {
          const subject = unique("quote")
          const app = NatsBroker.subscriber(
            subject,
            { schema: Schema.String, response: Quote },
            (symbol) => Effect.succeed({ symbol, price: symbol.length * 10 })
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              const quote = yield* NatsBroker.request(subject, "ACME", { schema: Schema.String, response: Quote })
              assert.deepStrictEqual(quote, { symbol: "ACME", price: 40 })
              // Without a response schema, the default decoding (JSON).
              const raw = yield* NatsBroker.request(subject, "AB")
              assert.deepStrictEqual(raw, { symbol: "AB", price: 20 })
            })
          )
        }))

      it.effect("answers a request to a void handler with an empty reply", () =>
        Effect.gen(function*() {
          const subject = unique("void")
          const seen = yield* Queue.unbounded<unknown>()
          yield* withApp(
            NatsBroker.subscriber(subject, {}, (payload) => Queue.offer(seen, payload).pipe(Effect.asVoid)),
            Effect.gen(function*() {
              const reply = yield* NatsBroker.request(subject, "ping")
              assert.strictEqual(reply, undefined)
              assert.strictEqual(yield* Queue.take(seen), "ping")
            })
          )
        }))

      it.effect("answers with an empty reply when a handler with a response schema returns nothing", () =>
        Effect.gen(function*() {
          const subject = unique("maybe")
          const app = NatsBroker.subscriber(
            subject,
            { schema: Schema.String, response: Quote },
            (symbol) => symbol === "known" ? Effect.succeed({ symbol, price: 1 }) : Effect.void
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              assert.deepStrictEqual(yield* NatsBroker.request(subject, "known", { response: Quote }), {
                symbol: "known",
                price: 1
              })
              assert.strictEqual(yield* NatsBroker.request(subject, "unknown"), undefined)
            })
          )
        }))

      it.effect("fails a request with DecodeError when the reply does not match the response schema", () =>
        Effect.gen(function*() {
          const subject = unique("badreply")
          yield* withApp(
            NatsBroker.subscriber(subject, {}, () => Effect.succeed({ symbol: 1 })),
            Effect.gen(function*() {
              const reason = yield* failure(NatsBroker.request(subject, "x", { response: Quote }))
              assert.strictEqual(reason._tag, "DecodeError")
              assert.strictEqual((reason as NatsError.DecodeError).subject, subject)
            })
          )
        }))

      it.effect("fails a request nobody listens to with NoResponders", () =>
        Effect.gen(function*() {
          const subject = unique("nobody")
          const reason = yield* failure(NatsBroker.request(subject, "?")).pipe(Effect.provide(NatsBroker.layer))
          assert.strictEqual(reason._tag, "NoResponders")
        }))

      it.effect("fails an unanswered request with TimeoutError", () =>
        Effect.gen(function*() {
          const subject = unique("slow")
          const never = yield* Deferred.make<void>()
          yield* withApp(
            NatsBroker.subscriber(subject, {}, () => Deferred.await(never)),
            Effect.gen(function*() {
              const reason = yield* failure(NatsBroker.request(subject, "?", { timeout: "200 millis" }))
              assert.strictEqual(reason._tag, "TimeoutError")
              yield* Deferred.succeed(never, undefined)
            })
          )
        }))

      // -----------------------------------------------------------------------
      // Failures
      // -----------------------------------------------------------------------

      it.effect("logs a payload that fails to decode, answers a requester with RemoteError and goes on", () =>
        Effect.gen(function*() {
          const subject = unique("orders")
          const logs = yield* captureLogs
          const handled = yield* Queue.unbounded<typeof Order.Type>()
          const app = NatsBroker.subscriber(subject, { schema: Order }, (order) => Queue.offer(handled, order)).pipe(
            Layer.provide(logs.layer)
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              const reason = yield* failure(NatsBroker.request(subject, { id: "o-1", quantity: "many" }))
              assert.strictEqual(reason._tag, "RemoteError")
              const remote = reason as NatsError.RemoteError
              assert.strictEqual(remote.subject, subject)
              assert.strictEqual(remote.error, "DecodeError")
              assert.include(remote.message, "quantity")

              const warning = yield* Queue.take(logs.lines)
              assert.strictEqual(warning.level, "Warn")
              assert.include(warning.message, "quantity")
              assert.strictEqual(warning.annotations["subject"], subject)

              // Not JSON at all, without a reply subject: logged, dropped.
              yield* NatsBroker.publish(subject, "not json")
              const second = yield* Queue.take(logs.lines)
              assert.strictEqual(second.level, "Warn")
              assert.strictEqual(second.annotations["subject"], subject)

              // The subscriber goes on; the handler saw neither bad message.
              yield* NatsBroker.publish(subject, { id: "o-2", quantity: 2 }, { schema: Order })
              assert.deepStrictEqual(yield* Queue.take(handled), { id: "o-2", quantity: 2 })
              assert.strictEqual(yield* Queue.size(handled), 0)
            })
          )
        }))

      it.effect("isolates a handler's typed error and defect to their message", () =>
        Effect.gen(function*() {
          const subject = unique("fragile")
          const logs = yield* captureLogs
          const app = NatsBroker.subscriber(subject, { schema: Schema.String }, (command) => {
            switch (command) {
              case "fail":
                return Effect.fail(new OutOfStock({ message: "no more widgets" }))
              case "die":
                return Effect.die(new Error("boom"))
              default:
                return Effect.succeed(`ok ${command}`)
            }
          }).pipe(Layer.provide(logs.layer))
          yield* withApp(
            app,
            Effect.gen(function*() {
              const failed = (yield* failure(NatsBroker.request(subject, "fail"))) as NatsError.RemoteError
              assert.strictEqual(failed._tag, "RemoteError")
              assert.strictEqual(failed.error, "OutOfStock")
              assert.strictEqual(failed.message, "no more widgets")
              // An expected failure: one line with its tag and message, no stack.
              const failedLog = yield* Queue.take(logs.lines)
              assert.strictEqual(failedLog.level, "Warn")
              assert.strictEqual(failedLog.message, "handler failed with OutOfStock: no more widgets")
              assert.lengthOf(failedLog.cause.reasons, 0)

              const died = (yield* failure(NatsBroker.request(subject, "die"))) as NatsError.RemoteError
              assert.strictEqual(died.error, "Defect")
              assert.include(died.message, "internal error")
              const diedLog = yield* Queue.take(logs.lines)
              assert.strictEqual(diedLog.level, "Error")
              assert.isTrue(Cause.hasDies(diedLog.cause))

              assert.strictEqual(yield* NatsBroker.request(subject, "again"), "ok again")
            })
          )
        }))

      it.effect("isolates failures of handlers that run as Effects, and of handlers that throw", () =>
        Effect.gen(function*() {
          const subject = unique("effectful")
          const logs = yield* captureLogs
          const app = NatsBroker.subscriber(subject, { schema: Schema.String }, (command) => {
            if (command === "throw") throw new Error("thrown, not returned")
            return Effect.gen(function*() {
              yield* Effect.yieldNow
              if (command === "fail") return yield* new OutOfStock({ message: "later" })
              if (command === "die") return yield* Effect.die("died later")
              return `ok ${command}`
            })
          }).pipe(Layer.provide(logs.layer))
          yield* withApp(
            app,
            Effect.gen(function*() {
              const failed = (yield* failure(NatsBroker.request(subject, "fail"))) as NatsError.RemoteError
              assert.strictEqual(failed.error, "OutOfStock")
              assert.strictEqual(failed.message, "later")
              const died = (yield* failure(NatsBroker.request(subject, "die"))) as NatsError.RemoteError
              assert.strictEqual(died.error, "Defect")
              assert.include(died.message, "internal error")
              const thrown = (yield* failure(NatsBroker.request(subject, "throw"))) as NatsError.RemoteError
              assert.strictEqual(thrown.error, "Defect")
              assert.include(thrown.message, "internal error")
              const levels = yield* Effect.forEach([1, 2, 3], () => Queue.take(logs.lines))
              assert.deepStrictEqual(levels.map((line) => line.level), ["Warn", "Error", "Error"])
              assert.strictEqual(yield* NatsBroker.request(subject, "still"), "ok still")
            })
          )
        }))

      it.effect("answers a defect with `internal error` and the correlation id, its text only in the local log", () =>
        Effect.gen(function*() {
          const subject = unique("leaky")
          const secret = "s3cr3t-pw"
          const logs = yield* captureLogs
          const app = NatsBroker.subscriber(
            subject,
            {},
            () => Effect.die(new Error(`cannot connect to postgres://app:${secret}@db.internal:5432/orders`))
          ).pipe(Layer.provide(logs.layer))
          yield* withApp(
            app,
            Effect.gen(function*() {
              const correlationId = unique("request")
              const died = (yield* failure(NatsBroker.request(subject, "order", { correlationId }))) as NatsError.RemoteError
              assert.strictEqual(died._tag, "RemoteError")
              assert.strictEqual(died.error, "Defect")
              assert.include(died.message, "internal error")
              assert.include(died.message, correlationId)
              for (const shown of [died.message, JSON.stringify(died), String(died)]) {
                assert.notInclude(shown, secret)
                assert.notInclude(shown, "postgres")
              }
              const logged = yield* Queue.take(logs.lines)
              assert.strictEqual(logged.level, "Error")
              assert.strictEqual(logged.annotations["correlation_id"], correlationId)
              assert.include(Cause.pretty(logged.cause), secret)
            })
          )
        }))

      // -----------------------------------------------------------------------
      // Concurrency
      // -----------------------------------------------------------------------

      it.effect("runs at most `concurrency` handlers at once, and that many together", () =>
        Effect.gen(function*() {
          const subject = unique("parallel")
          const releases = yield* Effect.forEach([0, 1, 2, 3], () => Deferred.make<void>())
          const started = yield* Queue.unbounded<{ readonly id: number; readonly inFlight: number }>()
          const done = yield* Queue.unbounded<number>()
          let inFlight = 0
          let maxInFlight = 0
          const app = NatsBroker.subscriber(subject, { schema: Schema.Number, concurrency: 2 }, (id) =>
            Effect.gen(function*() {
              inFlight++
              maxInFlight = Math.max(maxInFlight, inFlight)
              yield* Queue.offer(started, { id, inFlight })
              yield* Deferred.await(releases[id]!)
              inFlight--
              yield* Queue.offer(done, id)
            }))
          yield* withApp(
            app,
            Effect.gen(function*() {
              for (const id of [0, 1, 2, 3]) yield* NatsBroker.publish(subject, id, { schema: Schema.Number })
              const first = yield* Queue.take(started)
              const second = yield* Queue.take(started)
              assert.strictEqual(second.inFlight, 2, "two handlers run together")
              yield* Deferred.succeed(releases[first.id]!, undefined)
              const third = yield* Queue.take(started)
              yield* Deferred.succeed(releases[second.id]!, undefined)
              const fourth = yield* Queue.take(started)
              yield* Deferred.succeed(releases[third.id]!, undefined)
              yield* Deferred.succeed(releases[fourth.id]!, undefined)
              yield* Effect.forEach([0, 1, 2, 3], () => Queue.take(done))
              assert.deepStrictEqual([first.id, second.id, third.id, fourth.id].sort(), [0, 1, 2, 3])
              assert.strictEqual(maxInFlight, 2)
            })
          )
        }))

      for (
        const [limit, pendingLimits] of [
          ["messages", { messages: 10 }],
          ["bytes", { bytes: 10 * 100 }]
        ] as const
      ) {
        it.effect(`drops a burst past the pending limit of ${limit}, and says how many it dropped`, () =>
          Effect.gen(function*() {
            const subject = unique("burst")
            const logs = yield* captureLogs
            const release = yield* Deferred.make<void>()
            const received = yield* Queue.unbounded<number>()
            // 100-byte payloads: the first byte says which message it is.
            const payload = (index: number) => new Uint8Array(100).fill(index % 256)
            const app = NatsBroker.subscriber(subject, { pendingLimits }, (data) =>
              Effect.andThen(Queue.offer(received, (data as Uint8Array)[0]!), Deferred.await(release))).pipe(
                Layer.provide(logs.layer)
              )
            yield* withApp(
              app,
              Effect.gen(function*() {
                // The handler holds the first message; the next 9 wait; the other 90 are dropped.
                for (let index = 0; index < 100; index++) yield* NatsBroker.publish(subject, payload(index))
                let reported = 0
                while (reported < 90) {
                  const line = yield* Queue.take(logs.lines)
                  assert.strictEqual(line.level, "Warn")
                  assert.include(line.message, "pending limits")
                  assert.strictEqual(line.annotations["subscriber"], subject)
                  reported += Number(line.annotations["count"])
                }
                assert.strictEqual(reported, 90)
                const dropped = NatsMetrics.droppedMessages(NatsMetrics.subscriberAttributes({ name: subject, subject }))
                assert.strictEqual((yield* Metric.value(dropped)).count, 90)

                yield* Deferred.succeed(release, undefined)
                const handled = yield* Effect.forEach(Array.from({ length: 10 }), () => Queue.take(received))
                assert.deepStrictEqual(handled, Array.from({ length: 10 }, (_, index) => index))
                // With room again, the next message is handled, and nothing dropped came before it.
                yield* NatsBroker.publish(subject, payload(200))
                assert.strictEqual(yield* Queue.take(received), 200)
              }),
              NatsBroker.layerWith({ logInterval: "20 millis" })
            )
          }))
      }

      it.effect("handles messages one at a time, in order, by default", () =>
        Effect.gen(function*() {
          const subject = unique("ordered")
          const handled = yield* Queue.unbounded<number>()
          let inFlight = 0
          let maxInFlight = 0
          const app = NatsBroker.subscriber(subject, { schema: Schema.Number }, (n) =>
            Effect.gen(function*() {
              inFlight++
              maxInFlight = Math.max(maxInFlight, inFlight)
              // Give any other handler the chance to run in between.
              yield* Effect.yieldNow
              inFlight--
              yield* Queue.offer(handled, n)
            }))
          yield* withApp(
            app,
            Effect.gen(function*() {
              const count = 50
              for (let i = 0; i < count; i++) yield* NatsBroker.publish(subject, i, { schema: Schema.Number })
              const got = yield* Effect.forEach(Array.from({ length: count }), () => Queue.take(handled))
              assert.deepStrictEqual(got, Array.from({ length: count }, (_, i) => i))
              assert.strictEqual(maxInFlight, 1)
            })
          )
        }))

      // -----------------------------------------------------------------------
      // Lifecycle
      // -----------------------------------------------------------------------

      it.effect("waits on shutdown for a handler in flight", () =>
        Effect.gen(function*() {
          const subject = unique("graceful")
          const started = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          const events: Array<string> = []
          const app = NatsBroker.subscriber(subject, {}, () =>
            Effect.gen(function*() {
              yield* Deferred.succeed(started, undefined)
              yield* Deferred.await(release)
              events.push("handler finished")
            }))
          const scope = yield* Scope.make()
          const context = yield* Layer.buildWithScope(app.pipe(Layer.provideMerge(NatsBroker.layer)), scope)
          yield* NatsBroker.publish(subject, "work").pipe(Effect.provideContext(context))
          yield* Deferred.await(started)
          const closing = yield* Effect.forkChild(
            Scope.close(scope, Exit.void).pipe(Effect.andThen(Effect.sync(() => events.push("released"))))
          )
          yield* Effect.yieldNow
          assert.isUndefined(closing.pollUnsafe(), "release waits for the handler")
          yield* Deferred.succeed(release, undefined)
          yield* Fiber.join(closing)
          assert.deepStrictEqual(events, ["handler finished", "released"])
        }))

      it.effect("interrupts a handler still running after the graceful timeout", () =>
        Effect.gen(function*() {
          const subject = unique("stuck")
          const started = yield* Deferred.make<void>()
          const interrupted = yield* Deferred.make<void>()
          const logs = yield* captureLogs
          const app = NatsBroker.subscriber(subject, {}, () =>
            Deferred.succeed(started, undefined).pipe(
              Effect.andThen(Effect.never),
              Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
            )).pipe(Layer.provide(logs.layer))
          const scope = yield* Scope.make()
          const context = yield* Layer.buildWithScope(
            app.pipe(Layer.provideMerge(NatsBroker.layerWith({ gracefulTimeout: "100 millis" }))),
            scope
          )
          yield* NatsBroker.publish(subject, "work").pipe(Effect.provideContext(context))
          yield* Deferred.await(started)
          yield* Scope.close(scope, Exit.void)
          assert.isTrue(yield* Deferred.isDone(interrupted))
          const warning = yield* Queue.take(logs.lines)
          assert.strictEqual(warning.level, "Warn")
          assert.include(warning.message, "graceful timeout")
          assert.strictEqual(warning.annotations["subscriber"], subject)
        }))

      it.effect("answers a requester whose handler is interrupted at shutdown with RemoteError", () =>
        Effect.gen(function*() {
          const subject = unique("cut")
          const started = yield* Deferred.make<void>()
          const logs = yield* captureLogs
          const app = NatsBroker.subscriber(subject, {}, () =>
            Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))).pipe(Layer.provide(logs.layer))
          const scope = yield* Scope.make()
          const context = yield* Layer.buildWithScope(
            app.pipe(Layer.provideMerge(NatsBroker.layerWith({ gracefulTimeout: "50 millis" }))),
            scope
          )
          const requester = yield* Effect.forkChild(
            failure(NatsBroker.request(subject, "work", { timeout: "10 seconds" }).pipe(Effect.provideContext(context)))
          )
          yield* Deferred.await(started)
          yield* Scope.close(scope, Exit.void)
          const reason = (yield* Fiber.join(requester)) as NatsError.RemoteError
          assert.strictEqual(reason._tag, "RemoteError")
          assert.strictEqual(reason.error, "Interrupted")
          const lines = yield* Queue.takeAll(logs.lines)
          assert.isTrue(lines.some((line) => line.level === "Warn" && line.annotations["subject"] === subject))
        }))

      it.effect("waits on shutdown for every handler in flight with concurrency above 1", () =>
        Effect.gen(function*() {
          const subject = unique("graceful_many")
          const started = yield* Queue.unbounded<number>()
          const release = yield* Deferred.make<void>()
          const finished: Array<number> = []
          const app = NatsBroker.subscriber(subject, { schema: Schema.Number, concurrency: 3 }, (n) =>
            Effect.gen(function*() {
              yield* Queue.offer(started, n)
              yield* Deferred.await(release)
              finished.push(n)
            }))
          const scope = yield* Scope.make()
          const context = yield* Layer.buildWithScope(app.pipe(Layer.provideMerge(NatsBroker.layer)), scope)
          for (const n of [1, 2, 3]) {
            yield* NatsBroker.publish(subject, n, { schema: Schema.Number }).pipe(Effect.provideContext(context))
          }
          yield* Effect.forEach([1, 2, 3], () => Queue.take(started))
          const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
          yield* Effect.yieldNow
          assert.isUndefined(closing.pollUnsafe(), "release waits for the handlers")
          yield* Deferred.succeed(release, undefined)
          yield* Fiber.join(closing)
          assert.deepStrictEqual([...finished].sort(), [1, 2, 3])
        }))

      it.effect("refuses an invalid subject, concurrency or pending limit when the layer is built", () =>
        Effect.gen(function*() {
          const build = (layer: Layer.Layer<never, NatsError.NatsError, NatsBroker.NatsBroker>) =>
            Effect.exit(Layer.build(layer.pipe(Layer.provide(NatsBroker.layer))))
          const badSubject = yield* build(NatsBroker.subscriber("orders.{id", {}, () => Effect.void))
          const defect = Exit.isFailure(badSubject) ? Cause.squash(badSubject.cause) : undefined
          assert.isTrue(NatsError.isNatsError(defect))
          assert.strictEqual((defect as NatsError.NatsError).reason._tag, "InvalidSubject")
          assert.include((defect as NatsError.NatsError).message, "orders.{id")
          const badConcurrency = yield* build(NatsBroker.subscriber(unique("c"), { concurrency: 0 }, () => Effect.void))
          assert.isTrue(Exit.isFailure(badConcurrency) && Cause.hasDies(badConcurrency.cause))
          assert.include(String(Exit.isFailure(badConcurrency) ? Cause.squash(badConcurrency.cause) : ""), "concurrency")
          const badLimit = yield* build(
            NatsBroker.subscriber(unique("l"), { pendingLimits: { messages: 0 } }, () => Effect.void)
          )
          assert.isTrue(Exit.isFailure(badLimit) && Cause.hasDies(badLimit.cause))
          assert.include(String(Exit.isFailure(badLimit) ? Cause.squash(badLimit.cause) : ""), "pending limits")
        }))

      it.effect("says in one line when each subscriber is live: its subject, queue group and name", () =>
        Effect.gen(function*() {
          const base = unique("live")
          const app = Layer.mergeAll(
            NatsBroker.subscriber(`${base}.orders`, {}, () => Effect.void),
            NatsBroker.subscriber(`${base}.jobs.{kind}`, { queue: "workers", name: "worker-1" }, () => Effect.void),
            NatsBroker.subscriber(`${base}.logs.{level}`, {}, () => Effect.void)
          )
          const [, lines] = yield* recordingLogs(withApp(app, Effect.void))
          assert.sameMembers(lines.map((line) => line.message), [
            `listening on ${base}.orders`,
            `listening on ${base}.jobs.* in queue group "workers" as "worker-1"`,
            `listening on ${base}.logs.* as "${base}.logs.{level}"`
          ])
          for (const line of lines) {
            assert.strictEqual(line.level, "Info")
            assert.deepStrictEqual(line.annotations, {})
          }
        }))

      it.effect("runs afterStartup once the subscribers are live", () =>
        Effect.gen(function*() {
          const subject = unique("startup")
          const received = yield* Queue.unbounded<unknown>()
          const app = NatsBroker.subscriber(subject, {}, (payload) => Queue.offer(received, payload)).pipe(
            NatsBroker.afterStartup(NatsBroker.publish(subject, "hello from startup"))
          )
          yield* withApp(app, Effect.gen(function*() {
            assert.strictEqual(yield* Queue.take(received), "hello from startup")
          }))
        }))

      it.effect("fails the startup when afterStartup fails", () =>
        Effect.gen(function*() {
          const app = NatsBroker.subscriber(unique("never"), {}, () => Effect.void).pipe(
            NatsBroker.afterStartup(Effect.fail(new OutOfStock({ message: "startup failed" })))
          )
          const exit = yield* Effect.exit(withApp(app, Effect.void))
          assert.isTrue(Exit.isFailure(exit))
          assert.deepStrictEqual(
            Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none(),
            Option.some(new OutOfStock({ message: "startup failed" }))
          )
        }))

      it.effect("ends NatsBroker.launch with ConnectionError when the connection closes under a subscriber", () =>
        Effect.gen(function*() {
          const connection = yield* Scope.make()
          const client = yield* Layer.buildWithScope(adapter.layer(), connection)
          const live = yield* Deferred.make<void>()
          const app = NatsBroker.subscriber(unique("orphan"), {}, () => Effect.void).pipe(
            NatsBroker.afterStartup(Deferred.succeed(live, undefined)),
            Layer.provide(NatsBroker.layer),
            Layer.provide(Layer.succeedContext(client))
          )
          const launched = yield* Effect.forkChild(NatsBroker.launch(app))
          yield* Deferred.await(live)
          yield* Scope.close(connection, Exit.void)
          const exit = yield* Fiber.await(launched)
          const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
          assert.isTrue(Option.isSome(error) && NatsError.isNatsError(error.value))
          assert.strictEqual((Option.getOrThrow(error) as NatsError.NatsError).reason._tag, "ConnectionError")
        }))

      // -----------------------------------------------------------------------
      // Context: logs, the current message, headers
      // -----------------------------------------------------------------------

      it.effect("annotates log lines inside a handler with subject, correlation id and subscriber", () =>
        Effect.gen(function*() {
          const subject = unique("annotated")
          const logs = yield* captureLogs
          const app = NatsBroker.subscriber(subject, { name: "audit" }, () => Effect.log("inside the handler")).pipe(
            Layer.provide(logs.layer)
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(subject, "x", { correlationId: "corr-1" })
              const line = yield* Queue.take(logs.lines)
              assert.strictEqual(line.message, "inside the handler")
              assert.strictEqual(line.annotations["subject"], subject)
              assert.strictEqual(line.annotations["correlation_id"], "corr-1")
              assert.strictEqual(line.annotations["subscriber"], "audit")
            })
          )
        }))

      it.effect("provides the current message deep in the handler, with its headers and correlation id", () =>
        Effect.gen(function*() {
          const subject = unique("deep")
          const seen = yield* Queue.unbounded<NatsMessage.Message>()
          // Somewhere down the call tree, without the message passed along.
          const audit = Effect.gen(function*() {
            const message = yield* NatsMessage.NatsMessage
            yield* Queue.offer(seen, message)
          })
          const app = NatsBroker.subscriber(subject, {}, () => Effect.succeed(1).pipe(Effect.andThen(audit)))
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(subject, "x", { headers: { "x-tenant": "t-7" }, correlationId: "corr-2" })
              const message = yield* Queue.take(seen)
              assert.strictEqual(message.subject, subject)
              assert.strictEqual(message.correlationId, "corr-2")
              assert.deepStrictEqual(message.headers["x-tenant"], ["t-7"])
              assert.strictEqual(message.contentType, "text/plain")
              assert.strictEqual(text(message.data), "x")
              assert.strictEqual(message.subscriber, subject)
            })
          )
        }))

      it.effect("publishes and handles in spans with messaging attributes, the trace carried by traceparent", () =>
        Effect.gen(function*() {
          const subject = unique("traced")
          const spans: Array<Tracer.NativeSpan> = []
          const tracer = Tracer.make({
            span: (options) => {
              const span = new Tracer.NativeSpan(options)
              spans.push(span)
              return span
            }
          })
          const handled = yield* Deferred.make<string>()
          const app = NatsBroker.subscriber(subject, { queue: "q" }, () =>
            Effect.flatMap(Effect.currentSpan, (span) => Deferred.succeed(handled, span.name)))
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(subject, "x", { correlationId: "corr-t" })
              assert.strictEqual(yield* Deferred.await(handled), `process ${subject}`)
            })
          ).pipe(Effect.provideService(Tracer.Tracer, tracer))
          const publish = spans.find((span) => span.name === `publish ${subject}`)
          const process = spans.find((span) => span.name === `process ${subject}`)
          assert.isDefined(publish)
          assert.isDefined(process)
          assert.strictEqual(publish!.kind, "producer")
          assert.strictEqual(publish!.attributes.get("messaging.system"), "nats")
          assert.strictEqual(publish!.attributes.get("messaging.operation.type"), "publish")
          assert.strictEqual(publish!.attributes.get("messaging.destination.name"), subject)
          assert.strictEqual(publish!.attributes.get("messaging.message.conversation_id"), "corr-t")
          assert.strictEqual(process!.kind, "consumer")
          assert.strictEqual(process!.attributes.get("messaging.operation.type"), "process")
          assert.strictEqual(process!.attributes.get("messaging.consumer.group.name"), "q")
          assert.strictEqual(process!.attributes.get("messaging.message.conversation_id"), "corr-t")
          assert.strictEqual(process!.attributes.get("messaging.message.body.size"), 1)
          // The consumer span continues the producer's trace, across the wire.
          assert.strictEqual(process!.traceId, publish!.traceId)
          assert.strictEqual(Option.getOrUndefined(process!.parent)?.spanId, publish!.spanId)
        }))

      it.effect("makes one span per operation, the same tree on every adapter", () =>
        Effect.gen(function*() {
          const subject = unique("tree")
          const spans: Array<Tracer.NativeSpan> = []
          const tracer = Tracer.make({
            span: (options) => {
              const span = new Tracer.NativeSpan(options)
              spans.push(span)
              return span
            }
          })
          const handled = yield* Deferred.make<void>()
          const app = NatsBroker.subscriber(subject, {}, () => Deferred.succeed(handled, undefined))
          yield* withApp(
            app,
            Effect.andThen(NatsBroker.publish(subject, "x"), Deferred.await(handled))
          ).pipe(Effect.provideService(Tracer.Tracer, tracer))
          interface Node {
            readonly name: string
            readonly kind: Tracer.SpanKind
            readonly children: ReadonlyArray<Node>
          }
          const childrenOf = (parent: Tracer.NativeSpan | undefined): ReadonlyArray<Node> =>
            spans
              .filter((span) => Option.getOrUndefined(span.parent)?.spanId === parent?.spanId)
              .map((span) => ({ name: span.name, kind: span.kind, children: childrenOf(span) }))
          // Every span the publish and its handling made, from the root: nothing
          // made by an adapter.
          assert.deepStrictEqual(childrenOf(undefined), [
            {
              name: `publish ${subject}`,
              kind: "producer",
              children: [{ name: `process ${subject}`, kind: "consumer", children: [] }]
            }
          ])
        }))

      it.effect("writes FastStream's content-type and correlation_id headers", () =>
        Effect.gen(function*() {
          const base = unique("wire")
          const nats = yield* NatsClient.NatsClient
          const raw = yield* nats.subscribe(`${base}.*`)
          const program = Effect.gen(function*() {
            yield* NatsBroker.publish(`${base}.text`, "hi")
            yield* NatsBroker.publish(`${base}.json`, { a: 1 })
            yield* NatsBroker.publish(`${base}.bytes`, new Uint8Array([1]), { correlationId: "given" })
          })
          yield* program.pipe(Effect.provide(NatsBroker.layer))
          const [textMsg, jsonMsg, bytesMsg] = yield* Stream.runCollect(Stream.take(raw, 3))
          const header = (headers: NatsClient.Headers | undefined, name: string) => headers?.[name]?.[0]
          assert.strictEqual(header(textMsg!.headers, "content-type"), "text/plain")
          assert.strictEqual(text(textMsg!.data), "hi")
          assert.strictEqual(header(jsonMsg!.headers, "content-type"), "application/json")
          assert.strictEqual(text(jsonMsg!.data), `{"a":1}`)
          assert.strictEqual(header(bytesMsg!.headers, "content-type"), undefined)
          assert.strictEqual(header(bytesMsg!.headers, "correlation_id"), "given")
          // Generated when not given, one per message.
          const generated = [header(textMsg!.headers, "correlation_id"), header(jsonMsg!.headers, "correlation_id")]
          assert.isTrue(generated.every((id) => id !== undefined && id.length > 0))
          assert.notStrictEqual(generated[0], generated[1])
        }))

      it.effect("replies with the request's correlation_id, and reads FastStream-style messages", () =>
        Effect.gen(function*() {
          const subject = unique("interop")
          const nats = yield* NatsClient.NatsClient
          const app = NatsBroker.subscriber(subject, { schema: Order }, (order) => Effect.succeed(`got ${order.id}`))
          yield* withApp(
            app,
            Effect.gen(function*() {
              // As FastStream sends it: JSON body, content-type, correlation_id.
              const reply = yield* nats.request(
                subject,
                bytes(`{"id":"o-9","quantity":1}`),
                { headers: { "content-type": "application/json", correlation_id: "fs-1" } }
              )
              assert.strictEqual(text(reply.data), "got o-9")
              assert.deepStrictEqual(reply.headers?.["correlation_id"], ["fs-1"])
              assert.deepStrictEqual(reply.headers?.["content-type"], ["text/plain"])
              // Without a content-type: JSON when it parses.
              const untyped = yield* nats.request(subject, bytes(`{"id":"o-10","quantity":1}`))
              assert.strictEqual(text(untyped.data), "got o-10")
            })
          )
        }))

      // -----------------------------------------------------------------------
      // Metrics
      // -----------------------------------------------------------------------

      it.effect("counts each subscriber's messages received, handled and failed by error type, and times them", () =>
        Effect.gen(function*() {
          const subject = unique("metered")
          const nats = yield* NatsClient.NatsClient
          const app = NatsBroker.subscriber(subject, { schema: Order, queue: "q", name: "metered" }, (order) =>
            order.quantity === 0
              ? Effect.fail(new OutOfStock({ message: "none left" }))
              // One handler that completes later, as most do.
              : order.quantity === 2
              ? Effect.as(Effect.yieldNow, "later")
              : Effect.succeed("now"))
          const send = (body: string) => Effect.map(nats.request(subject, bytes(body)), (reply) => text(reply.data))
          yield* withApp(
            app,
            Effect.gen(function*() {
              assert.strictEqual(yield* send(`{"id":"a","quantity":1}`), "now")
              assert.strictEqual(yield* send(`{"id":"b","quantity":2}`), "later")
              assert.strictEqual(yield* send(`{"id":"c","quantity":0}`), "none left")
              yield* send("not json")
            })
          )
          const attributes = NatsMetrics.subscriberAttributes({ name: "metered", subject, consumerGroup: "q" })
          assert.deepStrictEqual(attributes, {
            "messaging.system": "nats",
            "messaging.destination.name": subject,
            "messaging.destination.subscription.name": "metered",
            "messaging.consumer.group.name": "q"
          })
          const count = (metric: Metric.Counter<number>) => Effect.map(Metric.value(metric), (state) => state.count)
          const failedWith = (errorType: string) => ({ ...attributes, "error.type": errorType })
          assert.deepStrictEqual({
            received: yield* count(NatsMetrics.consumedMessages(attributes)),
            handled: yield* count(NatsMetrics.handledMessages(attributes)),
            outOfStock: yield* count(NatsMetrics.failedMessages(failedWith("OutOfStock"))),
            undecodable: yield* count(NatsMetrics.failedMessages(failedWith("DecodeError")))
          }, { received: 4, handled: 2, outOfStock: 1, undecodable: 1 })
          const durations = yield* Metric.value(NatsMetrics.processDuration(attributes))
          assert.strictEqual(durations.count, 2)
          assert.isAtLeast(durations.min, 0)
          assert.isBelow(durations.max, 5)
          assert.strictEqual(durations.buckets[durations.buckets.length - 1]![1], 2)
          assert.strictEqual((yield* Metric.value(NatsMetrics.processDuration(failedWith("OutOfStock")))).count, 1)
        }))

      it.effect("counts the messages and bytes sent, by subject and operation, and times requests", () =>
        Effect.gen(function*() {
          const subject = unique("sent")
          const app = NatsBroker.subscriber(subject, { schema: Schema.String }, (symbol) => Effect.succeed(`${symbol}!`))
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(subject, "abc")
              yield* NatsBroker.publish(subject, "hello")
              assert.strictEqual(yield* NatsBroker.request(subject, "x", { schema: Schema.String }), "x!")
            })
          )
          const published = NatsMetrics.sentAttributes(subject, "publish")
          const requested = NatsMetrics.sentAttributes(subject, "request")
          assert.deepStrictEqual(published, {
            "messaging.system": "nats",
            "messaging.destination.name": subject,
            "messaging.operation.name": "publish"
          })
          assert.strictEqual((yield* Metric.value(NatsMetrics.sentMessages(published))).count, 2)
          assert.strictEqual((yield* Metric.value(NatsMetrics.sentBytes(published))).count, 8)
          assert.strictEqual((yield* Metric.value(NatsMetrics.sentMessages(requested))).count, 1)
          assert.strictEqual((yield* Metric.value(NatsMetrics.sentBytes(requested))).count, 1)
          // A publish is not timed (nothing answers it); a request is, until its reply.
          assert.strictEqual((yield* Metric.value(NatsMetrics.operationDuration(published))).count, 0)
          const timed = yield* Metric.value(NatsMetrics.operationDuration(requested))
          assert.strictEqual(timed.count, 1)
          assert.isAbove(timed.sum, 0)
          assert.isBelow(timed.sum, 5)
          // The series are Effect metrics: a snapshot lists them under their OpenTelemetry names.
          const names = (yield* Metric.snapshot)
            .filter((metric) => metric.attributes?.["messaging.destination.name"] === subject)
            .map((metric) => metric.id)
          for (const name of ["messaging.client.sent.messages", "messaging.client.sent.bytes"]) {
            assert.include(names, name)
          }
        }))
    })
  })
