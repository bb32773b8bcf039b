/**
 * `NatsBroker`: FastStream's way of writing NATS services, with handlers as
 * Effects. Publish and request with Schema-encoded payloads; declare
 * subscribers as Layers whose requirements are those of their handlers; run
 * the app with `NatsBroker.launch` (`Layer.launch`, and an end when a
 * subscriber stops for good).
 *
 * ```ts
 * const OrderCreated = NatsBroker.subscriber("orders.created", { schema: Order }, (order) =>
 *   Effect.log(`order ${order.id}`))
 *
 * const App = OrderCreated.pipe(
 *   NatsBroker.afterStartup(NatsBroker.publish("orders.created", order, { schema: Order })),
 *   Layer.provide(NatsBroker.layer),
 *   Layer.provide(NatsClient.layerConfig())
 * )
 * NodeRuntime.runMain(NatsBroker.launch(App))
 * ```
 *
 * Wire conventions are FastStream's (so both can talk to each other):
 * headers `content-type` and `correlation_id` (one is generated when none is
 * given); `Uint8Array` payloads are sent as is, strings as `text/plain`,
 * other values as `application/json` (through their Schema when one is
 * given); received payloads are decoded by content-type, and without one as
 * JSON when it parses, else as bytes. A reply that reports an error carries
 * the header `nats-effect-error: <tag>` and a `text/plain` body: a typed
 * failure's message, or for a defect only `internal error` and the
 * correlation id (its text stays in the responder's log); `request` fails
 * with `RemoteError` for it.
 *
 * JetStream: a subscriber given `options.stream` consumes a durable (or
 * ephemeral) pull consumer with at-least-once processing (ack policies,
 * retries with backoff, dead letters); `publish` with `options.stream` and
 * `publisher(subject, { stream })` publish through JetStream and return the
 * PubAck.
 *
 * Observability: every line logged while a message is handled is annotated
 * with `subject`, `correlation_id` and `subscriber`. When a tracer that
 * records spans is installed (`OtlpTracer.layer`, `NodeSdk`...), publish and
 * request run in producer / client spans and each message is handled in a
 * consumer span, with OpenTelemetry messaging attributes, the trace carried
 * across services by a W3C `traceparent` header. With Effect's built-in
 * tracer no span is made (it would cost more than the rest of the
 * per-message path) and a received `traceparent` is passed on unchanged.
 *
 * Documentation: the broker knows every subscriber, publisher and watcher
 * its app's layer builds; `asyncApi(App, { title, version })` builds the app
 * on the in-memory NATS, running nothing, and returns its AsyncAPI 3.0
 * document.
 *
 * @since 0.1.0
 * @module
 */
import { type Array as Arr, Context, Deferred, Duration, Effect, Layer, Result, type Scope, Semaphore, type Stream, Tracer } from "effect"
import type { DeliverPolicy as ClientDeliverPolicy, Headers, HeadersInput, JetStreamPublishOptions as ClientJetStreamPublishOptions, PubAck, StreamConfig } from "./NatsClient.ts"
import { layerMemory, NatsClient } from "./NatsClient.ts"
import { DecodeError, EncodeError, fromReason, InvalidSubject, type NatsError, RemoteError } from "./NatsError.ts"
import * as NatsHeaders from "./NatsHeaders.ts"
import * as NatsSubject from "./NatsSubject.ts"
import * as NatsMetrics from "./NatsMetrics.ts"
import * as NatsTracing from "./NatsTracing.ts"
import type { JetStreamMessage, Message } from "./NatsMessage.ts"
import { NatsMessage } from "./NatsMessage.ts"
import * as AsyncApi from "./internal/broker/asyncapi.ts"
import * as Codec from "./internal/broker/codec.ts"
import * as Correlation from "./internal/broker/correlation.ts"
import * as JetStreamSubscriber from "./internal/broker/jetstream.ts"
import type * as ObserverEvents from "./internal/broker/observer.ts"
import * as Subject from "./internal/broker/subject.ts"
import * as Loop from "./internal/broker/loop.ts"
import * as Middlewares from "./internal/broker/middleware.ts"
import * as ReplyResponse from "./internal/broker/response.ts"
import * as Subscriber from "./internal/broker/subscriber.ts"
import * as Watcher from "./internal/broker/watcher.ts"
import * as Metrics from "./internal/metrics.ts"

// ---------------------------------------------------------------------------
// Payload types
// ---------------------------------------------------------------------------

/**
 * A Schema for payloads: decoded and encoded synchronously, without
 * services (Structs, Classes, primitives, their transformations...).
 *
 * @since 0.1.0
 * @category models
 */
export type PayloadSchema = Codec.PayloadSchema

/**
 * The payload a handler receives (or `publish` takes): the Schema's type, else any value.
 *
 * @since 0.1.0
 * @category models
 */
export type PayloadOf<S extends PayloadSchema | undefined> = S extends PayloadSchema ? S["Type"] : unknown

/**
 * Decodes a message body as a subscriber does: by its `content-type` header,
 * then through `schema` when given. Fails with why it could not.
 *
 * ```ts
 * NatsBroker.decodePayload(msg.data, msg.headers, Order) // Result<Order, string>
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const decodePayload = <S extends PayloadSchema | undefined = undefined>(
  data: Uint8Array,
  headers: Headers | undefined,
  schema?: S
): Result.Result<PayloadOf<S>, string> => {
  const decoded = Codec.decoderFor(schema)(data, Codec.contentTypeOf(headers))
  return decoded instanceof Codec.DecodeFailure ? Result.fail(decoded.reason) : Result.succeed(decoded as PayloadOf<S>)
}

// ---------------------------------------------------------------------------
// Observer
// ---------------------------------------------------------------------------

/**
 * What a `BrokerObserver` is told: subscriptions, messages received and handled, publishes.
 *
 * @since 0.1.0
 * @category observability
 */
export type Observer = ObserverEvents.Observer
/**
 * A subscriber's subscription is live.
 *
 * @since 0.1.0
 * @category observability
 */
export type SubscribedEvent = ObserverEvents.SubscribedEvent
/**
 * Where a subscriber's messages come from (`SubscribedEvent.source`).
 *
 * @since 0.2.0
 * @category observability
 */
export type SubscriberSource = ObserverEvents.SubscriberSource
/**
 * A subscriber stopped, done with the messages it took.
 *
 * @since 0.2.0
 * @category observability
 */
export type UnsubscribedEvent = ObserverEvents.UnsubscribedEvent
/**
 * A subscriber received a message.
 *
 * @since 0.1.0
 * @category observability
 */
export type ReceivedEvent = ObserverEvents.ReceivedEvent
/**
 * A subscriber's handler finished with a message, with its exit.
 *
 * @since 0.1.0
 * @category observability
 */
export type HandledEvent = ObserverEvents.HandledEvent
/**
 * The broker published a message.
 *
 * @since 0.1.0
 * @category observability
 */
export type PublishedEvent = ObserverEvents.PublishedEvent

/**
 * An observer of what brokers do, for test helpers and instrumentation
 * (default: none). A broker reads it once, when its layer is built, and then
 * reports:
 *
 * - `onSubscribed`: a subscriber is live (its subscription is active), with
 *   where its messages come from and how many it holds at any time;
 * - `onUnsubscribed`: a subscriber stopped, done with what it took;
 * - `onReceived`: a subscriber took a message, before decoding it;
 * - `onHandled`: a subscriber is done with a message: decoded payload,
 *   outcome, and any reply already published;
 * - `onPublished`: a publish, request or reply went out (after the port
 *   accepted it), with the message being handled at the time, if any, as
 *   `parent`, so work can be followed from a message to what its handler
 *   published in turn.
 *
 * Callbacks run in the broker's fibers, in line with the work they report:
 * keep them quick. Without an observer the broker skips all of this.
 *
 * ```ts
 * Layer.provide(NatsBroker.layer, Layer.succeed(NatsBroker.BrokerObserver, observer))
 * ```
 *
 * @since 0.1.0
 * @category observability
 */
export const BrokerObserver = Context.Reference<Observer | undefined>("@nats-effect/core/NatsBroker/BrokerObserver", {
  defaultValue: () => undefined
})

/**
 * Caps the concurrency of every subscriber built where it is set (default: no
 * cap). At 1 each subscriber handles its messages one after the other, in
 * the order they were delivered, whatever its own `concurrency`: for
 * deterministic tests.
 *
 * ```ts
 * App.pipe(Layer.provide(Layer.succeed(NatsBroker.MaxConcurrency, 1)))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export const MaxConcurrency = Context.Reference<number | undefined>("@nats-effect/core/NatsBroker/MaxConcurrency", {
  defaultValue: () => undefined
})

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/**
 * Options of `publish` and of a publisher's `publish` on core NATS.
 *
 * @since 0.1.0
 * @category options
 */
export interface PublishOptions<S extends PayloadSchema | undefined = undefined> {
  /** Encodes the payload (then JSON, unless it encodes to a string or bytes). */
  readonly schema?: S
  readonly headers?: HeadersInput | undefined
  /** Sent as the `correlation_id` header; generated when absent. */
  readonly correlationId?: string | undefined
  /** Where the receiver should reply. */
  readonly replyTo?: string | undefined
}

/**
 * Options of `request`: the schemas of the request and the reply, headers, timeout.
 *
 * @since 0.1.0
 * @category options
 */
export interface RequestOptions<
  S extends PayloadSchema | undefined = undefined,
  Rs extends PayloadSchema | undefined = undefined
