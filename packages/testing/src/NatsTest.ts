/**
 * `NatsTest`: test a NATS application on the in-memory NATS (or on a
 * nats-server of its own), with the real broker and stores on top, and
 * helpers to publish and wait until every handler is done, to see what was
 * published and to check what the handlers were called with.
 *
 * <!-- prelude: testing -->
 * ```ts
 * import { assert, it } from "@effect/vitest"
 * import { NatsTest } from "@nats-effect/testing"
 *
 * it.effect("an order is confirmed", () =>
 *   Effect.gen(function*() {
 *     yield* NatsTest.publish("orders.created", { id: "o-1" })   // returns once every handler is done
 *     yield* NatsTest.assertCalledOnceWith("orders.created", { id: "o-1" })
 *     assert.deepStrictEqual(yield* NatsTest.published("orders.confirmed"), [{ id: "o-1" }])
 *   }).pipe(Effect.provide(NatsTest.layer(App))))
 * ```
 *
 * Unlike FastStream's TestNatsBroker, nothing is patched: the app runs on
 * `NatsClient.layerMemory()`, a NATS server with JetStream inside the process
 * (streams, durable consumers with ack/nak/term and redelivery, the object
 * store's chunks), driven by Effect's `Clock` so that `TestClock` drives ack
 * waits and ages; or, with `{ nats: "server" }`, on a nats-server. The broker
 * runs unchanged and reports to `NatsTest` through its observer
 * (`NatsBroker.BrokerObserver`).
 *
 * How `publish` knows when to return: every core message sent through the
 * client is counted for each broker subscriber it reaches (once per queue
 * group) before it is sent, and counted back when a subscriber is done with
 * it; JetStream consumers are asked what they have still to deliver or have
 * acknowledged, streams what a watch has not read yet; and every subscriber
 * says how many messages it holds. A handler publishes in turn before it is
 * done with its own message, so when all of it is at zero, the message and
 * everything it caused (transitively) have been handled. Work a handler
 * forks and leaves running is not followed.
 *
 * @since 0.1.0
 * @module
 */
import { isDeepStrictEqual } from "node:util"
import { NatsBroker, NatsClient, type NatsError, NatsHeaders, NatsSubject } from "@nats-effect/core"
import { Context, Duration, Effect, Layer, Result, Schema } from "effect"
import * as Recorder from "./internal/recorder.ts"
import * as NatsServer from "./NatsServer.ts"

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

/**
 * One call of a handler: the message, its decoded payload, its `{param}`
 * values, and how the handler ended (its reply on success).
 *
 * ```ts
 * const [call] = yield* NatsTest.calls("logs.{level}")
 * assert.deepStrictEqual(call.params, { level: "info" })
 * assert.isTrue(Exit.isSuccess(call.exit))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Call = Recorder.Call

/**
 * A message sent through the client, as it went on the wire: `kind` is
 * `publish` (core NATS, replies included), `request` or `jetstream`.
 *
 * @since 0.1.0
 * @category models
 */
export type Sent = Recorder.Sent

/**
 * A message sent on a subject, as it went on the wire, with its payload
 * decoded as a subscriber would decode it.
 *
 * ```ts
 * const [sent] = yield* NatsTest.publishedMessages("orders.confirmed", Order)
 * assert.strictEqual(sent.correlationId, "c-1")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Published<A> extends Sent {
  readonly payload: A
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

const BusySubscriber = Schema.Struct({
  subscriber: Schema.String,
  subject: Schema.String,
  queue: Schema.UndefinedOr(Schema.String),
  /** What it is still waiting for: messages it holds, messages sent to it, its consumer's or stream's. */
  waiting: Schema.String,
  /** Subjects of the messages its handlers are working on. */
  handling: Schema.Array(Schema.String)
})

