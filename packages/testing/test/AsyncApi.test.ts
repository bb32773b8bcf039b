/**
 * `NatsBroker.asyncApi`: the AsyncAPI 3.0 document of an app with every kind
 * of endpoint (core subscriber with a queue group, request/reply, JetStream
 * subscriber, publisher, KV watcher, object watcher), validated against the
 * AsyncAPI 3.0.0 JSON Schema of `@asyncapi/specs`. Documenting builds the
 * app on the in-memory NATS only (no conformance suite: there is no server).
 */
import specs from "@asyncapi/specs"
import { assert, describe, it } from "@effect/vitest"
import { NatsBroker, NatsClient } from "@nats-effect/core"
import { KeyValue } from "@nats-effect/kv"
import { ObjectStore } from "@nats-effect/object-store"
import { Ajv, type SchemaObject } from "ajv"
import { Context, Effect, Exit, Layer, Schema, Scope } from "effect"

// The AsyncAPI schema bundles the draft-07 meta-schema it is written in: Ajv's own copy is left out
// (formats are not checked: the document has no URIs or e-mail addresses).
const validate = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false, validateFormats: false })
  .compile(specs.schemas["3.0.0"] as SchemaObject)

class Order extends Schema.Class<Order>("Order")({ id: Schema.String, quantity: Schema.Int }) {}
const Price = Schema.Struct({ amount: Schema.Number, currency: Schema.String }).annotate({ identifier: "Price" })
const Shipment = Schema.Struct({ orderId: Schema.String })

/** An app with one endpoint of each kind; `ran` lists the handlers and startup work that ran. */
const makeApp = () => {
  const ran: Array<string> = []
  const Shipments = NatsBroker.publisher("shipments.created", {
    schema: Shipment,
    description: "An order was shipped"
  })
  const App = Layer.mergeAll(
    NatsBroker.subscriber("orders.{region}", {
      schema: Order,
      queue: "workers",
      description: "Takes new orders"
    }, (order) => Effect.sync(() => ran.push(`order ${order.id}`))),
    NatsBroker.subscriber("prices.get", { schema: Schema.String, response: Price }, (sku) =>
      Effect.sync(() => {
        ran.push(`price ${sku}`)
        return { amount: 1, currency: "EUR" }
      })),
    NatsBroker.subscriber("payments.{id}", {
      stream: "PAYMENTS",
      durable: "billing",
      schema: Schema.Struct({ orderId: Schema.String }),
      publishTo: Shipments
    }, (payment) => Effect.sync(() => ran.push(`payment ${payment.orderId}`)).pipe(Effect.as(payment))),
    KeyValue.watcher("config", "flags.{name}", { schema: Schema.Boolean }, (on, message) =>
      Effect.sync(() => ran.push(`flag ${message.params["name"]} ${on}`))),
    ObjectStore.watcher("uploads", {}, (info) => Effect.sync(() => ran.push(`upload ${info.name}`)))
  ).pipe(
    // Answered only once the handler ran: without documentation mode, `ran` is not empty when the app is built.
    NatsBroker.afterStartup(Effect.gen(function*() {
      ran.push("afterStartup")
      yield* NatsBroker.request("prices.get", "sku-1", { response: Price })
    }))
  )
  return { App, ran }
}

const options = { title: "Shop", version: "1.2.3", servers: { local: { host: "localhost:4222" } } }

/** The channel whose address is `address`, and its key. */
const channelAt = (document: NatsBroker.AsyncApiDocument, address: string | null) => {
  const found = Object.entries(document.channels).find(([, channel]) => channel.address === address)
  assert.isDefined(found, `a channel at ${address}`)
  return { key: found![0], channel: found![1] }
}

/** The operations on the channel at `address`. */
const operationsAt = (document: NatsBroker.AsyncApiDocument, address: string) => {
  const { key } = channelAt(document, address)
  return Object.values(document.operations).filter((operation) => operation.channel.$ref === `#/channels/${key}`)
}

/** Follows a `#/...` reference within the document. */
const resolve = (document: NatsBroker.AsyncApiDocument, ref: string): any =>
  ref.slice(2).split("/").reduce((node: any, token) => node[token.replace(/~1/g, "/").replace(/~0/g, "~")], document)