> {
  /** Encodes the request's payload. */
  readonly schema?: S
  /** Decodes the reply; a reply it rejects fails the request with `DecodeError`. */
  readonly response?: Rs
  /** Default: the broker's `requestTimeout` (5 seconds). */
  readonly timeout?: Duration.Input | undefined
  readonly headers?: HeadersInput | undefined
  /** Sent as the `correlation_id` header; generated when absent. */
  readonly correlationId?: string | undefined
}

/**
 * Options of a core NATS `subscriber`: its schemas, queue group, reply and description.
 *
 * @since 0.1.0
 * @category options
 */
export interface SubscriberOptions<
  S extends PayloadSchema | undefined = undefined,
  Rs extends PayloadSchema | undefined = undefined,
  P extends PayloadSchema | undefined = undefined
> {
  /** Decodes the payload. Without it the handler gets the default decoding: JSON value, string or bytes. */
  readonly schema?: S
  /** Encodes the handler's reply. Without it the reply gets the default encoding. */
  readonly response?: Rs
  /** A queue group: each message goes to one member of the group. */
  readonly queue?: string | undefined
  /**
   * How many messages are handled at once. Default 1: one after the other, in
   * order. Above 1, messages are handled concurrently, in no particular order.
   */
  readonly concurrency?: number | undefined
  /** The subscriber's name in logs (annotation `subscriber`). Default: the subject. */
  readonly name?: string | undefined
  /** What it does, for the app's AsyncAPI document (`NatsBroker.asyncApi`). */
  readonly description?: string | undefined
  /**
   * Middleware around this subscriber's handler and what it publishes,
   * inside the broker's and its router's (see `middleware`). A subscriber's
   * own needs no services: give those that do to `layerWith` or `router`.
   *
   * @since 0.2.0
   */
  readonly middlewares?: ReadonlyArray<Middleware> | undefined
  /**
   * Never replies, even to a request (the handler's result goes to
   * `publishTo` only): FastStream's `no_reply`.
   *
   * @since 0.2.0
   */
  readonly noReply?: boolean | undefined
  /**
   * Publishes the handler's result there (unless it is `undefined`), besides
   * a reply when one is expected (FastStream's stacked `@publisher`); a
   * failed publish fails the handling. Includes the publisher in the app.
   * The handler's result must then be of its Schema's type.
   */
  readonly publishTo?: Publisher<P, any> | undefined
  /**
   * Bounds the messages received and not yet handled (the handler is done
   * with a message when it has returned and any reply has been sent), as a
   * NATS client bounds a subscription's pending buffer. Core NATS cannot be
   * pushed back: past either limit a message is dropped, counted in
   * `NatsMetrics.droppedMessages` and in a Warn line once per `logInterval`.
   * Default (nats.go's): 65,536 messages, 64 MiB.
   */
  readonly pendingLimits?: {
    readonly messages?: number | undefined
    readonly bytes?: number | undefined
  } | undefined
}

/**
 * A JetStream subscriber's stream: its name, or its name with the
 * configuration to declare it with. A stream is declared when a subscriber
 * bound to it starts: created with the subscriber's subject, or, when it
 * exists, given that subject besides its own (the union of every
 * subscriber's), its other settings kept. `declare: false` only attaches to
 * the stream (created elsewhere, infrastructure as code): the subscriber
 * fails with `StreamNotFound` when there is none.
 *
 * @since 0.1.0
 * @category models
 */
export type StreamOption =
  | string
  | (Omit<StreamConfig, "subjects"> & {
    /** Subjects it captures besides those of its subscribers. */
    readonly subjects?: ReadonlyArray<string> | undefined
    /** Default true. */
    readonly declare?: boolean | undefined
  })

/**
 * What a JetStream subscriber does with a message once its handler is done
 * (FastStream's `AckPolicy`):
 *
 * - `"ackFirst"`: ack when it is received, before the handler (at most once);
 * - `"ack"`: ack after the handler, whatever its outcome;
 * - `"rejectOnError"`: ack on success, terminate on failure (no redelivery);
 * - `"nackOnError"` (default): ack on success, nak on failure (redelivered
 *   after the `backoff` entry for its delivery count; after the last,
 *   `maxDeliver`, delivery: dead letter, when set, and terminate);
 * - `"manual"`: nothing; the handler settles it with the message's `ack`,
 *   `nak`, `term`.
 *
 * A payload that does not decode is terminated under every policy but
 * `"manual"`. What the handler settles itself is not settled again.
 *
 * @since 0.1.0
 * @category models
 */
export type AckPolicy = JetStreamSubscriber.AckPolicy

/**
 * The headers a dead letter carries besides the failed message's own.
 *
 * @since 0.1.0
 * @category constants
 */
export const DeadLetterHeaders = JetStreamSubscriber.DeadLetterHeaders

/**
 * Where a new consumer starts in its stream.
 *
 * @since 0.1.0
 * @category models
 */
export type DeliverPolicy =
  | "all"
  | "new"
  | "last"
  | "lastPerSubject"
  | { readonly startSequence: number }
  | { readonly startTime: Date }

/**
 * Options of a JetStream `subscriber`: the stream, the consumer and its acknowledgement policy.
 *
 * @since 0.1.0
 * @category options
 */
export interface JetStreamSubscriberOptions<
  S extends PayloadSchema | undefined = undefined,
  Rs extends PayloadSchema | undefined = undefined,
  P extends PayloadSchema | undefined = undefined
> extends Omit<SubscriberOptions<S, Rs, P>, "queue" | "pendingLimits"> {
  /** The stream the subscriber consumes from; its subject filters the consumer. */
  readonly stream: StreamOption
  /**
   * The subjects to consume, when not every subject `subject` matches: each a
   * subject within `subject` (wildcards allowed), its `{param}`s read from it
   * as ever. `subscriber("orders.{region}", { stream: "ORDERS", subjects:
   * ["orders.eu", "orders.us"] }, handler)` handles EU and US orders, with
   * `message.params.region`. The consumer filters on all of them (the
   * server's `filter_subjects`) and a declared stream gets them. Several
   * need nats-server 2.10: an older one fails the layer with
   * `FeatureNotSupported` before anything is declared. An empty list, or
   * subjects outside `subject` or overlapping each other, fail it with
   * `InvalidConsumerConfig`.
   *
   * @since 0.2.0
   */
  readonly subjects?: ReadonlyArray<string> | undefined
  /**
   * The consumer's durable name: it keeps its place across restarts and is
   * shared by every process with this name (their messages split between
   * them). Without it, an ephemeral consumer, deleted on shutdown.
   */
  readonly durable?: string | undefined
  /** Where a new consumer starts (default `"all"`). */
  readonly deliverPolicy?: DeliverPolicy | undefined
  /** How long the server waits for an acknowledgement before redelivering (default 30 seconds). */
  readonly ackWait?: Duration.Input | undefined
  /** Deliveries before the server gives up on a message (default unlimited). */
  readonly maxDeliver?: number | undefined
  /**
   * Delays before each redelivery, by delivery count (the last repeats).
   * Needs `maxDeliver` greater than its length; the server's ack wait is
   * then its first entry.
   */
  readonly backoff?: ReadonlyArray<Duration.Input> | undefined
  /** Unacknowledged messages the server lets the consumer have (default: `concurrency`). */
  readonly maxAckPending?: number | undefined
  /** Default: the broker's `ackPolicy`, else `"nackOnError"`. */
  readonly ackPolicy?: AckPolicy | undefined
  /** Where a message goes when its last delivery fails (with its payload, headers and why). */
  readonly deadLetter?: string | undefined
  /**
   * While a handler runs, tell the server every third of the ack wait that it
   * is still working on the message, so that it is not redelivered under it.
   * Default true.
   */
  readonly inProgress?: boolean | undefined
  /** What it does: in the app's AsyncAPI document, and the consumer's description. */
  readonly description?: string | undefined
}

/**
 * A JetStream subscriber whose handler takes its messages in batches
 * (FastStream's `PullSub(batch=True)`): the decoded payloads of up to
 * `batch.size` messages at once, in stream order with one worker. A batch is
 * handed over when it is full or `batch.timeout` after its first message,
 * whichever comes first; a payload that does not decode is left out (and
 * terminated, as for any subscriber), so a batch is never empty. Every
 * message of a batch is then settled by the `ackPolicy` with the batch's
 * outcome (each dead-lettered on its own last delivery). `maxAckPending`
 * defaults to `concurrency` batches. Batches have no replies and no
 * `NatsMessage`: the handler gets the messages beside the payloads.
 *
 * @since 0.1.0
 * @category options
 */
export interface JetStreamBatchSubscriberOptions<S extends PayloadSchema | undefined = undefined>
  extends Omit<JetStreamSubscriberOptions<S>, "response" | "publishTo">
{
  readonly batch: {
    /** The most messages in a batch (a positive integer). */
    readonly size: number
    /** The longest a batch waits to fill, from its first message. */
    readonly timeout: Duration.Input
  }
}

/**
 * Options of `publish` through JetStream: the stream and the publish expectations.
 *
 * @since 0.1.0
 * @category options
 */