/**
 * The handlers were not all done within the idle timeout (real time, not
 * `TestClock`): `busy` lists the subscribers with something left, what, and
 * what they are handling. A handler waiting for the test itself, sleeping on
 * a `TestClock` nobody adjusts, or leaving a JetStream message unacknowledged
 * ends up here.
 *
 * @since 0.1.0
 * @category errors
 */
export class IdleTimeout extends Schema.TaggedError<IdleTimeout>("@nats-effect/testing/IdleTimeout")("IdleTimeout", {
  timeout: Schema.String,
  busy: Schema.Array(BusySubscriber)
}) {
  override get message() {
    const lines = this.busy.map((busy) => {
      const group = busy.queue === undefined ? "" : ` in queue group "${busy.queue}"`
      const handling = busy.handling.length === 0 ? "" : `, handling ${busy.handling.join(", ")}`
      return `"${busy.subscriber}" (${busy.subject})${group}: ${busy.waiting}${handling}`
    })
    return `the handlers were not done after ${this.timeout}; still busy:\n  ${lines.join("\n  ")}`
  }
}

/**
 * A `NatsTest` assertion does not hold; `expected` and `actual` say how.
 *
 * @since 0.1.0
 * @category errors
 */
export class AssertionFailed extends Schema.TaggedError<AssertionFailed>("@nats-effect/testing/AssertionFailed")(
  "AssertionFailed",
  { message: Schema.String, expected: Schema.Unknown, actual: Schema.Unknown }
) {}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/**
 * What `NatsTest.layerMemory` records, as a service. The module's functions
 * (`publish`, `calls`, `published`, ...) use it; reach for it directly for
 * everything at once.
 *
 * @since 0.1.0
 * @category services
 */
export class NatsTest extends Context.Service<NatsTest, {
  /** Completes once every broker subscriber is done with every message sent to it; see `awaitIdle`. */
  readonly awaitIdle: Effect.Effect<void, IdleTimeout>
  /** Every handler call so far, in the order they ended. */
  readonly calls: Effect.Effect<ReadonlyArray<Call>>
  /** Every message sent through the client so far, in order (except on `$` subjects). */
  readonly sent: Effect.Effect<ReadonlyArray<Sent>>
  /** Every broker subscriber started so far: its name and declared subject. */
  readonly subscribers: Effect.Effect<ReadonlyArray<{ readonly name: string; readonly declaredSubject: string }>>
  /** Forgets the calls and messages recorded so far. */
  readonly clear: Effect.Effect<void>
}>()("@nats-effect/testing/NatsTest") {}

// ---------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------

/**
 * How `NatsTest` waits for the handlers, whichever NATS it runs on.
 *
 * @since 0.2.0
 * @category options
 */
export interface WaitOptions {
  /**
   * How long `publish`, `request` and `awaitIdle` wait for the handlers, in
   * real time (`TestClock` does not move it). Default 5 seconds.
   */
  readonly idleTimeout?: Duration.Input | undefined
  /**
   * Caps the concurrency of every subscriber (`NatsBroker.MaxConcurrency`):
   * at 1, each subscriber handles its messages one after the other, in the
   * order they were published. Default: each subscriber's own.
   */
  readonly maxConcurrency?: number | undefined
}

/**
 * Options of `layerMemory`: the in-memory NATS's limits and how long to wait for handlers.
 *
 * @since 0.1.0
 * @category options
 */
export interface MemoryOptions extends NatsClient.MemoryOptions, WaitOptions {}

/** How often `awaitIdle` asks the consumers and streams again when nothing is reported meanwhile. */
const recheckMillis = 10

