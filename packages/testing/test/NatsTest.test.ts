import { assert, describe, it, layer } from "@effect/vitest"
import { NatsBroker, NatsClient } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { NatsTest } from "@nats-effect/testing"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Option, Queue, Schema, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"

const Order = Schema.Struct({ id: Schema.String, quantity: Schema.Int })

class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", { message: Schema.String }) {}

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.findErrorOption(exit.cause)) : undefined

// An order flow: created → (stock check) → confirmed → (audit log per level).
const OrderCreated = NatsBroker.subscriber("orders.created", { schema: Order }, (order, message) =>
  order.quantity > 0
    ? NatsBroker.publish("orders.confirmed", order, { schema: Order, correlationId: message.correlationId })
    : Effect.void)

const OrderConfirmed = NatsBroker.subscriber("orders.confirmed", { schema: Order }, (order) =>
  NatsBroker.publish(`audit.${order.quantity > 10 ? "warn" : "info"}`, `confirmed ${order.id}`))

const Audit = NatsBroker.subscriber("audit.{level}", { name: "audit" }, () => Effect.void)

const Stock = NatsBroker.subscriber("stock.reserve", { schema: Order, response: Schema.Number }, (order) =>
  order.quantity > 5 ? Effect.fail(new OutOfStock({ message: `only 5 left for ${order.id}` })) : Effect.succeed(5 - order.quantity))

const OrdersApp = NatsTest.layer(Layer.mergeAll(OrderCreated, OrderConfirmed, Audit, Stock))

