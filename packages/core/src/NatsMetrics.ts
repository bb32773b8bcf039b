/**
 * The broker's metrics, as Effect `Metric`s named after OpenTelemetry's
 * messaging semantic conventions, so an OTLP or Prometheus exporter
 * (`effect/observability`) publishes them as a dashboard expects.
 *
 * Each subscriber updates its own series, with the attributes
 * `messaging.system` (`nats`), `messaging.destination.name` (the subject as
 * declared, `orders.{region}`), `messaging.destination.subscription.name`
 * (the subscriber's name) and, when it has one, `messaging.consumer.group.name`
 * (its queue group, or its durable consumer); a failure adds `error.type`
 * (the error's tag). Publishes update series with `messaging.system`,
 * `messaging.destination.name` (the subject) and `messaging.operation.name`
 * (`publish` or `request`).
 *
 * Read them with `Metric.snapshot`, or one series with
 * `Metric.value(NatsMetrics.consumedMessages(NatsMetrics.subscriberAttributes({ name, subject })))`.
 * The series live in the metrics registry (`Metric.MetricRegistry`) the
 * broker and its subscribers were built with, so an app that provides its
 * own registry exports only its own. An update is an addition to a series
 * held by the subscriber or the broker (about 5 ns); the state is built only
 * when read. The object store's and KV's metrics are exported by their
 * packages (`ObjectStore.bytesPut`, `ObjectStore.bytesGot`, `KeyValue.operations`).
 *
 * Names marked "in their style" are not in the conventions, which stop at
 * received, processed and sent; they use the conventions' namespace and
 * attributes.
 *
 * @since 0.1.0
 * @module
 */
import * as Metrics from "./internal/metrics.ts"

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

/**
 * Counter: messages a subscriber received (from core NATS or its JetStream consumer).
 *
 * @since 0.1.0
 * @category constants
 */
export const ConsumedMessagesName = "messaging.client.consumed.messages"
/**
 * Counter, in their style: messages a subscriber's handler handled without failing.
 *
 * @since 0.1.0
 * @category constants
 */
export const HandledMessagesName = "messaging.process.handled.messages"
/**
 * Counter, in their style: messages whose decoding or handler failed, by `error.type`.
 *
 * @since 0.1.0
 * @category constants
 */
export const FailedMessagesName = "messaging.process.failed.messages"
/**
 * Counter, in their style: messages a JetStream subscriber gave up on after
 * its handler failed (`rejectOnError`, or `maxDeliver` reached): sent to its
 * dead-letter subject when it has one, and terminated.
 *
 * @since 0.1.0
 * @category constants
 */
export const DeadLetteredMessagesName = "messaging.process.dead_lettered.messages"
/**
 * Counter, in their style: messages a core NATS subscriber dropped because its pending limits were reached.
 *
 * @since 0.1.0
 * @category constants
 */
export const DroppedMessagesName = "messaging.client.dropped.messages"
/**
 * Histogram, seconds: how long handling a message took, decoding included;
 * failures carry `error.type`. A handler that is done when it returns (an
 * `Exit`, such as `Effect.void`) is timed together with the messages its
 * worker handles back to back with it, each observed with their average:
 * reading the clock per message would cost more than the rest of the
 * metrics. A batch is one observation.
 *
 * @since 0.1.0
 * @category constants
 */
export const ProcessDurationName = "messaging.process.duration"
/**
 * Counter: messages published or sent as requests.
 *
 * @since 0.1.0
 * @category constants
 */
export const SentMessagesName = "messaging.client.sent.messages"
/**
 * Counter, in their style: bytes of the bodies of the messages published or sent as requests.
 *
 * @since 0.1.0
 * @category constants
 */
export const SentBytesName = "messaging.client.sent.bytes"
/**
 * Histogram, seconds: how long a request (until its reply) or a JetStream publish (until its ack) took.
 *
 * @since 0.1.0
 * @category constants
 */
export const OperationDurationName = "messaging.client.operation.duration"

// ---------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------

/**
 * `messaging.system`, always `nats`.
 *
 * @since 0.1.0
 * @category constants
 */
export const SystemAttribute = "messaging.system"
/**
 * `messaging.destination.name`: the subject, as a subscriber declares it or as a message is published to.
 *
 * @since 0.1.0
 * @category constants
 */