export interface JetStreamPublishOptions<S extends PayloadSchema | undefined = undefined>
  extends Omit<PublishOptions<S>, "replyTo">
{
  /**
   * Publishes through JetStream, returning the `PubAck` of the stream that
   * stored it (FastStream's `stream=`); to fail when another stream would
   * store it, set `expect.stream`.
   */
  readonly stream: string
  /** `Nats-Msg-Id`: a second message with it within the stream's duplicate window is not stored. */
  readonly msgId?: string | undefined
  /**
   * The stream, its last sequence, its subject's last sequence, its last
   * message id: when not as expected the publish fails with
   * `WrongLastSequence` (sequences) or `ExpectationFailed`.
   */
  readonly expect?: ClientJetStreamPublishOptions["expect"]
  /**
   * How long the stream keeps the message (`Nats-TTL`, at least 1 second):
   * the stream must allow it (`allowMsgTtl`). Needs nats-server 2.11, else
   * `FeatureNotSupported` before anything is sent.
   *
   * @since 0.2.0
   */
  readonly ttl?: Duration.Input | undefined
  /** Default 5 seconds. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Options of the broker, given to `layerWith`.
 *
 * @since 0.1.0
 * @category options
 */
export interface NatsBrokerOptions<R = never> {
  /**
   * Middleware around every handler and every message sent (see
   * `middleware`), outermost first; the broker's wraps a router's, which
   * wraps a subscriber's. Their requirements are the broker layer's.
   *
   * @since 0.2.0
   */
  readonly middlewares?: ReadonlyArray<Middleware<R>> | undefined
  /** The default `ackPolicy` of JetStream subscribers. Default `"nackOnError"`. */
  readonly ackPolicy?: AckPolicy | undefined
  /**
   * On shutdown, how long to wait for handlers in flight before interrupting
   * them. Default 10 seconds.
   */
  readonly gracefulTimeout?: Duration.Input | undefined
  /** Default timeout of `request`. Default 5 seconds. */
  readonly requestTimeout?: Duration.Input | undefined
  /**
   * How often a subscriber logs the count of the messages it dropped past
   * its pending limits, and of those it could not decode past the first few
   * it logs in full. Default 10 seconds.
   */
  readonly logInterval?: Duration.Input | undefined
}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/**
 * The broker: runs the subscribers an application's layers declare and publishes for them.
 *
 * @since 0.1.0
 * @category services
 */
export class NatsBroker extends Context.Service<NatsBroker, {
  readonly publishJetStream: (
    subject: string,
    payload: unknown,
    options: JetStreamPublishOptions<PayloadSchema | undefined>
  ) => Effect.Effect<PubAck, NatsError>
  readonly publish: (
    subject: string,
    payload: unknown,
    options?: PublishOptions<PayloadSchema | undefined>
  ) => Effect.Effect<void, NatsError>
  readonly request: (
    subject: string,
    payload: unknown,
    options?: RequestOptions<PayloadSchema | undefined, PayloadSchema | undefined>
  ) => Effect.Effect<unknown, NatsError>
  /**
   * `request`, with the reply's headers and subject besides its decoded data.
   *
   * @since 0.2.0
   */
  readonly requestMessage: (
    subject: string,
    payload: unknown,
    options?: RequestOptions<PayloadSchema | undefined, PayloadSchema | undefined>
  ) => Effect.Effect<ReplyMessage<unknown>, NatsError>
  /**
   * Declares an endpoint of the app (a subscriber, publisher, watcher, an
   * RPC) for as long as the current scope lasts: what `asyncApi` documents.
   * The broker's own constructors declare theirs.
   *
   * @since 0.2.0
   */
  readonly register: (endpoint: Endpoint) => Effect.Effect<void, never, Scope.Scope>
  /**
   * The endpoints declared so far and not released.
   *
   * @since 0.2.0
   */
  readonly endpoints: Effect.Effect<ReadonlyArray<Endpoint>>
}>()("@nats-effect/core/NatsBroker") {}

/**
 * What a broker made by `layer` keeps for its subscribers, out of its
 * service's type: the client, timeouts, observer, default ack policy, and
 * the lock of its stream declarations.
 */
interface Runtime extends JetStreamSubscriber.JetStreamRuntime {
  readonly ackPolicy: AckPolicy
  /** The broker's middleware, with the context it runs in. */
  readonly chain: Middlewares.Chain
}

const runtimes = new WeakMap<NatsBroker["Service"], Runtime>()

/** The runtime of a broker `layer` made; another `NatsBroker` service cannot run subscribers. */
const runtimeOf = (broker: NatsBroker["Service"]): Effect.Effect<Runtime> => {
  const runtime = runtimes.get(broker)
  return runtime === undefined
    ? Effect.die(new Error("this NatsBroker was not made by NatsBroker.layer or layerWith: it cannot run subscribers"))
    : Effect.succeed(runtime)
}

/**
 * Headers of an outgoing message: ours first, the caller's over them, an
 * explicit correlation id last; without one, that of the message being
 * handled (`inherited`), so that a message and what its handler publishes
 * share one, else a new one.
 */
const outgoingHeaders = (
  contentType: string | undefined,
  options: { readonly headers?: HeadersInput | undefined; readonly correlationId?: string | undefined } | undefined,
  traceparent: string | undefined,
  inherited: string | undefined
): { readonly headers: Record<string, string | ReadonlyArray<string>>; readonly correlationId: string } => {
  const headers: Record<string, string | ReadonlyArray<string>> = {}
  if (contentType !== undefined) headers[Codec.ContentTypeHeader] = contentType
  if (traceparent !== undefined) headers[Codec.TraceparentHeader] = traceparent
  if (options?.headers !== undefined) Object.assign(headers, options.headers)
  const given = options?.correlationId ?? headers[Codec.CorrelationIdHeader] ?? inherited
  const correlationId = given === undefined ? Correlation.next() : typeof given === "string" ? given : given[0]!
  headers[Codec.CorrelationIdHeader] = correlationId
  return { headers, correlationId }
}

/** The series a broker updates for what it sends to one subject by one operation. */
interface SentSeries {
  readonly messages: Metrics.CounterCell
  readonly bytes: Metrics.CounterCell
  readonly duration: Metrics.HistogramCell
}

/** Distinct subjects a broker keeps series for; beyond them, one series without the subject. */
const maxSentSeries = 1000
/** Not a subject (a space): the key of the series of the subjects beyond `maxSentSeries`. */
const otherSubjects = " other"

const encodeFailure = (subject: string, reason: string): NatsError =>
  fromReason(new EncodeError({ subject, message: `the payload for "${subject}" ${reason}` }))

const make = Effect.fnUntraced(function*<R>(options: NatsBrokerOptions<R>) {
  const client = yield* NatsClient
  const observer = yield* BrokerObserver
  const gracefulTimeout = Duration.fromInputUnsafe(options.gracefulTimeout ?? "10 seconds")
  const requestTimeout = Duration.fromInputUnsafe(options.requestTimeout ?? "5 seconds")
  const logInterval = Duration.fromInputUnsafe(options.logInterval ?? "10 seconds")
  const ackPolicy = options.ackPolicy ?? "nackOnError"
  const declarations = yield* Semaphore.make(1)

  const observePublished = (
    kind: "publish" | "request",
    subject: string,
    payload: unknown,
    data: Uint8Array,
    headers: HeadersInput,
    correlationId: string,
    reply: string | undefined
  ): Effect.Effect<void> =>
    Effect.flatMap(Effect.serviceOption(NatsMessage), (parent) =>
      observer!.onPublished!({
        kind,
        subject,
        payload,
        data,
        headers: NatsHeaders.fromInput(headers),
        correlationId,
        reply,
        parent: parent._tag === "Some" ? parent.value : undefined
      }))

  // As for subscribers: spans are made when a tracer that records them is
  // installed. Without one, the trace context of the message being handled
  // (if any) is passed on unchanged, so a trace goes through this service.
  const tracing = yield* NatsTracing.isRecording

  const brokerChain = yield* Middlewares.chainOf(options.middlewares)

  /**
   * Runs `send` with what the message needs of where it is sent from: the
   * outgoing `traceparent` (in a span of its own when tracing), the message
   * being handled, and the middleware its publish goes through.
   */
  const withSendContext = <A>(
    name: () => string,
    kind: Tracer.SpanKind,
    attributes: () => Record<string, unknown>,
    send: (sending: {
      readonly traceparent: string | undefined
      readonly span: Tracer.Span | undefined
      readonly handled: Message | undefined
      readonly chain: Middlewares.Chain
    }) => Effect.Effect<A, NatsError>
  ): Effect.Effect<A, NatsError> => {
    const sendIn = (context: Context.Context<never>, span: Tracer.Span | undefined) => {
      const handled = Context.getOrUndefined(context, NatsMessage)
      const current = Context.get(context, Middlewares.CurrentChain)
      return send({
        traceparent: span !== undefined
          ? NatsTracing.formatTraceparent(span)
          : handled === undefined
          ? undefined
          : NatsHeaders.get(handled.headers, Codec.TraceparentHeader),
        span,
        handled,
        chain: current.length === 0 ? brokerChain : [...brokerChain, ...current]
      })
    }
    return tracing
      ? Effect.useSpan(
        name(),
        { kind, attributes: attributes() },
        (span) => Effect.contextWith((context: Context.Context<never>) => sendIn(context, span))
      )
      : Effect.contextWith((context: Context.Context<never>) => sendIn(context, undefined))
  }

  /** The headers of a message as the middleware leaves them. */
  const throughMiddleware = (
    chain: Middlewares.Chain,
    subject: string,
    headers: Record<string, string | ReadonlyArray<string>>
  ): Effect.Effect<HeadersInput> =>
    chain.length === 0 ? Effect.succeed(headers) : Effect.map(Middlewares.publish(chain, { subject, headers }), (out) => out.headers)

  // The series of what is sent, built once per subject and operation in the
  // registry the broker is built with. Subjects can carry ids (`orders.123`):
  // past `maxSentSeries` of them, the others share one series without
  // `messaging.destination.name`.
  const metricsContext = yield* Effect.context<never>()
  const sentSeries = new Map<string, SentSeries>()
  const sentSeriesOf = (subject: string, operation: "publish" | "request"): SentSeries => {
    const key = `${operation} ${subject}`
    let series = sentSeries.get(key)
    if (series === undefined) {
      if (sentSeries.size >= maxSentSeries && subject !== otherSubjects) return sentSeriesOf(otherSubjects, operation)
      const attributes = NatsMetrics.sentAttributes(subject, operation)
      if (subject === otherSubjects) delete attributes[NatsMetrics.DestinationAttribute]
      series = {
        messages: Metrics.counterCell(NatsMetrics.sentMessages(attributes), metricsContext),
        bytes: Metrics.counterCell(NatsMetrics.sentBytes(attributes), metricsContext),
        duration: Metrics.histogramCell(NatsMetrics.operationDuration(attributes), metricsContext)
      }
      sentSeries.set(key, series)
    }
    return series
  }

  /** Counts a message about to be sent (OpenTelemetry counts attempts); `timed`, records how long `sent` took. */
  const measureSent = <A>(
    subject: string,
    operation: "publish" | "request",
    size: number,
    timed: boolean,
    sent: Effect.Effect<A, NatsError>
  ): Effect.Effect<A, NatsError> => {
    const series = sentSeriesOf(subject, operation)
    series.messages.count++
    series.bytes.count += size
    if (!timed) return sent
    const start = performance.now()
    return Effect.map(sent, (result) => {
      series.duration.observe((performance.now() - start) / 1000)
      return result
    })
  }

  /**
   * Encodes a payload and sends it in a `publish <subject>` producer span with
   * the outgoing headers: what core and JetStream publishes share.
   */
  const encodeAndSend = <A>(
    subject: string,
    payload: unknown,
    options: PublishOptions<PayloadSchema | undefined> | undefined,
    reply: string | undefined,
    /** Whether `send` waits for an answer (a JetStream ack), so its duration is recorded. */
    timed: boolean,
    send: (data: Uint8Array, headers: HeadersInput) => Effect.Effect<A, NatsError>
  ): Effect.Effect<A, NatsError> => {
    const encoded = Codec.encoderFor(options?.schema)(payload)
    if (Result.isFailure(encoded)) return Effect.fail(encodeFailure(subject, encoded.failure))
    const { contentType, data } = encoded.success
    return withSendContext(() => `publish ${subject}`, "producer", () => ({
      "messaging.system": "nats",
      "messaging.operation.type": "publish",
      "messaging.destination.name": subject,
      "messaging.message.body.size": data.length
    }), ({ chain, handled, span, traceparent }) => {
      const { correlationId, headers } = outgoingHeaders(contentType, options, traceparent, handled?.correlationId)
      span?.attribute("messaging.message.conversation_id", correlationId)
      return Effect.flatMap(throughMiddleware(chain, subject, headers), (headers) => {
        const sent = measureSent(subject, "publish", data.length, timed, send(data, headers))
        return observer?.onPublished === undefined
          ? sent
          : Effect.tap(sent, () => observePublished("publish", subject, payload, data, headers, correlationId, reply))
      })
    })
  }

  const publish = (
    subject: string,
    payload: unknown,
    options?: PublishOptions<PayloadSchema | undefined>
  ): Effect.Effect<void, NatsError> =>
    encodeAndSend(subject, payload, options, options?.replyTo, false, (data, headers) =>
      client.publish(subject, data, { headers, reply: options?.replyTo }))

  const publishJetStream = (
    subject: string,
    payload: unknown,
    options: JetStreamPublishOptions<PayloadSchema | undefined>
  ): Effect.Effect<PubAck, NatsError> =>
    encodeAndSend(subject, payload, options, undefined, true, (data, headers) =>
      client.jetstream.publish(subject, data, {
        headers,
        msgId: options.msgId,
        expect: options.expect,
        ttl: options.ttl,
        timeout: options.timeout
      }))

  const requestMessage = (
    subject: string,
    payload: unknown,
    options?: RequestOptions<PayloadSchema | undefined, PayloadSchema | undefined>
  ): Effect.Effect<ReplyMessage<unknown>, NatsError> => {
    const encoded = Codec.encoderFor(options?.schema)(payload)
    if (Result.isFailure(encoded)) return Effect.fail(encodeFailure(subject, encoded.failure))
    const { contentType, data } = encoded.success
    const decodeReply = Codec.decoderFor(options?.response)
    return withSendContext(() => `request ${subject}`, "client", () => ({
      "messaging.system": "nats",
      "messaging.operation.type": "publish",
      "messaging.operation.name": "request",
      "messaging.destination.name": subject,
      "messaging.message.body.size": data.length
    }), ({ chain, handled, span, traceparent }) => {
      const { correlationId, headers } = outgoingHeaders(contentType, options, traceparent, handled?.correlationId)
      span?.attribute("messaging.message.conversation_id", correlationId)
      return Effect.flatMap(throughMiddleware(chain, subject, headers), (headers) => {
        const sent = measureSent(
          subject,
          "request",
          data.length,
          true,
          client.request(subject, data, { headers, timeout: options?.timeout ?? requestTimeout })
        )
        const observed = observer?.onPublished === undefined ? sent : Effect.tap(
          sent,
          () => observePublished("request", subject, payload, data, headers, correlationId, undefined)
        )
        return Effect.flatMap(observed, (reply) => {
          const error = NatsHeaders.get(reply.headers, Codec.ErrorHeader)
          if (error !== undefined) {
            return Effect.fail(fromReason(new RemoteError({ subject, error, message: Codec.utf8(reply.data) })))
          }
          const decoded = decodeReply(reply.data, Codec.contentTypeOf(reply.headers))
          return decoded instanceof Codec.DecodeFailure
            ? Effect.fail(fromReason(new DecodeError({ subject, message: `the reply to "${subject}": ${decoded.reason}` })))
            : Effect.succeed({ data: decoded, headers: reply.headers ?? {}, subject: reply.subject })
        })
      })
    })
  }

  const endpoints: Array<AsyncApi.Endpoint> = []
  const broker = NatsBroker.of({
    publishJetStream,
    publish,
    request: (subject, payload, options) => Effect.map(requestMessage(subject, payload, options), (reply) => reply.data),
    requestMessage,
    register: (endpoint) =>
      Effect.andThen(
        Effect.sync(() => endpoints.push(endpoint)),
        Effect.addFinalizer(() => Effect.sync(() => endpoints.splice(endpoints.indexOf(endpoint), 1)))
      ),
    endpoints: Effect.sync(() => endpoints.slice())
  })
  runtimes.set(broker, { client, gracefulTimeout, logInterval, observer, ackPolicy, declarations, chain: brokerChain })
  return broker
})

/**
 * The broker with default options. Needs a `NatsClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<NatsBroker, never, NatsClient> = Layer.effect(NatsBroker, make({}))

/**
 * The broker with options (graceful shutdown timeout, default request timeout, log interval, default ack policy).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = <R = never>(options: NatsBrokerOptions<R>): Layer.Layer<NatsBroker, never, NatsClient | R> =>
  Layer.effect(NatsBroker, make(options))

// ---------------------------------------------------------------------------
// Middleware, routers, responses
// ---------------------------------------------------------------------------

/**
 * A middleware (see `middleware`): around handlers (`handle`) and messages
 * sent (`publish`), needing the services `R`.
 *
 * @since 0.2.0
 * @category middleware
 */
export type Middleware<R = never> = Middlewares.Middleware<R>

/**
 * A message about to be sent, as a middleware's `publish` sees it: its
 * subject and headers.
 *
 * @since 0.2.0
 * @category middleware
 */
export type Outgoing = Middlewares.Outgoing

/**
 * A middleware (FastStream's `BaseMiddleware` and `ExceptionMiddleware`):
 *
 * - `handle` wraps a handler's Effect for one message (a batch's: for its
 *   first message): it can read `NatsMessage`, provide services to the
 *   handler, catch its errors and turn them into a reply value (a request's
 *   answer) or, on JetStream, settle the message itself (`ack`,
 *   `nak(delay)`, `term` of the `JetStreamMessage`: the ack policy then
 *   leaves it alone);
 * - `publish` wraps every message sent (by `publish`, `request`, publishers
 *   and `publishTo`): it can add or change headers.
 *
 * Given as `middlewares` to `layerWith`, to `router` and to a subscriber;
 * applied broker → router → subscriber, outermost first. A value a handler
 * needs per message (a tenant) is best a `Context.Reference` the middleware
 * provides.
 *
 * ```ts
 * const Tenant = Context.Reference<string>("app/Tenant", { defaultValue: () => "none" })
 *
 * const TenantFromHeader = NatsBroker.middleware({
 *   handle: (handled, message) => Effect.provideService(handled, Tenant, NatsHeaders.get(message.headers, "x-tenant") ?? "none"),
 *   publish: (outgoing) =>
 *     Effect.gen(function*() {
 *       // A tenant already on the message (a client's) is kept.
 *       return { ...outgoing, headers: { "x-tenant": yield* Tenant, ...outgoing.headers } }
 *     })
 * })
 * ```
 *
 * @since 0.2.0
 * @category middleware
 */
export const middleware = <R = never>(options: Middleware<R>): Middleware<Exclude<R, NatsMessage>> =>
  // The message being handled is in the context of a `handle`.
  options as Middleware<Exclude<R, NatsMessage>>

/**
 * Options of a `router`: its subject prefix (empty, or ending with a dot)
 * and its middleware.
 *
 * @since 0.2.0
 * @category middleware
 */
export interface RouterOptions<R = never> {
  readonly prefix: string
  readonly middlewares?: ReadonlyArray<Middleware<R>> | undefined
}

/**
 * A group of subscribers and publishers (FastStream's `NatsRouter`): a
 * function from an app layer to an app layer, as `afterStartup`, that puts
 * every subscriber and publisher built inside it under `prefix` (a
 * subscriber on `created` in `router({ prefix: "orders." })` listens on
 * `orders.created`; a publisher's messages go to its subject under the
 * prefix of the router whose handler publishes them) with its middleware
 * around theirs. Routers nest: prefixes add up, middleware wraps. The app's
 * AsyncAPI document shows the full subjects. A prefix that is not empty and
 * does not end with a dot fails the layer with `InvalidSubject`.
 *
 * ```ts
 * const Orders = Layer.mergeAll(Created, Cancelled).pipe(NatsBroker.router({ prefix: "orders.", middlewares: [Audit] }))
 * ```
 *
 * @since 0.2.0
 * @category middleware
 */
export const router = <R = never>(options: RouterOptions<R>) =>
<ROut, E, RIn>(app: Layer.Layer<ROut, E, RIn>): Layer.Layer<ROut, E | NatsError, RIn | R> =>
  Layer.unwrap(Effect.gen(function*() {
    const { prefix } = options
    const problem = prefix === "" ? undefined : prefix.endsWith(".")
      ? NatsSubject.publishProblem(`${prefix}x`)
      : "a router's prefix is empty or ends with a dot"
    if (problem !== undefined) return yield* Effect.fail(fromReason(new InvalidSubject({ subject: prefix, message: problem })))
    const outer = yield* Middlewares.CurrentRoute
    const chain = yield* Middlewares.chainOf(options.middlewares)
    return Layer.provide(app, Layer.succeed(Middlewares.CurrentRoute, {
      prefix: outer.prefix + prefix,
      chain: [...outer.chain, ...chain]
    }))
  }))

/**
 * A handler's reply with headers (FastStream's `Response`): the body is
 * encoded by the subscriber's `response` Schema as any result is, the
 * headers go on the reply, and a `correlationId` replaces the request's.
 * `publishTo` publishes the body.
 *
 * @since 0.2.0
 * @category models
 */
export type Response<A> = ReplyResponse.Response<A>

/**
 * Makes a `Response`.
 *
 * ```ts
 * NatsBroker.subscriber("prices.quote", { schema: Schema.String, response: Quote }, (symbol) =>
 *   Effect.map(quote(symbol), (price) => NatsBroker.Response.make(price, { headers: { "x-cache": "miss" } })))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const Response = {
  make: <A>(
    body: A,
    options: { readonly headers?: HeadersInput | undefined; readonly correlationId?: string | undefined } = {}
  ): Response<A> => new ReplyResponse.Response(body, options)
}

// ---------------------------------------------------------------------------
// Publishing
// ---------------------------------------------------------------------------

/**
 * Publishes `payload` to `subject`: bytes as is, a string as `text/plain`,
 * anything else as JSON, through `options.schema` when given. Fails with
 * `EncodeError` when the payload cannot be encoded.
 *
 * With `options.stream`, publishes through JetStream and returns the
 * `PubAck` (`stream`, `seq`, `duplicate`): `msgId` de-duplicates within the
 * stream's duplicate window, `expect` fails the publish with
 * `WrongLastSequence` when the stream's (or the subject's) last sequence is
 * not the one expected, `ttl` makes the stream drop the message after it
 * (nats-server 2.11, on a stream with `allowMsgTtl`), and a subject the
 * stream does not capture fails.
 *
 * @since 0.1.0
 * @category combinators
 */
export const publish: {
  <S extends PayloadSchema | undefined = undefined>(
    subject: string,
    payload: PayloadOf<S>,
    options: JetStreamPublishOptions<S>
  ): Effect.Effect<PubAck, NatsError, NatsBroker>
  <S extends PayloadSchema | undefined = undefined>(
    subject: string,
    payload: PayloadOf<S>,
    options?: PublishOptions<S>
  ): Effect.Effect<void, NatsError, NatsBroker>
} = (
  subject: string,
  payload: unknown,
  options?: PublishOptions<PayloadSchema | undefined> | JetStreamPublishOptions<PayloadSchema | undefined>
): Effect.Effect<any, NatsError, NatsBroker> =>
  NatsBroker.use((broker) =>
    options !== undefined && "stream" in options && options.stream !== undefined
      ? broker.publishJetStream(subject, payload, options)
      : broker.publish(subject, payload, options as PublishOptions<PayloadSchema | undefined> | undefined)
  )

/**
 * The reply `request` returns: the `response` Schema's type, else the default decoding.
 *
 * @since 0.1.0
 * @category models
 */
export type ReplyOf<Rs extends PayloadSchema | undefined> = Rs extends PayloadSchema ? Rs["Type"] : unknown

/**
 * Sends a request and waits for the reply, decoded by `options.response`
 * (else by content-type). Fails with `NoResponders` when nobody listens on
 * `subject`, `TimeoutError` when no reply comes in time, `RemoteError` when
 * the responder answers with an error, `DecodeError` when the reply does not
 * match `response`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const request = <
  S extends PayloadSchema | undefined = undefined,
  Rs extends PayloadSchema | undefined = undefined
>(
  subject: string,
  payload: PayloadOf<S>,
  options?: RequestOptions<S, Rs>
): Effect.Effect<ReplyOf<Rs>, NatsError, NatsBroker> =>
  NatsBroker.use((broker) => broker.request(subject, payload, options) as Effect.Effect<ReplyOf<Rs>, NatsError>)

/**
 * A reply as `requestMessage` returns it: its data decoded by the request's
 * `response` Schema (or the default decoding), its headers and its subject.
 *
 * @since 0.2.0
 * @category models
 */
export interface ReplyMessage<A> {
  readonly data: A
  readonly headers: Headers
  readonly subject: string
}

/**
 * `request`, with the reply's headers (those a handler's `Response` set, its
 * correlation id) and subject besides its decoded data.
 *
 * ```ts
 * const reply = yield* NatsBroker.requestMessage("prices.quote", "ACME", { response: Quote })
 * const cached = NatsHeaders.get(reply.headers, "x-cache")
 * ```
 *
 * @since 0.2.0
 * @category combinators
 */
export const requestMessage = <
  S extends PayloadSchema | undefined = undefined,
  Rs extends PayloadSchema | undefined = undefined
>(
  subject: string,
  payload: PayloadOf<S>,
  options?: RequestOptions<S, Rs>
): Effect.Effect<ReplyMessage<ReplyOf<Rs>>, NatsError, NatsBroker> =>
  NatsBroker.use((broker) =>
    broker.requestMessage(subject, payload, options) as Effect.Effect<ReplyMessage<ReplyOf<Rs>>, NatsError>
  )

/**
 * A publisher's defaults: its Schema, its stream (publishing through JetStream), its headers.
 *
 * @since 0.1.0
 * @category options
 */
export interface PublisherOptions<S extends PayloadSchema | undefined = undefined, St extends StreamOption | undefined = undefined> {
  readonly schema?: S
  /**
   * Publish through JetStream to this stream, returning the PubAck. Its
   * subject counts towards the stream's declaration once the app includes
   * the publisher (`publisher.layer`, or a subscriber's `publishTo`).
   */
  readonly stream?: St
  /**
   * With `stream`: the TTL of every message it publishes, unless a publish
   * gives its own (see `JetStreamPublishOptions.ttl`).
   *
   * @since 0.2.0
   */
  readonly ttl?: Duration.Input | undefined
  /** Sent with every message, under the headers given to a publish. */
  readonly headers?: HeadersInput | undefined
  /** What it publishes, for the app's AsyncAPI document (`NatsBroker.asyncApi`). */
  readonly description?: string | undefined
}

/**
 * What a publisher's `publish` returns: the PubAck through JetStream, else nothing.
 *
 * @since 0.1.0
 * @category models
 */
export type PublishResult<St extends StreamOption | undefined> = St extends StreamOption ? PubAck : void

/**
 * A subject to publish to, with its Schema, stream and headers, as a value
 * (FastStream's `broker.publisher`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Publisher<S extends PayloadSchema | undefined = undefined, St extends StreamOption | undefined = undefined> {
  readonly subject: string
  readonly options: PublisherOptions<S, St>
  readonly publish: (
    payload: PayloadOf<S>,
    options?: Omit<PublishOptions<S>, "schema"> & Omit<Partial<JetStreamPublishOptions<S>>, "schema" | "stream">
  ) => Effect.Effect<PublishResult<St>, NatsError, NatsBroker>
  readonly request: <Rs extends PayloadSchema | undefined = undefined>(
    payload: PayloadOf<S>,
    options?: Omit<RequestOptions<S, Rs>, "schema">
  ) => Effect.Effect<ReplyOf<Rs>, NatsError, NatsBroker>
  /**
   * Includes the publisher in the app: declares its subject in its stream
   * (created, or added to the stream's subjects) when built, and makes it
   * part of the app's AsyncAPI document.
   */
  readonly layer: Layer.Layer<never, NatsError, NatsBroker>
}