/**
 * Any NATS, recording: the `NatsClient` that `nats` provides, wrapped, and
 * the `NatsTest` service, with the observer that every broker built on it
 * reports to. `layerMemory` and `layerServer` are this on the in-memory NATS
 * and on a nats-server of its own.
 *
 * ```ts
 * const Nats = NatsTest.layerNats(NatsClient.layerConfig())   // a NATS of your own, from NATS_URL
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerNats = <E, R>(
  nats: Layer.Layer<NatsClient.NatsClient, E, R>,
  options: WaitOptions = {}
): Layer.Layer<NatsClient.NatsClient | NatsTest, E, R> =>
  Layer.effectContext(Effect.gen(function*() {
    const { idleTimeout = "5 seconds", maxConcurrency } = options
    if (maxConcurrency !== undefined && (!Number.isInteger(maxConcurrency) || maxConcurrency < 1)) {
      return yield* Effect.die(new RangeError(`maxConcurrency must be a positive integer, got ${maxConcurrency}`))
    }
    const timeout = Duration.fromInputUnsafe(idleTimeout)
    const recorder = Recorder.make()
    const client = recorder.wrapClient(Context.get(yield* Layer.build(nats), NatsClient.NatsClient))

    // The deadline is real time: under TestClock a virtual one would never come, and the test would hang.
    const awaitIdle = Effect.suspend(() => {
      const deadline = Date.now() + Duration.toMillis(timeout)
      const check: Effect.Effect<void, IdleTimeout> = Effect.flatMap(
        recorder.busy.pipe(
          Effect.catch((error) =>
            Effect.succeed([{
              subscriber: "NATS",
              subject: "",
              queue: undefined,
              waiting: `could not ask it what is left: ${error.message}`,
              handling: []
            }])
          )
        ),
        (busy) =>
          busy.length === 0
            ? Effect.void
            : Date.now() >= deadline
            ? Effect.fail(new IdleTimeout({ timeout: Duration.format(timeout), busy }))
            : Effect.andThen(recorder.nextChange(recheckMillis), check)
      )
      return check
    })

    const service = NatsTest.of({
      awaitIdle,
      calls: Effect.sync(recorder.calls),
      sent: Effect.sync(recorder.sent),
      subscribers: Effect.sync(recorder.subscribers),
      clear: Effect.sync(recorder.clear)
    })
    const context = Context.make(NatsClient.NatsClient, client).pipe(
      Context.add(NatsTest, service),
      Context.add(NatsBroker.BrokerObserver, recorder.observer)
    )
    return maxConcurrency === undefined ? context : Context.add(context, NatsBroker.MaxConcurrency, maxConcurrency)
  }))

/**
 * The in-memory NATS, recording: a fresh `NatsClient.layerMemory()` server
 * and the `NatsTest` service, with the observer that every broker built on
 * it reports to. `layer` is built on it; use it directly to compose the test
 * layers yourself. The same layer value used twice in one build is built
 * once: one server.
 *
 * ```ts
 * const Nats = NatsTest.layerMemory({ maxConcurrency: 1 })
 * const TestApp = OrderCreated.pipe(Layer.provideMerge(NatsBroker.layer), Layer.provideMerge(Nats))
 * ```
 *
 * Messages on `$` subjects (the streams of object and key-value stores) are
 * not recorded by `sent`/`published`, so large objects are not kept twice.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<NatsClient.NatsClient | NatsTest> =>
  layerNats(NatsClient.layerMemory({ maxPayload: options.maxPayload, maxControlLine: options.maxControlLine }), options)

/**
 * Options of `layerServer`: the nats-server to start (see `NatsServer.layer`)
 * and how long to wait for handlers.
 *
 * @since 0.2.0
 * @category options
 */
export interface ServerOptions extends NatsServer.NatsServerOptions, WaitOptions {}

/**
 * A nats-server of its own (JetStream on, a free loopback port, its own
 * store; the binary from `NATS_SERVER_BIN`, else the oldest installed),
 * recording, as `layerMemory` is: FastStream's `TestNatsBroker(with_real=True)`.
 * Time is the server's: a redelivery it holds back comes in real time, and
 * `awaitIdle` waits for it (within the idle timeout).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerServer = (
  options: ServerOptions = {}
): Layer.Layer<NatsClient.NatsClient | NatsTest, NatsServer.NatsServerError | NatsError.NatsError> =>
  layerNats(
    Layer.unwrap(Effect.map(NatsServer.NatsServer, (server) => NatsClient.layer({ servers: server.url }))).pipe(
      Layer.provide(NatsServer.layer(options))
    ),
    options
  )

/**
 * Which NATS `layer` runs the app on: the in-memory one (`"memory"`, the
 * default), a nats-server of its own (`"server"`), or any `NatsClient` layer.
 *
 * @since 0.2.0
 * @category options
 */
