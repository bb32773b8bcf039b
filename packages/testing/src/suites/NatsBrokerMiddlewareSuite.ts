/**
 * What production services put around their handlers, run against every
 * adapter: middleware (a header turned into a service for every handler, a
 * typed error turned into a reply for requests and into `term` for
 * JetStream messages, headers added to what is sent), routers (prefixes,
 * nesting, their middleware), replies with headers (`Response`,
 * `requestMessage`, `noReply`) and correlation ids that follow the work
 * (through `publishTo`, `NatsBroker.publish` and JetStream redeliveries).
 *
 * @since 0.2.0
 * @module
 */
import { assert, describe, layer } from "@effect/vitest"
import { NatsBroker, NatsClient, NatsHeaders, NatsMessage } from "@nats-effect/core"
import { Context, Effect, Layer, Queue, Schema, Stream } from "effect"
import type { Adapter } from "../Adapters.ts"
import { failure, unique } from "../internal/fixtures.ts"

const Order = Schema.Struct({ id: Schema.String, quantity: Schema.Int })

class OrderRejected extends Schema.TaggedError<OrderRejected>()("OrderRejected", { reason: Schema.String }) {}

/** The tenant of the message being handled, from its `x-tenant` header. */
const Tenant = Context.Reference<string>("@nats-effect/testing/Tenant", { defaultValue: () => "none" })

const TenantFromHeader = NatsBroker.middleware({
  handle: (handled, message) => Effect.provideService(handled, Tenant, NatsHeaders.get(message.headers, "x-tenant") ?? "none"),
  publish: (outgoing) =>
    Effect.gen(function*() {
      // A tenant already on the message (a client's) is kept.
      return { ...outgoing, headers: { "x-tenant": yield* Tenant, ...outgoing.headers } }
    })
})

/** `OrderRejected` as the answer of a request, or the end of a JetStream message. */
const Rejections = NatsBroker.middleware({
  handle: (handled, message) =>
    Effect.catchIf(
      handled,
      (error): error is OrderRejected => error instanceof OrderRejected,
      (error) => NatsMessage.isJetStream(message) ? message.term(error.reason) : Effect.succeed(`rejected: ${error.reason}`)
    )
})

/** Runs `program` with the subscribers of `app` live, on `broker`. */
const withApp = <A, E, R, E2, R2>(
  app: Layer.Layer<never, E2, R2>,
  program: Effect.Effect<A, E, R>,
  broker: Layer.Layer<NatsBroker.NatsBroker, never, NatsClient.NatsClient> = NatsBroker.layer
) => Effect.provide(program, app.pipe(Layer.provideMerge(broker)))

/**
 * Registers the conformance tests of middleware, routers, replies and correlation for one adapter.
 *
 * @since 0.2.0
 * @category suites
 */