/**
 * A publisher for `subject`, made without an Effect: `publish` and `request`
 * take payloads of its Schema's type, with its headers under those given;
 * with `stream`, `publish` goes through JetStream and returns the PubAck.
 *
 * ```ts
 * const Shipments = NatsBroker.publisher("shipments.created", { schema: Shipment, stream: "SHIPMENTS" })
 * yield* Shipments.publish({ id: "s-1" }) // PubAck
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const publisher = <
  S extends PayloadSchema | undefined = undefined,
  St extends StreamOption | undefined = undefined
>(subject: string, options: PublisherOptions<S, St> = {}): Publisher<S, St> => {
  const stream = options.stream === undefined ? undefined : streamSpec(options.stream)
  const headersWith = (given: HeadersInput | undefined): HeadersInput | undefined =>
    options.headers === undefined ? given : given === undefined ? options.headers : { ...options.headers, ...given }
  // Under the prefix of the router it is used in (or built in).
  const routed = Effect.gen(function*() {
    const route = yield* Middlewares.CurrentRoute
    return [yield* NatsBroker, route.prefix + subject] as const
  })
  return {
    subject,
    options,
    publish: (payload, publishOptions) =>
      Effect.flatMap(routed, ([broker, subject]) => {
        const headers = headersWith(publishOptions?.headers)
        return stream === undefined
          ? broker.publish(subject, payload, { ...publishOptions, schema: options.schema, headers })
          : broker.publishJetStream(subject, payload, {
            ttl: options.ttl,
            ...publishOptions,
            schema: options.schema,
            headers,
            stream: stream.name
          })
      }) as Effect.Effect<any, NatsError, NatsBroker>,
    request: (payload, requestOptions) =>
      Effect.flatMap(routed, ([broker, subject]) =>
        broker.request(subject, payload, {
          ...requestOptions,
          schema: options.schema,
          headers: headersWith(requestOptions?.headers)
        })
      ) as Effect.Effect<any, NatsError, NatsBroker>,
    layer: Layer.effectDiscard(Effect.gen(function*() {
      const [broker, subject] = yield* routed
      yield* broker.register({
        action: "send",
        name: subject,
        address: subject,
        description: options.description,
        schema: options.schema,
        contentType: undefined,
        response: undefined,
        queue: undefined,
        correlated: true,
        extensions: stream === undefined ? {} : { "x-nats-jetstream": { stream: stream.name } }
      })
      if (stream !== undefined && !(yield* AsyncApi.Documenting)) {
        yield* JetStreamSubscriber.declareStream(yield* runtimeOf(broker), stream, [subject])
      }
    }))
  }
}

// ---------------------------------------------------------------------------
// Subscribers
// ---------------------------------------------------------------------------

/**
 * A subscriber, as a Layer: it subscribes to `subject` when the layer is
 * built (the subscription is live once the layer is) and handles each message
 * with `handler`, given the decoded payload and the message (also available
 * as the `NatsMessage` service anywhere in the handler). The layer requires
 * what the handler requires, besides `NatsMessage`.
 *
 * `subject` takes the wildcards `*` and `>` and `{param}` tokens:
 * `logs.{level}` subscribes to `logs.*` and gives `{ level: "info" }` as
 * `message.params` for `logs.info`.
 *
 * When the message has a reply subject, the handler's result is sent there
 * (encoded by `options.response`, else by the default encoding; an empty
 * message for `void`). A payload that cannot be decoded is logged (Warn: the
 * first few in full, then their count once per `logInterval`) and the
 * handler is not called; a handler's typed failure is logged (Warn) as one
 * line with its tag and message, a defect (Error) with its cause and stack.
 * Either way, a requester gets an error reply (the failure's tag and message;
 * for a defect, `internal error` and the correlation id), and the subscriber
 * goes on with the next message.
 *
 * Messages received faster than they are handled wait in a buffer bounded
 * by `options.pendingLimits`; past it they are dropped and reported.
 *
 * Once the subscription is live the subscriber logs one line (Info):
 * `listening on <subject>`, then ` in queue group "<queue>"` when it has one
 * and ` as "<name>"` unless its name is that subject:
 * `listening on jobs.* in queue group "workers" as "jobs.{kind}"`.
 *
 * On shutdown the subscriber stops taking messages, waits up to the broker's
 * `gracefulTimeout` for the handlers in flight, then interrupts them. An
 * invalid subject, concurrency or pending limit is a defect when the layer
 * is built.
 *
 * The layer fails with the `NatsError` of a subscription the server refuses
 * (a permissions violation, for one), so the app does not start without it.
 * A subscription that fails later (its permission revoked, its connection
 * closed for good) stops the subscriber for good: it is logged (Error), and
 * under `NatsBroker.launch` the app ends with the reason.
 *
 * With `options.stream` it is a JetStream subscriber: a pull consumer
 * (durable with `options.durable`, else ephemeral) on that stream, filtered
 * by `subject` (or by `options.subjects`, each within it), declared when the
 * layer is built (see `StreamOption`) with
 * the options as given; options the server would refuse or silently change
 * fail the layer with `InvalidConsumerConfig` before anything is created.
 * It never holds more unacknowledged messages than its `concurrency`
 * (`maxAckPending` defaults to it). The handler gets a `JetStreamMessage`
 * (`ack`, `nak`, `term`, `inProgress`, `stream`, `sequence`,
 * `deliveryCount`...); after it, the message is settled by the `ackPolicy`;
 * while it runs, progress is reported to the server (`inProgress`). When
 * the last delivery (`maxDeliver`) fails, or any under `"rejectOnError"`,
 * the message goes to `deadLetter` when set (stored when a stream captures
 * that subject), with its payload, its headers and the
 * `nats-effect-dead-letter-subject`, `-stream`, `-sequence`,
 * `-delivery-count`, `-error-tag`, `-error-message` headers, then is
 * terminated. On shutdown it stops pulling, lets the handlers in flight
 * finish (within `gracefulTimeout`), naks what it pulled and did not start,
 * and flushes, so that acknowledgements reach the server before the
 * connection closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const subscriber: {
  <S extends PayloadSchema | undefined = undefined, E = never, R = never>(
    subject: string,
    options: JetStreamBatchSubscriberOptions<S>,
    handler: (
      payloads: Arr.NonEmptyReadonlyArray<PayloadOf<S>>,
      messages: Arr.NonEmptyReadonlyArray<JetStreamMessage>
    ) => Effect.Effect<void, E, R>
  ): Layer.Layer<never, NatsError, NatsBroker | R>
  <
    S extends PayloadSchema | undefined = undefined,
    Rs extends PayloadSchema | undefined = undefined,
    P extends PayloadSchema | undefined = undefined,
    E = never,
    R = never
  >(
    subject: string,
    options: JetStreamSubscriberOptions<S, Rs, P>,
    handler: (payload: PayloadOf<S>, message: JetStreamMessage) => Effect.Effect<HandlerResult<Rs, P>, E, R>
  ): Layer.Layer<never, NatsError, NatsBroker | Exclude<R, NatsMessage>>
  <
    S extends PayloadSchema | undefined = undefined,
    Rs extends PayloadSchema | undefined = undefined,
    P extends PayloadSchema | undefined = undefined,
    E = never,
    R = never
  >(
    subject: string,
    options: SubscriberOptions<S, Rs, P>,
    handler: (payload: PayloadOf<S>, message: Message) => Effect.Effect<HandlerResult<Rs, P>, E, R>
  ): Layer.Layer<never, NatsError, NatsBroker | Exclude<R, NatsMessage>>
} = (
  subject: string,
  options: AnySubscriberOptions,
  handler: (payload: any, message: any) => Effect.Effect<unknown, unknown, unknown>
): Layer.Layer<never, NatsError, any> => {
  const target = "publishTo" in options ? options.publishTo : undefined
  const layer = subscriberLayer(
    subject,
    options,
    target === undefined ? handler : (payload, message) =>
      Effect.tap(handler(payload, message), (value) => {
        const body = ReplyResponse.bodyOf(value)
        return body === undefined ? Effect.void : target.publish(body)
      })
  )
  return target === undefined ? layer : Layer.merge(target.layer, layer)
}

/**
 * What a handler returns: nothing, or its result, which is the reply (of
 * `response`'s type) and what `publishTo` publishes (of its Schema's type).
 *
 * @since 0.1.0
 * @category models
 */