export type NatsChoice = "memory" | "server" | Layer.Layer<NatsClient.NatsClient, unknown>

/**
 * How building the NATS of a `NatsChoice` can fail.
 *
 * @since 0.2.0
 * @category models
 */
export type NatsChoiceError<N extends NatsChoice> = N extends Layer.Layer<NatsClient.NatsClient, infer E> ? E
  : N extends "server" ? NatsServer.NatsServerError | NatsError.NatsError
  : never

/**
 * Options of `layer`: the NATS, how long to wait for handlers, the broker's options.
 *
 * @since 0.1.0
 * @category options
 */
export interface LayerOptions<N extends NatsChoice = "memory"> extends MemoryOptions {
  /**
   * The NATS the app runs on: `"memory"` (the default), `"server"` (a
   * nats-server of its own, see `layerServer`), or a `NatsClient` layer.
   * Every `NatsTest` function works the same on each.
   *
   * @since 0.2.0
   */
  readonly nats?: N | undefined
  /** Options of the broker `layer` provides. */
  readonly broker?: NatsBroker.NatsBrokerOptions | undefined
}

const natsOf = <N extends NatsChoice>(
  options: LayerOptions<N>
): Layer.Layer<NatsClient.NatsClient | NatsTest, NatsChoiceError<N>> => {
  const nats = options.nats ?? "memory"
  return (nats === "memory"
    ? layerMemory(options)
    : nats === "server"
    ? layerServer({ idleTimeout: options.idleTimeout, maxConcurrency: options.maxConcurrency })
    : layerNats(nats, options)) as Layer.Layer<NatsClient.NatsClient | NatsTest, NatsChoiceError<N>>
}

type Provided = NatsTest | NatsClient.NatsClient | NatsBroker.NatsBroker

/**
 * What the compiler asks for when an app given to `layer` needs services
 * that `layer` does not provide: the error names them, as
 * `MissingServices<ObjectStore | Prices>`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MissingServices<R> {
  readonly "provide these services to the app given to NatsTest.layer": R
}

/**
 * `unknown` (no constraint) when `layer` provides everything in `RIn`, else `MissingServices` of the rest.
 *
 * @since 0.1.0
 * @category models
 */
export type ProvidedBy<RIn> = [Exclude<RIn, Provided>] extends [never] ? unknown : MissingServices<Exclude<RIn, Provided>>