describe("NatsBroker.asyncApi", () => {
  it.effect("documents every endpoint of an app in a valid AsyncAPI 3.0 document, running nothing", () =>
    Effect.gen(function*() {
      const { App, ran } = makeApp()
      const document = yield* NatsBroker.asyncApi(App, options)

      assert.isTrue(validate(document), JSON.stringify(validate.errors, null, 2))
      assert.deepStrictEqual(ran, [])
      assert.strictEqual(document.asyncapi, "3.0.0")
      assert.deepStrictEqual(document.info, { title: "Shop", version: "1.2.3" })
      assert.deepStrictEqual(document.servers, { local: { host: "localhost:4222", protocol: "nats" } })

      // Core subscriber: subject template with its parameter, queue group binding, Schema.
      const orders = channelAt(document, "orders.{region}")
      assert.deepStrictEqual(orders.channel.parameters, { region: {} })
      const [receiveOrders, ...otherOrders] = operationsAt(document, "orders.{region}")
      assert.strictEqual(otherOrders.length, 0)
      assert.strictEqual(receiveOrders!.action, "receive")
      assert.strictEqual(receiveOrders!.description, "Takes new orders")
      assert.deepStrictEqual(receiveOrders!.bindings, { nats: { queue: "workers", bindingVersion: "0.1.0" } })
      const orderMessage = resolve(document, receiveOrders!.messages[0]!.$ref)
      assert.strictEqual(orderMessage.contentType, "application/json")
      assert.deepStrictEqual(orderMessage.correlationId, { location: "$message.header#/correlation_id" })
      const orderSchema = orderMessage.payload.$ref === undefined
        ? orderMessage.payload
        : resolve(document, orderMessage.payload.$ref)
      assert.deepStrictEqual(orderSchema.required, ["id", "quantity"])
      assert.deepStrictEqual(orderSchema.properties.id, { type: "string" })
      assert.strictEqual(orderSchema.properties.quantity.type, "integer")

      // Request/reply: the request's message, and a reply on the requester's inbox with the response Schema.
      const [prices] = operationsAt(document, "prices.get")
      assert.strictEqual(prices!.action, "receive")
      assert.deepStrictEqual(resolve(document, prices!.messages[0]!.$ref).payload, { type: "string" })
      assert.strictEqual(resolve(document, prices!.messages[0]!.$ref).contentType, "text/plain")
      assert.isDefined(prices!.reply)
      assert.strictEqual(resolve(document, prices!.reply!.channel.$ref).address, null)
      const [replyRef, errorRef, ...otherReplies] = prices!.reply!.messages
      assert.strictEqual(otherReplies.length, 0)
      const reply = resolve(document, replyRef!.$ref)
      assert.deepStrictEqual(reply.payload, { $ref: "#/components/schemas/Price" })
      // A failure answers with its tag in the `nats-effect-error` header and its message as text.
      const error = resolve(document, errorRef!.$ref)
      assert.strictEqual(error.contentType, "text/plain")
      assert.deepStrictEqual(error.headers.required, ["nats-effect-error"])
      assert.deepStrictEqual(document.components.schemas["Price"], {
        type: "object",
        properties: {
          amount: { anyOf: [{ type: "number" }, { type: "string", enum: ["Infinity", "-Infinity", "NaN"] }] },
          currency: { type: "string" }
        },
        required: ["amount", "currency"],
        additionalProperties: true
      })

      // JetStream subscriber: its stream and consumer; no reply.
      const [payments] = operationsAt(document, "payments.{id}")
      assert.strictEqual(payments!.action, "receive")
      assert.isUndefined(payments!.reply)
      assert.deepStrictEqual(payments!["x-nats-jetstream"], { stream: "PAYMENTS", durable: "billing", ackPolicy: "nackOnError" })
      assert.deepStrictEqual(channelAt(document, "payments.{id}").channel.parameters, { id: {} })

      // The publisher, included by the JetStream subscriber's `publishTo`.
      const [shipments] = operationsAt(document, "shipments.created")
      assert.strictEqual(shipments!.action, "send")
      assert.strictEqual(shipments!.description, "An order was shipped")
      assert.deepStrictEqual(resolve(document, shipments!.messages[0]!.$ref).payload, {
        type: "object",
        properties: { orderId: { type: "string" } },
        required: ["orderId"],
        additionalProperties: true
      })

      // KV watcher: the subjects the bucket stores the keys under, the value's Schema as JSON.
      const [flags] = operationsAt(document, "$KV.config.flags.{name}")
      assert.strictEqual(flags!.action, "receive")
      assert.deepStrictEqual(flags!["x-nats-kv"], { bucket: "config", keys: "flags.{name}", include: "lastValue" })
      const flag = resolve(document, flags!.messages[0]!.$ref)
      assert.deepStrictEqual(flag.payload, { type: "boolean" })
      assert.strictEqual(flag.contentType, "application/json")
      assert.isUndefined(flag.correlationId)
      assert.deepStrictEqual(channelAt(document, "$KV.config.flags.{name}").channel.parameters, { name: {} })

      // Object watcher: the bucket's meta messages.
      const [uploads] = operationsAt(document, "$O.uploads.M.{name}")
      assert.strictEqual(uploads!.action, "receive")
      assert.deepStrictEqual(uploads!["x-nats-object-store"], { bucket: "uploads" })
      const meta = resolve(document, uploads!.messages[0]!.$ref).payload
      assert.includeMembers(Object.keys(meta.properties), ["name", "size", "chunks", "digest", "deleted"])

      assert.strictEqual(Object.keys(document.operations).length, 6)
    }))

  it.effect("the same app, launched, registers the same endpoints and runs its handlers and afterStartup", () =>
    Effect.gen(function*() {
      const { App, ran } = makeApp()
      const context = yield* Layer.build(
        Layer.provideMerge(App, Layer.provideMerge(NatsBroker.layer, NatsClient.layerMemory()))
      )
      assert.deepStrictEqual(ran, ["afterStartup", "price sku-1"])
      const endpoints = yield* Context.get(context, NatsBroker.NatsBroker).endpoints
      assert.sameMembers(
        endpoints.map((endpoint) => `${endpoint.action} ${endpoint.address}`),
        [
          "receive orders.{region}",
          "receive prices.get",
          "receive payments.{id}",
          "send shipments.created",
          "receive $KV.config.flags.{name}",
          "receive $O.uploads.M.{name}"
        ]
      )
    }).pipe(Effect.scoped))

  it.effect("forgets an endpoint when its layer is released", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Layer.provideMerge(NatsBroker.layer, NatsClient.layerMemory()))
      const broker = Context.get(context, NatsBroker.NatsBroker)
      const scope = yield* Scope.make()
      yield* Layer.buildWithScope(NatsBroker.subscriber("jobs", {}, () => Effect.void), scope).pipe(
        Effect.provideContext(context)
      )
      assert.deepStrictEqual((yield* broker.endpoints).map((endpoint) => endpoint.address), ["jobs"])
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(yield* broker.endpoints, [])
    }).pipe(Effect.scoped))

  it.effect("declares nothing on the server: a stream that is only attached to need not exist", () =>
    Effect.gen(function*() {
      const App = NatsBroker.subscriber("audit.>", {
        stream: { name: "AUDIT", declare: false },
        description: "Audits everything"
      }, () => Effect.void)
      const document = yield* NatsBroker.asyncApi(App, { title: "Audit", version: "1" })
      assert.isTrue(validate(document), JSON.stringify(validate.errors, null, 2))
      const [audit] = operationsAt(document, "audit.>")
      assert.deepStrictEqual(audit!["x-nats-jetstream"], { stream: "AUDIT", ackPolicy: "nackOnError" })
      assert.strictEqual(audit!.description, "Audits everything")
    }))

  it.effect("shares a channel, and identical messages, between the endpoints on one subject", () =>
    Effect.gen(function*() {
      const Events = NatsBroker.publisher("events", { schema: Shipment })
      const App = Layer.mergeAll(
        Events.layer,
        NatsBroker.subscriber("events", { schema: Shipment, queue: "a" }, () => Effect.void),
        NatsBroker.subscriber("events", { queue: "b", name: "raw events" }, () => Effect.void)
      )
      const document = yield* NatsBroker.asyncApi(App, { title: "Events", version: "1" })
      assert.isTrue(validate(document), JSON.stringify(validate.errors, null, 2))
      assert.strictEqual(Object.keys(document.channels).length, 1)
      const { channel } = channelAt(document, "events")
      // The publisher's and the first subscriber's messages are the same; the untyped one differs.
      assert.strictEqual(Object.keys(channel.messages).length, 2)
      const operations = operationsAt(document, "events")
      assert.sameMembers(operations.map((operation) => operation.action), ["send", "receive", "receive"])
      assert.strictEqual(new Set(operations.map((operation) => operation.messages[0]!.$ref)).size, 2)
      const raw = operations.find((operation) => operation.title === "raw events")!
      assert.deepStrictEqual(resolve(document, raw.messages[0]!.$ref).payload, {})
    }))

  it.effect("names the channels and operations of wildcards readably: * is any, > is all", () =>
    Effect.gen(function*() {
      const App = Layer.mergeAll(
        NatsBroker.subscriber("orders.*", {}, () => Effect.void),
        KeyValue.watcher("config", ">", {}, () => Effect.void),
        ObjectStore.watcher("uploads", {}, () => Effect.void)
      )
      const document = yield* NatsBroker.asyncApi(App, { title: "Wildcards", version: "1" })
      assert.isTrue(validate(document), JSON.stringify(validate.errors, null, 2))
      assert.sameMembers(Object.keys(document.channels), ["orders.any", "KV.config.all", "O.uploads.M.name"])
      assert.sameMembers(Object.keys(document.operations), ["receive.orders.any", "receive.config.all", "receive.uploads.all"])
      assert.strictEqual(channelAt(document, "$KV.config.>").key, "KV.config.all")
    }))

  it.effect("fails with EncodeError for a Schema whose JSON Schema has no draft-07 form", () =>
    Effect.gen(function*() {
      const Closed = Schema.Struct({ a: Schema.String }).check(
        Schema.makeFilter(() => true, { toJsonSchema: () => ({ unevaluatedProperties: false }) })
      )
      const App = NatsBroker.subscriber("opaque", { schema: Closed }, () => Effect.void)
      const error = yield* Effect.flip(NatsBroker.asyncApi(App, { title: "Opaque", version: "1" }))
      assert.strictEqual(error.reason._tag, "EncodeError")
      assert.include(error.message, `the Schema of the payloads of "opaque" has no JSON Schema`)
    }))
})