export type HandlerResult<Rs extends PayloadSchema | undefined, P extends PayloadSchema | undefined> =
  | (ReplyOf<Rs> & PayloadOf<P>)
  | Response<ReplyOf<Rs> & PayloadOf<P>>
  | void

type AnySubscriberOptions =
  | SubscriberOptions<PayloadSchema | undefined, PayloadSchema | undefined, PayloadSchema | undefined>
  | JetStreamSubscriberOptions<PayloadSchema | undefined, PayloadSchema | undefined, PayloadSchema | undefined>
  | JetStreamBatchSubscriberOptions<PayloadSchema | undefined>

/**
 * A handler inside its middleware (the broker's, its router's, its own),
 * with the middleware of what it publishes in its context.
 */
const withMiddleware = (
  runtime: Runtime,
  route: Middlewares.Route,
  own: Middlewares.Chain,
  handler: (payload: any, message: any) => Effect.Effect<unknown, unknown, unknown>
): (payload: any, message: any) => Effect.Effect<unknown, unknown, unknown> => {
  const chain = [...runtime.chain, ...route.chain, ...own]
  if (chain.length === 0) return handler
  const publishing = [...route.chain, ...own]
  return (payload, message) => {
    // A batch's messages are an array: the middleware sees its first.
    const handled = Middlewares.handle(chain, handler(payload, message), Array.isArray(message) ? message[0] : message)
    return publishing.length === 0 ? handled : Effect.provideService(handled, Middlewares.CurrentChain, publishing)
  }
}