/**
 * An app on a fresh NATS (the in-memory one unless `nats` says otherwise),
 * with a broker and `NatsTest`: everything a test of the app needs, in one
 * layer. `app` is the app's layer (its subscribers, startup work, stores),
 * or a function that makes it from a NATS layer (for an app that takes its
 * NATS as an argument).
 *
 * Each build is a new server: provide it per test for a clean slate, or share
 * it across a block with `layer(...)` from `@effect/vitest` (then `NatsTest.clear`
 * between tests, if they look at what was recorded).
 *
 * ```ts
 * const TestApp = NatsTest.layer(Layer.mergeAll(OrderCreated, Confirmations), { maxConcurrency: 1 })
 *
 * it.effect("confirms", () =>
 *   NatsTest.publish("orders.created", order).pipe(Effect.provide(TestApp)))   // a server per test
 *
 * layer(NatsTest.layer(App))("shared", (it) => {                              // one for the block
 *   it.effect("confirms", () => NatsTest.publish("orders.created", order))
 * })
 * NatsTest.layer((nats) => AppOn(nats))                                         // an app taking its NATS
 * NatsTest.layer(App, { nats: "server" })                                       // the same on a nats-server
 * ```
 *
 * The app must come with every service it needs besides the NATS client, the
 * broker and `NatsTest`: the compiler refuses one that does not, naming what
 * is missing (`MissingServices<ObjectStore>`), where the layer is made
 * rather than where the test runs.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <ROut, E, RIn, N extends NatsChoice = "memory">(
  app:
    | (Layer.Layer<ROut, E, RIn> & ProvidedBy<RIn>)
    | ((nats: Layer.Layer<NatsClient.NatsClient, NatsChoiceError<N>>) => Layer.Layer<ROut, E, RIn> & ProvidedBy<RIn>),
  options: LayerOptions<N> = {}
): Layer.Layer<ROut | Provided, E | NatsChoiceError<N>> => {
  const nats = natsOf(options)
  const appLayer: Layer.Layer<ROut, E, RIn> = typeof app === "function" ? app(nats) : app
  const broker = options.broker === undefined ? NatsBroker.layer : NatsBroker.layerWith(options.broker)
  // What is left is never: ProvidedBy<RIn> refused any other RIn, which TypeScript cannot see for a generic RIn.
  return appLayer.pipe(Layer.provideMerge(broker), Layer.provideMerge(nats)) as Layer.Layer<
    ROut | Provided,
    E | NatsChoiceError<N>
  >
}

// ---------------------------------------------------------------------------
// Publishing and waiting
// ---------------------------------------------------------------------------

/**
 * Completes once every broker subscriber has handled every message sent to it
 * so far, and everything its handlers published in turn. Fails with
 * `IdleTimeout`, listing who is still busy, after the idle timeout.
 *
 * Call it before looking at `calls` when something other than `publish` /
 * `request` sent the messages: the app's startup work, a raw client, or a
 * requester of its own (a handler replies before it is done).
 *
 * ```ts
 * yield* NatsClient.NatsClient.use((nats) => nats.publish("raw", bytes))
 * yield* NatsTest.awaitIdle
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const awaitIdle: Effect.Effect<void, IdleTimeout, NatsTest> = NatsTest.use((test) =>
  test.awaitIdle)

/**
 * Publishes through the broker (as `NatsBroker.publish`) and returns once
 * every handler is done with the message and with whatever it published in
 * turn, transitively: no sleeping in tests. With `stream` it publishes
 * through JetStream and returns the `PubAck`, once the JetStream subscribers
 * are done with it too.
 *
 * ```ts
 * yield* NatsTest.publish("orders.created", { id: "o-1", quantity: 2 }, { schema: Order })
 * const ack = yield* NatsTest.publish("orders.placed", order, { stream: "ORDERS", schema: Order })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const publish: {
  <S extends NatsBroker.PayloadSchema | undefined = undefined>(
    subject: string,
    payload: NatsBroker.PayloadOf<S>,
    options: NatsBroker.JetStreamPublishOptions<S>
  ): Effect.Effect<NatsClient.PubAck, NatsError.NatsError | IdleTimeout, NatsTest | NatsBroker.NatsBroker>
  <S extends NatsBroker.PayloadSchema | undefined = undefined>(
    subject: string,
    payload: NatsBroker.PayloadOf<S>,
    options?: NatsBroker.PublishOptions<S>
  ): Effect.Effect<void, NatsError.NatsError | IdleTimeout, NatsTest | NatsBroker.NatsBroker>
} = (
  subject: string,
  payload: unknown,
  options?: NatsBroker.PublishOptions<NatsBroker.PayloadSchema | undefined>
): Effect.Effect<any, NatsError.NatsError | IdleTimeout, NatsTest | NatsBroker.NatsBroker> =>
  // `NatsBroker.publish` reads `stream` from the options and then returns the PubAck.
  Effect.tap(NatsBroker.publish(subject, payload, options), () => awaitIdle)

/**
 * Sends a request through the broker (as `NatsBroker.request`) and returns
 * its decoded reply, or its failure, once every handler is done (see
 * `publish`).
 *
 * ```ts
 * const total = yield* NatsTest.request("cart.total", { items }, { response: Schema.Number })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const request = <
  S extends NatsBroker.PayloadSchema | undefined = undefined,
  Rs extends NatsBroker.PayloadSchema | undefined = undefined
>(
  subject: string,
  payload: NatsBroker.PayloadOf<S>,
  options?: NatsBroker.RequestOptions<S, Rs>
): Effect.Effect<NatsBroker.ReplyOf<Rs>, NatsError.NatsError | IdleTimeout, NatsTest | NatsBroker.NatsBroker> =>
  Effect.flatMap(Effect.exit(NatsBroker.request(subject, payload, options)), (reply) => Effect.andThen(awaitIdle, reply))

// ---------------------------------------------------------------------------
// What was published
// ---------------------------------------------------------------------------

/**
 * Every message sent on the subjects `subject` matches (it may hold `*` and
 * `>`), in order, with its payload decoded as a subscriber would: by its
 * content-type, then through `schema` when given. Fails with
 * `AssertionFailed` when one does not decode.
 *
 * ```ts
 * const [confirmation] = yield* NatsTest.publishedMessages("orders.confirmed", Order)
 * assert.strictEqual(confirmation.headers?.["tenant"]?.[0], "acme")
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const publishedMessages = <S extends NatsBroker.PayloadSchema | undefined = undefined>(
  subject: string,
  schema?: S
): Effect.Effect<ReadonlyArray<Published<NatsBroker.PayloadOf<S>>>, AssertionFailed, NatsTest> =>
  NatsTest.use((test) =>
    Effect.flatMap(test.sent, (sent) => {
      const matches = NatsSubject.matcher(subject)
      const out: Array<Published<NatsBroker.PayloadOf<S>>> = []
      for (const message of sent) {
        if (!matches(message.subject)) continue
        const decoded = NatsBroker.decodePayload(message.data, message.headers, schema)
        if (Result.isFailure(decoded)) {
          return Effect.fail(
            new AssertionFailed({
              message: `message ${out.length + 1} sent on "${message.subject}" does not decode: ${decoded.failure}`,
              expected: schema === undefined ? "a payload" : "a payload matching the schema",
              actual: new TextDecoder().decode(message.data)
            })
          )
        }
        out.push({ ...message, payload: decoded.success })
      }
      return Effect.succeed(out)
    }))

/**
 * The payloads of `publishedMessages`: what was sent on the subjects
 * `subject` matches, decoded (through `schema` when given).
 *
 * ```ts
 * assert.deepStrictEqual(yield* NatsTest.published("orders.confirmed", Order), [{ id: "o-1", quantity: 2 }])
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const published = <S extends NatsBroker.PayloadSchema | undefined = undefined>(
  subject: string,
  schema?: S
): Effect.Effect<ReadonlyArray<NatsBroker.PayloadOf<S>>, AssertionFailed, NatsTest> =>
  Effect.map(publishedMessages(subject, schema), (messages) => messages.map((message) => message.payload))

// ---------------------------------------------------------------------------
// What the handlers were called with
// ---------------------------------------------------------------------------

const callsOf = (calls: ReadonlyArray<Call>, subscriber: string) =>
  calls.filter((call) => call.subscriber === subscriber || call.declaredSubject === subscriber)

/**
 * The calls of a subscriber, found by its name or its declared subject (with
 * its `{param}` tokens), in the order they ended.
 *
 * ```ts
 * const calls = yield* NatsTest.calls("logs.{level}")
 * assert.deepStrictEqual(calls.map((call) => call.params.level), ["info", "warn"])
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const calls = (subscriber: string): Effect.Effect<ReadonlyArray<Call>, never, NatsTest> =>
  NatsTest.use((test) => Effect.map(test.calls, (all) => callsOf(all, subscriber)))

/** The calls of `subscriber`, failing when no such subscriber was ever started (a typo). */
const knownCalls = (subscriber: string) =>
  NatsTest.use((test) =>
    Effect.flatMap(test.subscribers, (subscribers) => {
      if (!subscribers.some((s) => s.name === subscriber || s.declaredSubject === subscriber)) {
        const names = subscribers.map((s) => s.name === s.declaredSubject ? `"${s.name}"` : `"${s.name}" (${s.declaredSubject})`)
        return Effect.fail(
          new AssertionFailed({
            message: `no subscriber is named or subscribed to "${subscriber}"; the subscribers are: ${names.join(", ") || "none"}`,
            expected: subscriber,
            actual: subscribers.map((s) => s.name)
          })
        )
      }
      return Effect.map(test.calls, (all) => callsOf(all, subscriber))
    }))