describe("NatsTest", () => {
  describe("publish and request", () => {
    it.effect("returns once the handlers are done, following what they publish in turn", () =>
      Effect.gen(function*() {
        yield* NatsTest.publish("orders.created", { id: "o-1", quantity: 2 }, { schema: Order })
        yield* NatsTest.assertCalledOnceWith("orders.created", { id: "o-1", quantity: 2 })
        yield* NatsTest.assertCalledOnceWith("orders.confirmed", { id: "o-1", quantity: 2 })
        yield* NatsTest.assertCalledOnceWith("audit", "confirmed o-1", { params: { level: "info" } })
        assert.deepStrictEqual(yield* NatsTest.published("audit.>"), ["confirmed o-1"])
      }).pipe(Effect.provide(OrdersApp)))

    it.effect("does not wait for subscribers a message does not reach", () =>
      Effect.gen(function*() {
        yield* NatsTest.publish("orders.created", { id: "o-0", quantity: 0 }, { schema: Order })
        yield* NatsTest.assertNotCalled("orders.confirmed")
        yield* NatsTest.publish("nobody.listens", "hello")
        assert.deepStrictEqual(yield* NatsTest.published("nobody.listens"), ["hello"])
      }).pipe(Effect.provide(OrdersApp)))

    it.effect("returns the decoded reply, and records a failed handler's error", () =>
      Effect.gen(function*() {
        const left = yield* NatsTest.request("stock.reserve", { id: "o-1", quantity: 2 }, {
          schema: Order,
          response: Schema.Number
        })
        assert.strictEqual(left, 3)

        const error = yield* Effect.flip(NatsTest.request("stock.reserve", { id: "o-2", quantity: 9 }, { schema: Order }))
        assert.strictEqual(error._tag === "NatsError" && error.reason._tag, "RemoteError")
        const calls = yield* NatsTest.calls("stock.reserve")
        assert.deepStrictEqual(calls.map((call) => call.payload), [{ id: "o-1", quantity: 2 }, { id: "o-2", quantity: 9 }])
        assert.deepStrictEqual(calls[0]!.exit, Exit.succeed(3))
        const failure = failureOf(calls[1]!.exit)
        assert.instanceOf(failure, OutOfStock)
      }).pipe(Effect.provide(OrdersApp)))

    it.effect("waits for every member a queue group reached, and every plain subscriber", () =>
      Effect.gen(function*() {
        const handledBy: Array<string> = []
        const worker = (name: string) =>
          NatsBroker.subscriber("jobs.run", { name, queue: "workers" }, (job) =>
            Effect.sync(() => handledBy.push(`${name}:${job}`)))
        const monitor = NatsBroker.subscriber("jobs.*", { name: "monitor" }, () => Effect.void)
        yield* Effect.gen(function*() {
          for (const job of [1, 2, 3, 4]) yield* NatsTest.publish("jobs.run", job)
          assert.strictEqual(handledBy.length, 4)
          // The in-memory server hands a group's messages to its members in turn.
          assert.deepStrictEqual(handledBy.toSorted(), ["w1:1", "w1:3", "w2:2", "w2:4"])
          assert.strictEqual((yield* NatsTest.calls("monitor")).length, 4)
        }).pipe(Effect.provide(NatsTest.layer(Layer.mergeAll(worker("w1"), worker("w2"), monitor))))
      }))

    it.effect("follows fan-out from concurrent publishers and concurrent handlers", () =>
      Effect.gen(function*() {
        const FanIn = NatsBroker.subscriber("fan.in", { concurrency: 3 }, (n: unknown) =>
          Effect.forEach([1, 2, 3], (branch) => NatsBroker.publish(`fan.out.${branch}`, n), { discard: true }))
        const FanOut = NatsBroker.subscriber("fan.out.{branch}", { concurrency: 4 }, (n: unknown, message) =>
          Effect.yieldNow.pipe(Effect.andThen(NatsBroker.publish("fan.done", `${n}.${message.params.branch}`))))
        // Real asynchronous work, as I/O would be: the helper must wait for it, not just for a scheduler turn.
        const Done = NatsBroker.subscriber("fan.done", { concurrency: 2 }, () =>
          Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve))))
        yield* Effect.gen(function*() {
          const inputs = Array.from({ length: 20 }, (_, n) => n)
          yield* Effect.forEach(inputs, (n) => NatsTest.publish("fan.in", n), { concurrency: "unbounded" })
          const done = (yield* NatsTest.calls("fan.done")).map((call) => call.payload as string)
          assert.strictEqual(done.length, 60)
          assert.deepStrictEqual(
            done.toSorted(),
            inputs.flatMap((n) => [`${n}.1`, `${n}.2`, `${n}.3`]).toSorted()
          )
        }).pipe(Effect.provide(NatsTest.layer(Layer.mergeAll(FanIn, FanOut, Done))))
      }))

    it.effect("reaches a subscriber started while the test runs, and stops waiting for one that stopped", () =>
      Effect.gen(function*() {
        const late = yield* Scope.make()
        yield* Layer.build(NatsBroker.subscriber("late.joiner", {}, () => Effect.yieldNow)).pipe(Scope.provide(late))
        yield* NatsTest.publish("late.joiner", 1)
        yield* Scope.close(late, Exit.void)
        yield* NatsTest.publish("late.joiner", 2)
        assert.deepStrictEqual((yield* NatsTest.calls("late.joiner")).map((call) => call.payload), [1])
      }).pipe(Effect.provide(NatsTest.layer(Layer.empty))))

    it.effect("records a payload that does not decode, without waiting forever", () =>
      Effect.gen(function*() {
        yield* NatsTest.publish("orders.created", "not an order")
        const [call] = yield* NatsTest.calls("orders.created")
        assert.isUndefined(call!.payload)
        assert.strictEqual((failureOf(call!.exit) as { _tag: string })._tag, "DecodeError")
        yield* NatsTest.assertNotCalled("orders.confirmed")
      }).pipe(Effect.provide(OrdersApp)))

    it.effect("waits for messages sent on the client directly with awaitIdle", () =>
      Effect.gen(function*() {
        const nats = yield* NatsClient.NatsClient
        yield* nats.publish("orders.created", new TextEncoder().encode(`{"id":"o-7","quantity":1}`))
        yield* NatsTest.awaitIdle
        yield* NatsTest.assertCalledOnceWith("audit", "confirmed o-7")
      }).pipe(Effect.provide(OrdersApp)))

    it.effect("fails with IdleTimeout, saying who is still busy, instead of hanging", () =>
      Effect.gen(function*() {
        const release = yield* Deferred.make<void>()
        const stuck = NatsBroker.subscriber("stuck", { name: "stuck handler" }, () => Deferred.await(release))
        yield* Effect.gen(function*() {
          const error = yield* Effect.flip(NatsTest.publish("stuck", "x"))
          assert.strictEqual(error._tag, "IdleTimeout")
          if (error._tag !== "IdleTimeout") return
          assert.deepStrictEqual(error.busy, [
            {
              subscriber: "stuck handler",
              subject: "stuck",
              queue: undefined,
              waiting: "1 message(s) taken and not finished",
              handling: ["stuck"]
            }
          ])
          assert.include(error.message, `"stuck handler" (stuck): 1 message(s) taken and not finished, handling stuck`)
          yield* Deferred.succeed(release, undefined)
          yield* NatsTest.awaitIdle
        }).pipe(Effect.provide(NatsTest.layer(stuck, { idleTimeout: "100 millis" })))
      }))
  })

  describe("published", () => {
    it.effect("decodes with a Schema, and keeps headers and correlation ids", () =>
      Effect.gen(function*() {
        yield* NatsTest.publish("orders.created", { id: "o-1", quantity: 2 }, {
          schema: Order,
          headers: { tenant: "acme" },
          correlationId: "c-1"
        })
        const [created] = yield* NatsTest.publishedMessages("orders.created", Order)
        assert.deepStrictEqual(created!.payload, { id: "o-1", quantity: 2 })
        assert.deepStrictEqual(created!.headers?.["tenant"], ["acme"])
        assert.strictEqual(created!.kind, "publish")
        const [confirmed] = yield* NatsTest.publishedMessages("orders.confirmed")
        assert.strictEqual(confirmed!.correlationId, "c-1")
        const call = yield* NatsTest.assertCalledOnceWith("orders.created", { id: "o-1", quantity: 2 }, {
          headers: { tenant: "acme", correlation_id: "c-1" }
        })
        assert.strictEqual(call.correlationId, "c-1")
      }).pipe(Effect.provide(OrdersApp)))

    it.effect("fails when a payload does not match the Schema", () =>
      Effect.gen(function*() {
        yield* NatsTest.publish("orders.created", { id: "o-1" })
        const error = yield* Effect.flip(NatsTest.published("orders.created", Order))
        assert.strictEqual(error._tag, "AssertionFailed")
        assert.include(error.message, `message 1 sent on "orders.created" does not decode`)
      }).pipe(Effect.provide(OrdersApp)))
  })

  describe("assertions", () => {
    it.effect("say what differs", () =>
      Effect.gen(function*() {
        yield* NatsTest.publish("orders.created", { id: "o-1", quantity: 2 }, { schema: Order })
        const wrongPayload = yield* Effect.flip(NatsTest.assertCalledOnceWith("orders.created", { id: "o-2", quantity: 2 }))
        assert.strictEqual(wrongPayload.message, `"orders.created": called with another payload`)
        assert.deepStrictEqual(wrongPayload.actual, { id: "o-1", quantity: 2 })

        const wrongParams = yield* Effect.flip(
          NatsTest.assertCalledOnceWith("audit", "confirmed o-1", { params: { level: "warn" } })
        )
        assert.strictEqual(wrongParams.message, `"audit": called with other params`)

        yield* NatsTest.publish("orders.created", { id: "o-2", quantity: 1 }, { schema: Order })
        const twice = yield* Effect.flip(NatsTest.assertCalledOnceWith("orders.created", { id: "o-1", quantity: 2 }))
        assert.strictEqual(twice.message, `"orders.created": expected one call, got 2`)

        const called = yield* Effect.flip(NatsTest.assertNotCalled("orders.confirmed"))
        assert.strictEqual(called.message, `"orders.confirmed": expected no call, got 2`)

        const typo = yield* Effect.flip(NatsTest.assertNotCalled("order.created"))
        assert.include(typo.message, `no subscriber is named or subscribed to "order.created"`)
        assert.include(typo.message, `"audit" (audit.{level})`)
      }).pipe(Effect.provide(OrdersApp)))
  })

  describe("concurrency", () => {
    const concurrent = (track: { active: number; max: number; order: Array<number> }, bothIn?: Deferred.Deferred<void>) =>
      NatsBroker.subscriber("work", { concurrency: 4 }, (n: unknown) =>
        Effect.gen(function*() {
          track.active++
          track.max = Math.max(track.max, track.active)
          if (bothIn !== undefined && track.active === 2) yield* Deferred.succeed(bothIn, undefined)
          if (bothIn !== undefined) yield* Deferred.await(bothIn)
          for (let i = 0; i < 3; i++) yield* Effect.yieldNow
          track.order.push(n as number)
          track.active--
        }))

    it.effect("a subscriber's own concurrency applies by default", () =>
      Effect.gen(function*() {
        const track = { active: 0, max: 0, order: [] as Array<number> }
        const bothIn = yield* Deferred.make<void>()
        yield* Effect.gen(function*() {
          // Each of the first two handlers waits until the other has started.
          yield* NatsBroker.publish("work", 1)
          yield* NatsTest.publish("work", 2)
          assert.strictEqual(track.max, 2)
        }).pipe(Effect.provide(NatsTest.layer(concurrent(track, bothIn))))
      }))

    it.effect("maxConcurrency: 1 handles messages one after the other, in order", () =>
      Effect.gen(function*() {
        const track = { active: 0, max: 0, order: [] as Array<number> }
        yield* Effect.gen(function*() {
          for (let n = 1; n <= 8; n++) yield* NatsBroker.publish("work", n)
          yield* NatsTest.awaitIdle
          assert.strictEqual(track.max, 1)
          assert.deepStrictEqual(track.order, [1, 2, 3, 4, 5, 6, 7, 8])
        }).pipe(Effect.provide(NatsTest.layer(concurrent(track), { maxConcurrency: 1 })))
      }))
  })

  describe("beyond a patched broker", () => {
    it.effect("JetStream: a PubAck per publish, and subscribers of the subject get it too", () =>
      Effect.gen(function*() {
        const nats = yield* NatsClient.NatsClient
        yield* nats.jetstream.streams.add({ name: "ORDERS", subjects: ["orders.>"] })
        const ack = yield* nats.jetstream.publish("orders.created", new TextEncoder().encode(`{"id":"o-9","quantity":1}`))
        assert.deepStrictEqual(ack, { stream: "ORDERS", seq: 1, duplicate: false })
        yield* NatsTest.awaitIdle
        yield* NatsTest.assertCalledOnceWith("orders.confirmed", { id: "o-9", quantity: 1 })
        // The stream captured what the handlers published on orders.> too.
        assert.strictEqual((yield* nats.jetstream.streams.info("ORDERS")).state.messages, 2)
        assert.deepStrictEqual((yield* NatsTest.publishedMessages("orders.>")).map((m) => [m.kind, m.subject]), [
          ["jetstream", "orders.created"],
          ["publish", "orders.confirmed"]
        ])
      }).pipe(Effect.provide(OrdersApp)))

    it.effect("durable consumers: nak redelivers after its delay, the ack wait redelivers, TestClock drives both", () =>
      Effect.gen(function*() {
        const nats = yield* NatsClient.NatsClient
        yield* nats.jetstream.streams.add({ name: "PAYMENTS", subjects: ["payments.>"] })
        yield* nats.jetstream.consumers.add("PAYMENTS", { name: "settle", ackWait: "30 seconds" })
        const deliveries = yield* Queue.unbounded<NatsClient.JsMsg>()
        yield* nats.jetstream.consumers.consume("PAYMENTS", "settle").pipe(
          Stream.runForEach((msg) => Queue.offer(deliveries, msg)),
          Effect.forkScoped
        )
        yield* nats.jetstream.publish("payments.p-1", new TextEncoder().encode("100"))

        const first = yield* Queue.take(deliveries)
        yield* first.nak("5 seconds")
        yield* TestClock.adjust("4 seconds")
        assert.isTrue(Option.isNone(yield* Queue.poll(deliveries)))
        yield* TestClock.adjust("1 second")
        const second = yield* Queue.take(deliveries)
        assert.deepStrictEqual([second.seq, second.deliveryCount, second.redelivered], [1, 2, true])

        // Not acknowledged: back after the ack wait.
        yield* TestClock.adjust("30 seconds")
        const third = yield* Queue.take(deliveries)
        assert.strictEqual(third.deliveryCount, 3)
        yield* third.ack
        yield* TestClock.adjust("1 minute")
        assert.isTrue(Option.isNone(yield* Queue.poll(deliveries)))
        assert.strictEqual((yield* nats.jetstream.consumers.info("PAYMENTS", "settle")).numAckPending, 0)
      }).pipe(Effect.provide(NatsTest.layer(Layer.empty))))

    it.effect("object stores in memory: the real object store, chunks and all", () =>
      Effect.gen(function*() {
        const Reader = NatsBroker.subscriber("docs.read", { schema: Schema.String }, (name) =>
          Effect.gen(function*() {
            const store = yield* ObjectStore.ObjectStore
            return new TextDecoder().decode(yield* store.getBytes(name))
          }))
        yield* Effect.gen(function*() {
          const store = yield* ObjectStore.ObjectStore
          const text = "x".repeat(300) + "end"
          yield* store.putBytes("report.txt", text)
          assert.strictEqual(yield* NatsTest.request("docs.read", "report.txt"), text)
          // The store's own traffic ($O.<bucket>...) is not recorded.
          assert.deepStrictEqual((yield* NatsTest.publishedMessages(">")).map((m) => m.kind), ["request", "publish"])
        }).pipe(Effect.provide(
          NatsTest.layer(Reader.pipe(Layer.provideMerge(ObjectStore.layer({ bucket: "docs", chunkSize: 64 }))))
        ))
      }))
  })

  describe("layer", () => {
    it.effect("an app that takes its NATS as a layer shares the server, and its own broker reports too", () =>
      Effect.gen(function*() {
        const Echo = NatsBroker.subscriber("echo", {}, (payload: unknown) => Effect.succeed(payload))
        const AppOn = (nats: Layer.Layer<NatsClient.NatsClient>) =>
          Echo.pipe(Layer.provide(NatsBroker.layer), Layer.provide(nats))
        yield* Effect.gen(function*() {
          assert.deepStrictEqual(yield* NatsTest.request("echo", { a: 1 }), { a: 1 })
          yield* NatsTest.assertCalledOnceWith("echo", { a: 1 })
        }).pipe(Effect.provide(NatsTest.layer(AppOn, { broker: { requestTimeout: "3 seconds" } })))
      }))

    it.effect("each build is its own server", () =>
      Effect.gen(function*() {
        const publishOne = NatsTest.publish("orders.created", { id: "o-1", quantity: 1 }, { schema: Order }).pipe(
          Effect.andThen(NatsTest.calls("orders.created")),
          Effect.provide(OrdersApp)
        )
        assert.strictEqual((yield* publishOne).length, 1)
        assert.strictEqual((yield* publishOne).length, 1)
      }))
  })

  // One app for the block: `clear` between tests that look at what was recorded.
  layer(OrdersApp)("shared across tests", (it) => {
    it.effect("first", () =>
      Effect.gen(function*() {
        yield* NatsTest.clear
        yield* NatsTest.publish("orders.created", { id: "a", quantity: 1 }, { schema: Order })
        yield* NatsTest.assertCalledOnceWith("orders.created", { id: "a", quantity: 1 })
      }))

    it.effect("second", () =>
      Effect.gen(function*() {
        yield* NatsTest.clear
        yield* NatsTest.publish("orders.created", { id: "b", quantity: 1 }, { schema: Order })
        yield* NatsTest.assertCalledOnceWith("orders.created", { id: "b", quantity: 1 })
      }))
  })

  it.effect("a handler that sleeps: fork the publish, move the TestClock, then join", () =>
    Effect.gen(function*() {
      const sleeping = yield* Deferred.make<void>()
      const Delayed = NatsBroker.subscriber("remind", {}, (text: unknown) =>
        Deferred.succeed(sleeping, undefined).pipe(
          Effect.andThen(Effect.sleep("1 minute")),
          Effect.andThen(NatsBroker.publish("reminders", text))
        ))
      yield* Effect.gen(function*() {
        const publishing = yield* Effect.forkChild(NatsTest.publish("remind", "stand up"))
        yield* Deferred.await(sleeping)
        yield* TestClock.adjust("1 minute")
        yield* Fiber.join(publishing)
        assert.deepStrictEqual(yield* NatsTest.published("reminders"), ["stand up"])
      }).pipe(Effect.provide(NatsTest.layer(Delayed)))
    }))
})