const subscriberLayer = (
  declared: string,
  options: AnySubscriberOptions,
  unwrapped: (payload: any, message: any) => Effect.Effect<unknown, unknown, unknown>
): Layer.Layer<never, NatsError, any> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const route = yield* Middlewares.CurrentRoute
    const subject = route.prefix + declared
    const template = Subject.parse(subject)
    if (typeof template === "string") {
      return yield* Effect.die(fromReason(new InvalidSubject({ subject, message: template })))
    }
    const concurrency = yield* resolveConcurrency(subject, options.concurrency)
    const broker = yield* NatsBroker
    const runtime = yield* runtimeOf(broker)
    yield* broker.register(subscriberEndpoint(subject, options, runtime.ackPolicy))
    if (yield* AsyncApi.Documenting) return
    const handler = withMiddleware(runtime, route, yield* Middlewares.chainOf(options.middlewares), unwrapped)
    const common = {
      name: options.name ?? subject,
      template,
      concurrency,
      decode: Codec.makeDecoder(options.schema),
      encodeReply: Codec.makeEncoder("response" in options ? options.response : undefined),
      noReply: options.noReply ?? false
    }
    if ("stream" in options && options.stream !== undefined) {
      return yield* JetStreamSubscriber.run(runtime, {
        ...common,
        handling: "batch" in options ? batchHandling(subject, options.batch, handler) : { _tag: "Each", handler },
        queue: undefined,
        stream: streamSpec(options.stream),
        durable: options.durable,
        ackPolicy: options.ackPolicy ?? runtime.ackPolicy,
        deliverPolicy: options.deliverPolicy === undefined ? undefined : clientDeliverPolicy(options.deliverPolicy),
        ackWait: options.ackWait === undefined ? undefined : Duration.fromInputUnsafe(options.ackWait),
        maxDeliver: options.maxDeliver,
        backoff: options.backoff?.map(Duration.fromInputUnsafe),
        maxAckPending: options.maxAckPending,
        description: options.description,
        subjects: options.subjects,
        inProgress: options.inProgress ?? true,
        deadLetter: options.deadLetter
      })
    }
    const core = options as SubscriberOptions<PayloadSchema | undefined, PayloadSchema | undefined>
    const pendingLimits = {
      messages: core.pendingLimits?.messages ?? Subscriber.defaultPendingLimits.messages,
      bytes: core.pendingLimits?.bytes ?? Subscriber.defaultPendingLimits.bytes
    }
    if (!(Number.isInteger(pendingLimits.messages) && pendingLimits.messages >= 1 && pendingLimits.bytes >= 1)) {
      return yield* Effect.die(
        new RangeError(
          `the pending limits of the subscriber "${subject}" must be at least 1 message and 1 byte, ` +
            `got ${pendingLimits.messages} and ${pendingLimits.bytes}`
        )
      )
    }
    yield* Subscriber.run(runtime, { ...common, handler, queue: core.queue, pendingLimits })
  }))