/**
 * What a call should have had besides its payload; absent fields are not checked.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExpectedCall {
  readonly params?: Readonly<Record<string, string>> | undefined
  /** Each header given must have this (first) value; others are not checked. */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/**
 * Checks that the subscriber (by name or declared subject) was called exactly
 * once, with `payload` (deep equality), and with `expected`'s params and
 * headers when given: FastStream's `assert_called_once_with`. Returns the
 * call; fails with `AssertionFailed` otherwise.
 *
 * ```ts
 * yield* NatsTest.publish("logs.info", "started")
 * yield* NatsTest.assertCalledOnceWith("logs.{level}", "started", { params: { level: "info" } })
 * ```
 *
 * @since 0.1.0
 * @category assertions
 */
export const assertCalledOnceWith = (
  subscriber: string,
  payload: unknown,
  expected: ExpectedCall = {}
): Effect.Effect<Call, AssertionFailed, NatsTest> =>
  Effect.flatMap(knownCalls(subscriber), (found) => {
    const fail = (message: string, expectedValue: unknown, actual: unknown) =>
      Effect.fail(new AssertionFailed({ message: `"${subscriber}": ${message}`, expected: expectedValue, actual }))
    if (found.length !== 1) {
      return fail(`expected one call, got ${found.length}`, [payload], found.map((call) => call.payload))
    }
    const call = found[0]!
    if (!isDeepStrictEqual(call.payload, payload)) return fail("called with another payload", payload, call.payload)
    if (expected.params !== undefined && !isDeepStrictEqual({ ...call.params }, { ...expected.params })) {
      return fail("called with other params", expected.params, call.params)
    }
    for (const name in expected.headers) {
      const actual = NatsHeaders.get(call.headers, name)
      if (actual !== expected.headers[name]) {
        return fail(`called with another "${name}" header`, expected.headers[name], actual)
      }
    }
    return Effect.succeed(call)
  })

/**
 * Checks that the subscriber (by name or declared subject) exists and was
 * never called. Fails with `AssertionFailed` otherwise.
 *
 * ```ts
 * yield* NatsTest.publish("orders.created", { id: "o-1", quantity: 0 }, { schema: Order })
 * yield* NatsTest.assertNotCalled("orders.confirmed")
 * ```
 *
 * @since 0.1.0
 * @category assertions
 */
export const assertNotCalled = (subscriber: string): Effect.Effect<void, AssertionFailed, NatsTest> =>
  Effect.flatMap(knownCalls(subscriber), (found) =>
    found.length === 0 ? Effect.void : Effect.fail(
      new AssertionFailed({
        message: `"${subscriber}": expected no call, got ${found.length}`,
        expected: [],
        actual: found.map((call) => call.payload)
      })
    ))

/**
 * Forgets the calls and messages recorded so far: for tests sharing one
 * layer.
 *
 * ```ts
 * layer(NatsTest.layer(App))("orders", (it) => {
 *   it.effect("starts clean", () =>
 *     Effect.gen(function*() {
 *       yield* NatsTest.clear
 *       // then the test
 *     }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const clear: Effect.Effect<void, never, NatsTest> = NatsTest.use((test) => test.clear)