export const suite = (adapter: Adapter) =>
  describe(`NatsBroker middleware, routers and replies (${adapter.name})`, () => {
    layer(adapter.layer(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
      it.effect("a broker's middleware turns a header into a service for every handler, and adds it to what they send", () =>
        Effect.gen(function*() {
          const subject = unique("tenant")
          const forwarded = yield* Queue.unbounded<readonly [string, string | undefined]>()
          const app = Layer.mergeAll(
            NatsBroker.subscriber(`${subject}.in`, {}, () => Effect.flatMap(Tenant, (tenant) => NatsBroker.publish(`${subject}.out`, tenant))),
            NatsBroker.subscriber(`${subject}.out`, {}, (payload, message) =>
              Queue.offer(forwarded, [String(payload), NatsHeaders.get(message.headers, "x-tenant")]))
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(`${subject}.in`, "x", { headers: { "x-tenant": "acme" } })
              assert.deepStrictEqual(yield* Queue.take(forwarded), ["acme", "acme"])
            }),
            NatsBroker.layerWith({ middlewares: [TenantFromHeader] })
          )
        }))

      it.effect("an exception middleware answers a request with a typed error turned into a reply", () =>
        Effect.gen(function*() {
          const subject = unique("orders")
          const app = NatsBroker.subscriber(subject, { schema: Order, response: Schema.String, middlewares: [Rejections] }, (order) =>
            order.quantity > 10 ? Effect.fail(new OrderRejected({ reason: "too many" })) : Effect.succeed(`ok ${order.id}`))
          yield* withApp(
            app,
            Effect.gen(function*() {
              assert.strictEqual(yield* NatsBroker.request(subject, { id: "o-1", quantity: 1 }, { schema: Order }), "ok o-1")
              assert.strictEqual(
                yield* NatsBroker.request(subject, { id: "o-2", quantity: 99 }, { schema: Order }),
                "rejected: too many"
              )
            })
          )
        }))

      it.effect("an exception middleware terminates a JetStream message, which is not redelivered", () =>
        Effect.gen(function*() {
          const nats = yield* NatsClient.NatsClient
          const stream = unique("REJ")
          yield* Effect.addFinalizer(() => Effect.ignore(nats.jetstream.streams.delete(stream)))
          const deliveries = yield* Queue.unbounded<string>()
          const app = NatsBroker.subscriber(
            `${stream}.orders`,
            { stream, durable: "rejecting", schema: Order, maxDeliver: 3, middlewares: [Rejections] },
            (order, message) =>
              Effect.andThen(
                Queue.offer(deliveries, `${order.id} ${message.deliveryCount}`),
                order.quantity > 10 ? Effect.fail(new OrderRejected({ reason: `no ${order.id}` })) : Effect.void
              )
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(`${stream}.orders`, { id: "o-1", quantity: 99 }, { stream, schema: Order })
              yield* NatsBroker.publish(`${stream}.orders`, { id: "o-2", quantity: 1 }, { stream, schema: Order })
              // In order, one at a time: o-1 was settled before o-2 was handled.
              assert.deepStrictEqual([yield* Queue.take(deliveries), yield* Queue.take(deliveries)], ["o-1 1", "o-2 1"])
            })
          )
          // Terminated, not redelivered: nothing pending, nothing redelivered.
          yield* nats.flush
          const info = yield* nats.jetstream.consumers.info(stream, "rejecting")
          assert.deepStrictEqual([info.numPending, info.numAckPending, info.numRedelivered], [0, 0, 0])
        }))

      it.effect("a router puts its subscribers and publishers under its prefix; routers nest and wrap their middleware", () =>
        Effect.gen(function*() {
          const prefix = `${unique("shop")}.`
          const seen = yield* Queue.unbounded<readonly [string, string | undefined]>()
          const Confirmed = NatsBroker.publisher("confirmed", { schema: Order })
          const orders = Layer.mergeAll(
            NatsBroker.subscriber("created", { schema: Order, publishTo: Confirmed }, (order) => Effect.succeed(order)),
            NatsBroker.subscriber("confirmed", { schema: Order }, (order, message) =>
              Queue.offer(seen, [`${message.subject} ${order.id}`, NatsHeaders.get(message.headers, "x-tenant")]))
          ).pipe(NatsBroker.router({ prefix: "orders." }))
          const app = orders.pipe(NatsBroker.router({ prefix, middlewares: [TenantFromHeader] }))
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(`${prefix}orders.created`, { id: "o-1", quantity: 1 }, {
                schema: Order,
                headers: { "x-tenant": "acme" }
              })
              assert.deepStrictEqual(yield* Queue.take(seen), [`${prefix}orders.confirmed o-1`, "acme"])
            })
          )
          const document = yield* NatsBroker.asyncApi(app, { title: "Shop", version: "1" })
          assert.includeMembers(
            Object.values(document.channels).map((channel) => channel.address),
            [`${prefix}orders.created`, `${prefix}orders.confirmed`]
          )
          const invalid = yield* failure(Layer.build(NatsBroker.subscriber("x", {}, () => Effect.void).pipe(
            NatsBroker.router({ prefix: "no-dot" }),
            Layer.provide(NatsBroker.layer)
          )))
          assert.strictEqual(invalid._tag, "InvalidSubject")
        }))

      it.effect("a handler's Response sets its reply's headers and correlation id; requestMessage reads them", () =>
        Effect.gen(function*() {
          const subject = unique("quote")
          const app = NatsBroker.subscriber(subject, { schema: Schema.String, response: Schema.Number }, (symbol) =>
            Effect.succeed(NatsBroker.Response.make(symbol.length, { headers: { "x-cache": "miss" }, correlationId: "c-reply" })))
          yield* withApp(
            app,
            Effect.gen(function*() {
              const reply = yield* NatsBroker.requestMessage(subject, "ACME", { response: Schema.Number, correlationId: "c-1" })
              assert.strictEqual(reply.data, 4)
              assert.strictEqual(NatsHeaders.get(reply.headers, "x-cache"), "miss")
              assert.strictEqual(NatsHeaders.get(reply.headers, "correlation_id"), "c-reply")
              assert.strictEqual(yield* NatsBroker.request(subject, "AB", { response: Schema.Number }), 2)
            })
          )
        }))

      it.effect("noReply never answers a request; the handler's result still goes to publishTo", () =>
        Effect.gen(function*() {
          const subject = unique("silent")
          const out = NatsBroker.publisher(`${subject}.out`)
          const forwarded = yield* Queue.unbounded<string>()
          const app = Layer.merge(
            NatsBroker.subscriber(subject, { noReply: true, publishTo: out }, () => Effect.succeed("done")),
            NatsBroker.subscriber(`${subject}.out`, {}, (payload) => Queue.offer(forwarded, String(payload)))
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              const unanswered = yield* failure(NatsBroker.request(subject, "x", { timeout: "300 millis" }))
              assert.strictEqual(unanswered._tag, "TimeoutError")
              assert.strictEqual(yield* Queue.take(forwarded), "done")
            })
          )
        }))

      it.effect("what a handler publishes carries the handled message's correlation id, unless it sets its own", () =>
        Effect.gen(function*() {
          const subject = unique("flow")
          const Out = NatsBroker.publisher(`${subject}.out`)
          const ids = yield* Queue.unbounded<string>()
          const app = Layer.mergeAll(
            NatsBroker.subscriber(`${subject}.in`, { publishTo: Out }, () =>
              Effect.andThen(
                Effect.all([
                  NatsBroker.publish(`${subject}.out`, "published"),
                  NatsBroker.publish(`${subject}.out`, "own", { correlationId: "c-own" })
                ]),
                Effect.succeed("returned")
              )),
            NatsBroker.subscriber(`${subject}.out`, {}, (payload, message) => Queue.offer(ids, `${String(payload)} ${message.correlationId}`))
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(`${subject}.in`, "x", { correlationId: "c-1" })
              const got = [yield* Queue.take(ids), yield* Queue.take(ids), yield* Queue.take(ids)]
              assert.sameMembers(got, ["published c-1", "own c-own", "returned c-1"])
            })
          )
        }))

      it.effect("a JetStream message without a correlation id gets one from its place in its stream, the same on every redelivery", () =>
        Effect.gen(function*() {
          const nats = yield* NatsClient.NatsClient
          const stream = unique("COR")
          yield* Effect.addFinalizer(() => Effect.ignore(nats.jetstream.streams.delete(stream)))
          const ids = yield* Queue.unbounded<string>()
          const app = NatsBroker.subscriber(`${stream}.jobs`, { stream, durable: "retrying", maxDeliver: 3 }, (_, message) =>
            Effect.andThen(Queue.offer(ids, message.correlationId), message.deliveryCount < 3 ? Effect.fail("again") : Effect.void))
          yield* withApp(
            app,
            Effect.gen(function*() {
              // Published without the broker's headers: no correlation id.
              const ack = yield* nats.jetstream.publish(`${stream}.jobs`, new TextEncoder().encode("job"))
              const got = yield* Stream.fromQueue(ids).pipe(Stream.take(3), Stream.runCollect)
              assert.deepStrictEqual(got, Array.from({ length: 3 }, () => `${stream}.${ack.seq}`))
            })
          )
        }))

      it.effect("a poison JetStream message lands on the dead letters with DecodeError and the field's path", () =>
        Effect.gen(function*() {
          const nats = yield* NatsClient.NatsClient
          const stream = unique("POI")
          yield* Effect.addFinalizer(() => Effect.ignore(nats.jetstream.streams.delete(stream)))
          const letters = yield* Queue.unbounded<NatsClient.Headers>()
          const app = Layer.merge(
            NatsBroker.subscriber(`${stream}.orders`, { stream, durable: "strict", schema: Order, deadLetter: `${stream}_dead` }, () =>
              Effect.void),
            NatsBroker.subscriber(`${stream}_dead`, {}, (_, message) => Queue.offer(letters, message.headers))
          )
          yield* withApp(
            app,
            Effect.gen(function*() {
              yield* NatsBroker.publish(`${stream}.orders`, { id: "o-1", quantity: "many" }, { stream })
              const headers = yield* Queue.take(letters)
              assert.strictEqual(NatsHeaders.get(headers, "nats-effect-dead-letter-error-tag"), "DecodeError")
              assert.include(NatsHeaders.get(headers, "nats-effect-dead-letter-error-message"), `["quantity"]`)
            })
          )
        }))
    })
  })