/** A subscriber as the AsyncAPI document shows it; a JetStream one with its stream and consumer. */
const subscriberEndpoint = (subject: string, options: AnySubscriberOptions, ackPolicy: AckPolicy): AsyncApi.Endpoint => {
  const common = {
    action: "receive",
    name: options.name ?? subject,
    address: subject,
    description: options.description,
    schema: options.schema,
    contentType: undefined,
    correlated: true
  } as const
  if (!("stream" in options && options.stream !== undefined)) {
    const core = options as SubscriberOptions<PayloadSchema | undefined, PayloadSchema | undefined>
    return { ...common, response: core.response, queue: core.queue, extensions: {} }
  }
  const policy = options.deliverPolicy
  const consumer = {
    stream: streamSpec(options.stream).name,
    subjects: options.subjects,
    durable: options.durable,
    ackPolicy: options.ackPolicy ?? ackPolicy,
    deliverPolicy: policy === undefined || typeof policy === "string" || "startSequence" in policy
      ? policy
      : { startTime: policy.startTime.toISOString() },
    maxDeliver: options.maxDeliver,
    deadLetter: options.deadLetter,
    batchSize: "batch" in options ? options.batch.size : undefined
  }
  return {
    ...common,
    // A JetStream message has no reply subject: its handler's result goes nowhere but `publishTo`.
    response: undefined,
    queue: undefined,
    extensions: {
      "x-nats-jetstream": Object.fromEntries(Object.entries(consumer).filter(([, value]) => value !== undefined))
    }
  }
}

/** A batch subscriber's handling; a size that is not a positive integer, or a timeout that is not positive, is a defect. */
const batchHandling = (
  subject: string,
  batch: JetStreamBatchSubscriberOptions["batch"],
  handler: (payloads: any, messages: any) => Effect.Effect<unknown, unknown, unknown>
): JetStreamSubscriber.Handling<unknown> => {
  const timeout = Duration.fromInputUnsafe(batch.timeout)
  if (!Number.isInteger(batch.size) || batch.size < 1 || !Duration.isGreaterThan(timeout, Duration.zero)) {
    throw new RangeError(
      `the batch of the subscriber "${subject}" needs a positive integer size and a positive timeout, ` +
        `got ${batch.size} and ${Duration.format(timeout)}`
    )
  }
  return { _tag: "Batch", size: batch.size, timeout, handler }
}

/** The declared concurrency (default 1), within `MaxConcurrency`; not a positive integer: a defect. */
const resolveConcurrency = (subject: string, declared: number = 1): Effect.Effect<number> =>
  !Number.isInteger(declared) || declared < 1
    ? Effect.die(new RangeError(`the concurrency of the subscriber "${subject}" must be a positive integer, got ${declared}`))
    : Effect.gen(function*() {
      const cap = yield* MaxConcurrency
      return cap === undefined ? declared : Math.max(1, Math.min(declared, cap))
    })

/**
 * How a watch's items become a watcher's messages.
 *
 * @since 0.1.0
 * @category options
 */
export interface WatcherOptions<I, A, M extends Message, EO = never> {
  /** The keys watched, with `{param}` tokens (`flags.{name}`); a message's `params` come from its `subject`. */
  readonly keys: string
  /** What the live line says after `listening on <keys>`: `in the KV bucket "config"`. */
  readonly where: string
  /** Default: `keys`. */
  readonly name?: string | undefined
  /** What it does, for the app's AsyncAPI document (`NatsBroker.asyncApi`). */
  readonly description?: string | undefined
  /** How the app's AsyncAPI document shows what it watches. */
  readonly document?: WatcherDocument | undefined
  /** Handlers running at once; default 1, which handles the items in order. */
  readonly concurrency?: number | undefined
  /**
   * Opens the watch of `filter` (`keys` with `*` for each `{param}`) when the layer is built, in a scope
   * closed when it is released. A source that must not miss what `afterStartup` writes creates its
   * consumer here (`NatsClient.jetstream.openOrdered`), not on the Stream's first read, which may come
   * later. Failing to open fails the layer.
   */
  readonly source: (filter: string) => Effect.Effect<Stream.Stream<I, unknown>, EO, Scope.Scope>
  /**
   * Items read from the watch and passed over, the handler not called (a
   * watcher's `ignoreDeletes`): skipped here rather than filtered out of the
   * source, so that how far the watch has read stays known.
   */
  readonly skip?: ((item: I) => boolean) | undefined
  /**
   * Where the watch of `filter` reads, for observers (`NatsTest`) to tell
   * whether it has caught up with what is stored: the stream, the subjects
   * it reads there, each item's sequence in the stream, and the sequence it
   * starts after (0 for all). Without it, an observer sees only what the
   * watcher holds.
   */
  readonly position?: ((filter: string) => WatchPosition<I>) | undefined
  /** The item's key, the message's `subject`. */
  readonly subjectOf: (item: I) => string
  /** The item as the handler's message, given the fields every message has. */
  readonly toMessage: (item: I, base: Message) => M
  /** The handler's value, or why the item has none it can take (logged, the handler is not called). */
  readonly decode: (message: M) => Result.Result<A, string>
}

/**
 * Where a watch reads (`WatcherOptions.position`): its stream, the subjects
 * it reads there, each item's sequence in the stream, and the sequence it
 * starts after.
 *
 * @since 0.2.0
 * @category options
 */
export type WatchPosition<I> = Watcher.WatchPosition<I>

/**
 * How a watcher appears in the app's AsyncAPI document: a `receive` operation on `address`.
 *
 * @since 0.1.0
 * @category asyncapi
 */
export interface WatcherDocument {
  /** The subject of the changes on the wire, `{param}` tokens kept: `$KV.config.flags.{name}`. Default: `keys`. */
  readonly address?: string | undefined
  /** The Schema of the payloads (its JSON Schema is shown); without it, any payload. */
  readonly schema?: PayloadSchema | undefined
  /** Default: `application/json` with a Schema that does not encode to a string. */
  readonly contentType?: string | undefined
  /** `x-` extensions of the operation: `{ "x-nats-kv": { bucket: "config", keys: "flags.{name}" } }`. */
  readonly extensions?: Readonly<Record<`x-${string}`, unknown>> | undefined
}