export const DestinationAttribute = "messaging.destination.name"
/**
 * `messaging.destination.subscription.name`: the subscriber's name.
 *
 * @since 0.1.0
 * @category constants
 */
export const SubscriptionAttribute = "messaging.destination.subscription.name"
/**
 * `messaging.consumer.group.name`: the queue group, or the durable JetStream consumer.
 *
 * @since 0.1.0
 * @category constants
 */
export const ConsumerGroupAttribute = "messaging.consumer.group.name"
/**
 * `messaging.operation.name`: `publish` or `request`.
 *
 * @since 0.1.0
 * @category constants
 */
export const OperationAttribute = "messaging.operation.name"
/**
 * `error.type`: what a message failed with: the error's `_tag` (`Error` for
 * an error without one), `DecodeError` for a payload that did not decode,
 * `Defect` for a defect, `Interrupted` for an interrupted handler.
 *
 * @since 0.1.0
 * @category constants
 */
export const ErrorTypeAttribute = "error.type"

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/**
 * Each metric is a function of its series' attributes: it returns the series
 * to update or read (`Metric.value`). A series built once and updated many
 * times costs a registry look-up and an addition per update, where
 * `Metric.withAttributes` would copy the fiber's context each time.
 *
 * This one is `messaging.client.consumed.messages`.
 *
 * @since 0.1.0
 * @category observability
 */
export const consumedMessages = Metrics.counter(ConsumedMessagesName, "Messages a subscriber received")
/**
 * `messaging.process.handled.messages` with the given attributes.
 *
 * @since 0.1.0
 * @category observability
 */
export const handledMessages = Metrics.counter(
  HandledMessagesName,
  "Messages a subscriber's handler handled without failing"
)
/**
 * `messaging.process.failed.messages` with the given attributes (`error.type` among them).
 *
 * @since 0.1.0
 * @category observability
 */
export const failedMessages = Metrics.counter(FailedMessagesName, "Messages whose decoding or handler failed")
/**
 * `messaging.process.dead_lettered.messages` with the given attributes.
 *
 * @since 0.1.0
 * @category observability
 */
export const deadLetteredMessages = Metrics.counter(
  DeadLetteredMessagesName,
  "Messages a JetStream subscriber gave up on after their handler failed"
)
/**
 * `messaging.client.dropped.messages` with the given attributes.
 *
 * @since 0.1.0
 * @category observability
 */
export const droppedMessages = Metrics.counter(
  DroppedMessagesName,
  "Messages a subscriber dropped because its pending limits were reached"
)
/**
 * `messaging.process.duration` with the given attributes.
 *
 * @since 0.1.0
 * @category observability
 */
export const processDuration = Metrics.seconds(ProcessDurationName, "How long handling a message took, in seconds")
/**
 * `messaging.client.sent.messages` with the given attributes.
 *
 * @since 0.1.0
 * @category observability
 */
export const sentMessages = Metrics.counter(SentMessagesName, "Messages published or sent as requests")
/**
 * `messaging.client.sent.bytes` with the given attributes.
 *
 * @since 0.1.0
 * @category observability
 */
export const sentBytes = Metrics.counter(SentBytesName, "Bytes of the bodies of the messages published or sent")
/**
 * `messaging.client.operation.duration` with the given attributes.
 *
 * @since 0.1.0
 * @category observability
 */
export const operationDuration = Metrics.seconds(
  OperationDurationName,
  "How long a request or a JetStream publish took, until its reply or ack, in seconds"
)

/**
 * The attributes of a subscriber's series.
 *
 * @since 0.1.0
 * @category observability
 */
export const subscriberAttributes = (subscriber: {
  readonly name: string
  readonly subject: string
  readonly consumerGroup?: string | undefined
}): Record<string, string> => ({
  [SystemAttribute]: "nats",
  [DestinationAttribute]: subscriber.subject,
  [SubscriptionAttribute]: subscriber.name,
  ...(subscriber.consumerGroup === undefined ? {} : { [ConsumerGroupAttribute]: subscriber.consumerGroup })
})

/**
 * The attributes of the series of what is sent to `subject`.
 *
 * @since 0.1.0
 * @category observability
 */
export const sentAttributes = (subject: string, operation: "publish" | "request"): Record<string, string> => ({
  [SystemAttribute]: "nats",
  [DestinationAttribute]: subject,
  [OperationAttribute]: operation
})