/**
 * A subscriber whose messages are the items of a watch (a KV bucket's, an
 * object store's): the building block of `KeyValue.watcher` and
 * `ObjectStore.watcher`. The handler runs as a subscriber's does (in the
 * message's context, `NatsMessage` provided, failures logged and the
 * watcher goes on), the watch is read from when the layer is built (see
 * `source`), pulled only as fast as the handlers take its items,
 * and closed on shutdown after the handlers in flight finish (within the
 * broker's `gracefulTimeout`). A watch that fails stops the watcher for
 * good, as a subscription does.
 *
 * @since 0.1.0
 * @category constructors
 */
export const watcher = <I, A, M extends Message, E, R, EO = never>(
  options: WatcherOptions<I, A, M, EO>,
  handler: (value: A, message: M) => Effect.Effect<unknown, E, R>
): Layer.Layer<never, EO, NatsBroker | Exclude<R, NatsMessage>> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const template = Subject.parse(options.keys)
    if (typeof template === "string") {
      return yield* Effect.die(fromReason(new InvalidSubject({ subject: options.keys, message: template })))
    }
    const broker = yield* NatsBroker
    const route = yield* Middlewares.CurrentRoute
    yield* broker.register({
      action: "receive",
      name: options.name ?? options.keys,
      address: options.document?.address ?? options.keys,
      description: options.description,
      schema: options.document?.schema,
      contentType: options.document?.contentType,
      response: undefined,
      queue: undefined,
      correlated: false,
      extensions: options.document?.extensions ?? {}
    })
    if (yield* AsyncApi.Documenting) return
    const runtime = yield* runtimeOf(broker)
    yield* Watcher.run(runtime, {
      name: options.name ?? options.keys,
      template,
      where: options.where,
      concurrency: yield* resolveConcurrency(options.keys, options.concurrency),
      source: options.source(template.subject),
      skip: options.skip,
      position: options.position?.(template.subject),
      subjectOf: options.subjectOf,
      toMessage: options.toMessage,
      decode: (message) => {
        const decoded = options.decode(message)
        return Result.isSuccess(decoded) ? decoded.success : new Codec.DecodeFailure(decoded.failure)
      },
      handler: withMiddleware(runtime, route, [], handler as (value: A, message: M) => Effect.Effect<unknown, unknown, unknown>)
    })
  })) as Layer.Layer<never, EO, NatsBroker | Exclude<R, NatsMessage>>

const streamSpec = (option: StreamOption): JetStreamSubscriber.StreamSpec => {
  if (typeof option === "string") return { name: option, config: {}, declare: true }
  const { declare, name, ...config } = option
  return { name, config, declare: declare ?? true }
}

const clientDeliverPolicy = (policy: DeliverPolicy): ClientDeliverPolicy =>
  policy === "lastPerSubject" ? "last_per_subject" : policy

// ---------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------

/**
 * Runs an app as `Layer.launch` does (builds it, then runs until
 * interrupted), and also ends, with the reason, when one of its subscribers
 * stops for good because its subscription failed: an app that has lost a
 * subscriber should be restarted, not go on without it.
 *
 * ```ts
 * NodeRuntime.runMain(NatsBroker.launch(App))
 * ```
 *
 * (`Layer.launch` cannot do this: it ends only when its fiber is
 * interrupted, which a layer cannot reach and which carries no reason.
 * Under it, a subscriber that stops for good is only logged.)
 *
 * When the app stops, it logs one line as the subscribers begin to stop and
 * one once everything is released (the connection drained):
 * `stopping: 3 subscriber(s), waiting up to 10s`, then `stopped`, or
 * `stopped (1 handler(s) interrupted)` when handlers were still running after
 * the broker's graceful timeout.
 *
 * @since 0.1.0
 * @category combinators
 */
export const launch = <ROut, E, RIn>(app: Layer.Layer<ROut, E, RIn>): Effect.Effect<never, E | NatsError, RIn> =>
  Effect.gen(function*() {
    const stoppedForGood = yield* Deferred.make<never, NatsError>()
    const shutdown = new Loop.Shutdown()
    return yield* Effect.scoped(Effect.andThen(Layer.build(app), Deferred.await(stoppedForGood))).pipe(
      Effect.ensuring(shutdown.stopped),
      Effect.provideService(Loop.StoppedForGood, stoppedForGood),
      Effect.provideService(Loop.CurrentShutdown, shutdown)
    )
  })

/**
 * Runs `work` once the layer it is applied to is built: every subscriber in
 * it is live, so what `work` publishes reaches them (FastStream's
 * `after_startup`).
 *
 * ```ts
 * const App = Layer.mergeAll(HandlerA, HandlerB).pipe(NatsBroker.afterStartup(SendOnStart))
 * ```
 *
 * `work` runs inline, as the last step of building the layer: the app is
 * started when it has completed, and its failure fails the startup (the
 * layers built so far are released). For background work that should run as
 * long as the app, fork it in the app's scope from `work`
 * (`Effect.forkScoped`). `work` may use the services of the layer it follows;
 * its other requirements become the layer's. It does not run when the app is
 * built for its AsyncAPI document (`asyncApi`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const afterStartup = <A, E2, R2>(work: Effect.Effect<A, E2, R2>) =>
<ROut, E, RIn>(
  self: Layer.Layer<ROut, E, RIn>
): Layer.Layer<ROut, E | E2, RIn | Exclude<R2, ROut>> =>
  Layer.provideMerge(
    Layer.effectDiscard(
      Effect.flatMap(AsyncApi.Documenting, (documenting): Effect.Effect<unknown, E2, R2> => documenting ? Effect.void : work)
    ),
    self
  )

// ---------------------------------------------------------------------------
// AsyncAPI
// ---------------------------------------------------------------------------

/**
 * Options of `asyncApi`: the document's title, version and servers.
 *
 * @since 0.1.0
 * @category asyncapi
 */
export type AsyncApiOptions = AsyncApi.AsyncApiOptions
/**
 * A server of an AsyncAPI document.
 *
 * @since 0.1.0
 * @category asyncapi
 */
export type AsyncApiServer = AsyncApi.AsyncApiServer
/**
 * An AsyncAPI 3.0 document, as plain JSON data.
 *
 * @since 0.1.0
 * @category asyncapi
 */
export type AsyncApiDocument = AsyncApi.AsyncApiDocument
/**
 * An AsyncAPI channel: a subject template with its parameters and messages.
 *
 * @since 0.1.0
 * @category asyncapi
 */
export type AsyncApiChannel = AsyncApi.AsyncApiChannel
/**
 * An AsyncAPI operation: a subscriber (`receive`) or a publisher (`send`) on a channel.
 *
 * @since 0.1.0
 * @category asyncapi
 */
export type AsyncApiOperation = AsyncApi.AsyncApiOperation
/**
 * An AsyncAPI message: its payload's JSON Schema and its correlation id.
 *
 * @since 0.1.0
 * @category asyncapi
 */
export type AsyncApiMessage = AsyncApi.AsyncApiMessage
/**
 * A subscriber, publisher, watcher or RPC as the app's AsyncAPI document shows it (`NatsBroker.register`).
 *
 * @since 0.1.0
 * @category asyncapi
 */
export type Endpoint = AsyncApi.Endpoint

/**
 * The AsyncAPI 3.0 document of an app: builds `app` on an in-memory NATS
 * (connecting nowhere) with a broker whose subscribers, publishers and
 * watchers only declare themselves (nothing is subscribed, declared or
 * watched, so no handler runs, and `afterStartup` work is skipped), then
 * releases it and describes what it declared. Requires what `app` requires
 * besides the broker and the client.
 *
 * - each subscriber is a `receive` operation, each publisher (included by
 *   `publisher.layer` or a subscriber's `publishTo`) a `send` operation, on
 *   the channel of its subject: its `address` is the subject as declared,
 *   `{param}` tokens kept and declared as the channel's parameters;
 * - a queue group is the operation's NATS binding (`bindings.nats.queue`);
 * - a subscriber with a `response` Schema has a `reply`: a channel with no
 *   address (the requester's inbox) and the reply's message;
 * - JetStream subscribers and publishers say their stream (and consumer) in
 *   `x-nats-jetstream`; KV and object watchers are `receive` operations on
 *   the subjects their changes are stored under (`$KV.<bucket>.<keys>`,
 *   `$O.<bucket>.M.{name}`);
 * - payloads are the JSON Schemas of their Schemas
 *   (`Schema.toJsonSchemaDocument`, as draft-07), named definitions in
 *   `components.schemas`; without a Schema, any payload.
 *
 * Fails with the app's own errors, or `EncodeError` for a Schema that has no
 * JSON Schema. Publishes made with `NatsBroker.publish` are not known before
 * they happen: declare a `publisher` to document them.
 *
 * ```ts
 * const document = yield* NatsBroker.asyncApi(App, {
 *   title: "Orders",
 *   version: "1.0.0",
 *   servers: { production: { host: "nats.example.com:4222" } }
 * })
 * ```
 *
 * @since 0.1.0
 * @category asyncapi
 */
export const asyncApi = <ROut, E, RIn>(
  app: Layer.Layer<ROut, E, RIn>,
  options: AsyncApiOptions
): Effect.Effect<AsyncApiDocument, E | NatsError, Exclude<RIn, NatsBroker | NatsClient>> =>
  Effect.scoped(Effect.gen(function*() {
    const built = yield* Layer.build(Layer.provideMerge(app, Layer.provideMerge(layer, layerMemory())))
    return yield* AsyncApi.document(yield* Context.get(built, NatsBroker).endpoints, options)
  })).pipe(Effect.provideService(AsyncApi.Documenting, true))
