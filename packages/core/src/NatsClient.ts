/**
 * `NatsClient`: the one seam between nats-effect and a NATS server. Core
 * publish/subscribe/request plus the JetStream operations the broker, the
 * object store and the key-value store use, in NATS terms, as Effects and
 * Streams, with no nats.js type leaking out.
 *
 * `make(driver)` owns the port's rules (subject and name grammar, the
 * server's `max_payload` and `max_control_line`, headers, JetStream publish
 * expectations, argument checks, defaults); a driver only moves bytes. Two
 * drivers come with it: `layer` / `layerConfig` over nats.js, and
 * `layerMemory`, a NATS server with JetStream inside the process.
 *
 * @since 0.1.0
 * @module
 */
import type { Duration, Redacted, Scope, Stream } from "effect"
import { Config, Context, Effect, Layer, Option } from "effect"
import type { NatsError } from "./NatsError.ts"
import * as Memory from "./internal/memory/client.ts"
import * as NatsJs from "./internal/natsjs/client.ts"
import * as Port from "./internal/port.ts"
import * as Version from "./internal/version.ts"

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/**
 * NATS headers as received: every key with all its values, keys as sent
 * (NATS header names are case-sensitive on the wire; use `NatsHeaders.get`
 * for a case-insensitive look-up).
 *
 * @since 0.1.0
 * @category models
 */
export type Headers = Readonly<Record<string, ReadonlyArray<string>>>

/**
 * Headers as given to a publish: a value or several per key.
 *
 * @since 0.1.0
 * @category models
 */
export type HeadersInput = Readonly<Record<string, string | ReadonlyArray<string>>>

/**
 * A core NATS message.
 *
 * @since 0.1.0
 * @category models
 */
export interface Msg {
  readonly subject: string
  readonly data: Uint8Array
  readonly headers: Headers | undefined
  readonly reply: string | undefined
}

/**
 * A message stored in a JetStream stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredMsg {
  readonly stream: string
  readonly subject: string
  readonly seq: number
  readonly time: Date
  readonly data: Uint8Array
  readonly headers: Headers | undefined
  /**
   * For messages delivered by a consumer: how many messages matching its
   * filter remain after this one. For `getMessage`, 0.
   */
  readonly pending: number
}

/**
 * A message delivered by a durable consumer, to acknowledge.
 *
 * @since 0.1.0
 * @category models
 */
export interface JsMsg extends StoredMsg {
  readonly consumer: string
  /** 1 on the first delivery, 2 on the first redelivery, ... */
  readonly deliveryCount: number
  readonly redelivered: boolean
  readonly ack: Effect.Effect<void, NatsError>
  /**
   * Acknowledges and waits until the server has processed the
   * acknowledgement (for example removed the message from a work-queue or
   * interest stream). Slower than `ack`: a round trip per message.
   */
  readonly ackSync: Effect.Effect<void, NatsError>
  /** Negative acknowledgement: redeliver, after `delay` when given. */
  readonly nak: (delay?: Duration.Input) => Effect.Effect<void, NatsError>
  /** Never redeliver this message. */
  readonly term: (reason?: string) => Effect.Effect<void, NatsError>
  /** Still working on it: restart the ack-wait timer. */
  readonly working: Effect.Effect<void, NatsError>
}

/**
 * What JetStream answers to a publish: the stream that stored the message, its sequence, whether it was a duplicate.
 *
 * @since 0.1.0
 * @category models
 */
export interface PubAck {
  readonly stream: string
  readonly seq: number
  readonly duplicate: boolean
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/**
 * Options of a core NATS publish.
 *
 * @since 0.1.0
 * @category options
 */
export interface PublishOptions {
  readonly headers?: HeadersInput | undefined
  readonly reply?: string | undefined
}

/**
 * Options of a subscription.
 *
 * @since 0.1.0
 * @category options
 */
export interface SubscribeOptions {
  readonly queue?: string | undefined
}

/**
 * Options of a request.
 *
 * @since 0.1.0
 * @category options
 */
export interface RequestOptions {
  readonly headers?: HeadersInput | undefined
  /** Default 5 seconds. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Options of a JetStream publish: headers, message id and expectations.
 *
 * @since 0.1.0
 * @category options
 */
export interface JetStreamPublishOptions {
  readonly headers?: HeadersInput | undefined
  /** `Nats-Msg-Id`, de-duplicated within the stream's duplicate window. */
  readonly msgId?: string | undefined
  readonly expect?: {
    /** `Nats-Expected-Stream` */
    readonly stream?: string | undefined
    /** `Nats-Expected-Last-Sequence` */
    readonly lastSequence?: number | undefined
    /** `Nats-Expected-Last-Subject-Sequence` (0: no message on the subject yet) */
    readonly lastSubjectSequence?: number | undefined
    /** `Nats-Expected-Last-Msg-Id` */
    readonly lastMsgId?: string | undefined
  } | undefined
  /**
   * How long the stream keeps this message (`Nats-TTL`): at least 1 second,
   * counted in whole seconds as the server does; `Duration.infinity` keeps it
   * past the stream's `maxAge` too. The stream must allow it (`allowMsgTtl`),
   * else the server refuses the message. Needs nats-server 2.11; an older one
   * is refused with `FeatureNotSupported` before anything is sent.
   *
   * @since 0.2.0
   */
  readonly ttl?: Duration.Input | undefined
  /** Default 5 seconds. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Where a stream keeps its messages.
 *
 * @since 0.1.0
 * @category models
 */
export type StorageType = "file" | "memory"
/**
 * What a full stream does: discard its oldest messages or refuse new ones.
 *
 * @since 0.1.0
 * @category models
 */
export type DiscardPolicy = "old" | "new"
/**
 * When a stream removes messages: at its limits, once every interested consumer has them, or once one consumer acknowledged them.
 *
 * @since 0.1.0
 * @category models
 */
export type RetentionPolicy = "limits" | "interest" | "workqueue"

/**
 * Where a stream's replicas are placed: a cluster and server tags.
 *
 * @since 0.1.0
 * @category models
 */
export interface Placement {
  readonly cluster?: string | undefined
  readonly tags?: ReadonlyArray<string> | undefined
}

/**
 * A stream's configuration. Absent fields take the server's defaults
 * (unlimited limits, file storage, discard old, one replica). `metadata` and
 * `compression` are only sent when set, and need nats-server 2.10;
 * `allowMsgTtl` and `subjectDeleteMarkerTtl` need 2.11 when turned on. Asked
 * of an older server, they fail with `FeatureNotSupported` before anything
 * is sent.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamConfig {
  readonly name: string
  readonly subjects: ReadonlyArray<string>
  readonly description?: string | undefined
  readonly retention?: RetentionPolicy | undefined
  readonly storage?: StorageType | undefined
  readonly replicas?: number | undefined
  readonly maxMsgs?: number | undefined
  readonly maxBytes?: number | undefined
  readonly maxAge?: Duration.Input | undefined
  readonly maxMsgsPerSubject?: number | undefined
  readonly maxMsgSize?: number | undefined
  readonly discard?: DiscardPolicy | undefined
  readonly duplicateWindow?: Duration.Input | undefined
  readonly allowRollup?: boolean | undefined
  readonly allowDirect?: boolean | undefined
  readonly denyDelete?: boolean | undefined
  readonly denyPurge?: boolean | undefined
  readonly sealed?: boolean | undefined
  readonly placement?: Placement | undefined
  readonly metadata?: Readonly<Record<string, string>> | undefined
  readonly compression?: "none" | "s2" | undefined
  /**
   * Lets publishers give a message its own TTL (`ttl`, the `Nats-TTL`
   * header); once allowed it cannot be turned off. Needs nats-server 2.11.
   *
   * @since 0.2.0
   */
  readonly allowMsgTtl?: boolean | undefined
  /**
   * When the last message of a subject goes at its TTL or the stream's
   * `maxAge`, the server leaves a marker in its place (an empty message with
   * `Nats-Marker-Reason: MaxAge`), itself kept this long (at least 1 second),
   * so consumers and KV watchers learn of it. Implies `allowMsgTtl` and
   * `allowRollup`. Needs nats-server 2.11.
   *
   * @since 0.2.0
   */
  readonly subjectDeleteMarkerTtl?: Duration.Input | undefined
}

/**
 * A stream's configuration as the server reports it: every field resolved.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamConfigResolved {
  readonly name: string
  readonly subjects: ReadonlyArray<string>
  readonly description: string | undefined
  readonly retention: RetentionPolicy
  readonly storage: StorageType
  readonly replicas: number
  /** -1: unlimited */
  readonly maxMsgs: number
  /** -1: unlimited */
  readonly maxBytes: number
  /** 0: unlimited */
  readonly maxAge: Duration.Duration
  /** -1: unlimited */
  readonly maxMsgsPerSubject: number
  /** -1: unlimited */
  readonly maxMsgSize: number
  readonly discard: DiscardPolicy
  readonly duplicateWindow: Duration.Duration
  readonly allowRollup: boolean
  readonly allowDirect: boolean
  readonly denyDelete: boolean
  readonly denyPurge: boolean
  readonly sealed: boolean
  readonly placement: Placement | undefined
  readonly metadata: Readonly<Record<string, string>> | undefined
  readonly compression: "none" | "s2"
  /** @since 0.2.0 */
  readonly allowMsgTtl: boolean
  /**
   * Zero: no markers.
   *
   * @since 0.2.0
   */
  readonly subjectDeleteMarkerTtl: Duration.Duration
}

/**
 * A stream's counts: messages, bytes, first and last sequence, consumers.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamState {
  readonly messages: number
  readonly bytes: number
  readonly firstSeq: number
  readonly lastSeq: number
  readonly consumerCount: number
}

/**
 * A stream's configuration and state.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamInfo {
  readonly config: StreamConfigResolved
  readonly state: StreamState
  readonly created: Date
}

/**
 * Which messages a stream purge removes.
 *
 * @since 0.1.0
 * @category options
 */
export interface PurgeOptions {
  /** Only messages on subjects matching this filter. */
  readonly filter?: string | undefined
  /** Keep this many of the newest (matching) messages. */
  readonly keep?: number | undefined
  /** Purge every (matching) message with a sequence below this one. */
  readonly seq?: number | undefined
}

/**
 * Where a consumer starts in its stream.
 *
 * @since 0.1.0
 * @category models
 */
export type DeliverPolicy =
  | "all"
  | "last"
  | "last_per_subject"
  | "new"
  | { readonly startSequence: number }
  | { readonly startTime: Date }

/**
 * Which stored message `getMessage` reads: the one at a sequence, the last on
 * a subject, or the first at or after a sequence on a subject (wildcards
 * allowed in both subjects).
 *
 * @since 0.2.0
 * @category models
 */
export type MessageQuery =
  | { readonly seq: number }
  | { readonly lastBySubject: string }
  | { readonly nextBySubject: string; readonly seq: number }

/**
 * Options of an ordered consumer.
 *
 * @since 0.1.0
 * @category options
 */
export interface OrderedConsumerOptions {
  readonly filterSubjects?: ReadonlyArray<string> | undefined
  /** Default "all". */
  readonly deliver?: DeliverPolicy | undefined
  readonly headersOnly?: boolean | undefined
  /**
   * End the stream once every message that existed when the consumer was
   * created has been delivered (at once when there are none): on the last
   * message matching the filters then, or on one the server says has none
   * pending after it, whichever comes first. Without it the stream goes on
   * with new messages until it is interrupted.
   */
  readonly untilCaughtUp?: boolean | undefined
  /** How many messages the client buffers ahead of the reader (default 64). */
  readonly bufferMessages?: number | undefined
}

/**
 * How a durable consumer's messages are acknowledged.
 *
 * @since 0.1.0
 * @category models
 */
export type AckPolicy = "explicit" | "none" | "all"

/**
 * A durable consumer's configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerConfig {
  /** Durable name. */
  readonly name: string
  readonly filterSubjects?: ReadonlyArray<string> | undefined
  /** Default "all". */
  readonly deliver?: DeliverPolicy | undefined
  /** Default "explicit". */
  readonly ackPolicy?: AckPolicy | undefined
  /** Default 30 seconds. */
  readonly ackWait?: Duration.Input | undefined
  /** -1 (default): unlimited. */
  readonly maxDeliver?: number | undefined
  readonly backoff?: ReadonlyArray<Duration.Input> | undefined
  /** Default 1000. */
  readonly maxAckPending?: number | undefined
  readonly description?: string | undefined
}

/**
 * A durable consumer's configuration as the server reports it: what a
 * `ConsumerConfig` became, with the server's defaults (and, with `backoff`,
 * its first entry as the ack wait).
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerSettings {
  readonly name: string
  readonly filterSubjects: ReadonlyArray<string>
  readonly deliver: DeliverPolicy
  readonly ackPolicy: AckPolicy
  readonly ackWait: Duration.Duration
  /** -1: unlimited. */
  readonly maxDeliver: number
  readonly backoff: ReadonlyArray<Duration.Duration>
  /** -1: unlimited. */
  readonly maxAckPending: number
  readonly description: string | undefined
}

/**
 * A durable consumer's state: pending, acknowledged and redelivered messages.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerInfo {
  readonly stream: string
  readonly name: string
  /** The configuration as the server holds it, its defaults applied. */
  readonly config: ConsumerSettings
  readonly numPending: number
  readonly numAckPending: number
  readonly numRedelivered: number
  /**
   * Of the unacknowledged messages, those held back for a redelivery still
   * to come, as the consumer was told (a nak with a delay, progress reported:
   * a backoff step): the in-memory NATS, whose time is Effect's `Clock`,
   * says how many; nats-server does not, and this is `undefined`.
   *
   * @since 0.2.0
   */
  readonly numDelayed?: number | undefined
  readonly delivered: { readonly streamSeq: number; readonly consumerSeq: number }
  readonly ackFloor: { readonly streamSeq: number; readonly consumerSeq: number }
  /**
   * Paused: it delivers nothing until `pauseUntil` (see `consumers.pause`).
   *
   * @since 0.2.0
   */
  readonly paused: boolean
  /**
   * Until when it is paused; `undefined` when it is not.
   *
   * @since 0.2.0
   */
  readonly pauseUntil: Date | undefined
}

/**
 * What the server answers to a pause: whether the consumer is paused (not
 * when `until` has passed already), and until when.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConsumerPause {
  readonly paused: boolean
  readonly pauseUntil: Date | undefined
}

/**
 * Options of consuming a durable consumer.
 *
 * @since 0.1.0
 * @category options
 */
export interface ConsumeOptions {
  /** How many messages the client buffers ahead of the reader (default 64). */
  readonly bufferMessages?: number | undefined
}

/**
 * What the server told the client on connecting: its id, version and limits.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerInfo {
  readonly serverId: string
  readonly version: string
  readonly maxPayload: number
  /**
   * The longest protocol line (`PUB`/`HPUB`/`SUB` with subject, reply and
   * queue group) the server accepts: a longer one closes the connection.
   * 4,096 bytes unless the server says otherwise.
   */
  readonly maxControlLine: number
  readonly jetstream: boolean
}

/**
 * Whether the server is version `major.minor.patch` or later, for features
 * newer servers add (`serverAtLeast(client.server, 2, 10)`: metadata,
 * compression, several filter subjects).
 *
 * @since 0.1.0
 * @category utils
 */
export const serverAtLeast = (server: Pick<ServerInfo, "version">, major: number, minor: number, patch = 0): boolean =>
  Version.atLeast(server.version, major, minor, patch)

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/**
 * The JetStream operations of the client: publish, streams, consumers.
 *
 * @since 0.1.0
 * @category models
 */
export interface JetStream {
  readonly publish: (
    subject: string,
    data: Uint8Array,
    options?: JetStreamPublishOptions
  ) => Effect.Effect<PubAck, NatsError>
  readonly streams: {
    readonly add: (config: StreamConfig) => Effect.Effect<StreamInfo, NatsError>
    /** Changes the fields given; fields left out keep their current values. */
    readonly update: (config: StreamConfig) => Effect.Effect<StreamInfo, NatsError>
    /** Fails with reason `StreamNotFound` when absent. */
    readonly info: (name: string) => Effect.Effect<StreamInfo, NatsError>
    readonly delete: (name: string) => Effect.Effect<void, NatsError>
    readonly purge: (name: string, options?: PurgeOptions) => Effect.Effect<{ readonly purged: number }, NatsError>
    /** Every stream, or those that capture `subject`. */
    readonly list: (options?: { readonly subject?: string | undefined }) => Effect.Effect<
      ReadonlyArray<StreamInfo>,
      NatsError
    >
  }
  /**
   * One stored message (see `MessageQuery`); `None` when there is none. Uses
   * direct get when the stream allows it.
   */
  readonly getMessage: (stream: string, query: MessageQuery) => Effect.Effect<Option.Option<StoredMsg>, NatsError>
  /**
   * An ordered, ephemeral consumer read as a Stream. It pulls from the server
   * only as fast as the stream is read, and is deleted when the stream ends.
   * Fails with `StreamNotFound` when the stream is deleted while it is read.
   */
  readonly ordered: (stream: string, options?: OrderedConsumerOptions) => Stream.Stream<StoredMsg, NatsError>
  /**
   * `ordered`, with the consumer created (and its first pull sent) now rather
   * than when the Stream is first read; deleted when the scope closes. A
   * watch that must be live when a layer is built opens it so.
   */
  readonly openOrdered: (
    stream: string,
    options?: OrderedConsumerOptions
  ) => Effect.Effect<Stream.Stream<StoredMsg, NatsError>, NatsError, Scope.Scope>
  /** Durable consumers with acknowledgement. */
  readonly consumers: {
    /** Creates the consumer, or updates it when it exists. */
    readonly add: (stream: string, config: ConsumerConfig) => Effect.Effect<ConsumerInfo, NatsError>
    readonly info: (stream: string, name: string) => Effect.Effect<ConsumerInfo, NatsError>
    /**
     * Pauses the consumer until `until`: it delivers nothing, new messages
     * and redeliveries alike, until then or until `resume` (pulls wait).
     * Adding the consumer again (an update) keeps the pause. Needs
     * nats-server 2.11; an older one is refused with `FeatureNotSupported`
     * before anything is sent.
     *
     * @since 0.2.0
     */
    readonly pause: (stream: string, name: string, until: Date) => Effect.Effect<ConsumerPause, NatsError>
    /**
     * Resumes a paused consumer at once. Needs nats-server 2.11.
     *
     * @since 0.2.0
     */
    readonly resume: (stream: string, name: string) => Effect.Effect<void, NatsError>
    /**
     * Every consumer of the stream, by name: durable ones and, as the server
     * lists them, the ephemeral ones being read. Fails with `StreamNotFound`.
     */
    readonly list: (stream: string) => Effect.Effect<ReadonlyArray<ConsumerInfo>, NatsError>
    readonly delete: (stream: string, name: string) => Effect.Effect<void, NatsError>
    /**
     * Messages of a durable consumer, pulled as fast as the stream is read.
     * Fails with `ConsumerNotFound` or `StreamNotFound` when the consumer or
     * its stream is deleted while it is read.
     */
    readonly consume: (stream: string, name: string, options?: ConsumeOptions) => Stream.Stream<JsMsg, NatsError>
  }
}

/**
 * The NATS client: core publish, subscribe and request, and the JetStream operations the library uses.
 *
 * @since 0.1.0
 * @category services
 */
export class NatsClient extends Context.Service<NatsClient, {
  readonly server: ServerInfo
  /** Which driver: `nats.js`, `memory`, or a third one's name. */
  readonly adapter: string
  readonly publish: (subject: string, data: Uint8Array, options?: PublishOptions) => Effect.Effect<void, NatsError>
  /**
   * Subscribes now (the subscription is live when the Effect completes, so a
   * publish that follows reaches it) and returns its messages as a Stream.
   * A subscription the server refuses (permissions) fails here with
   * `AuthorizationError`. The subscription ends with the scope, or when the
   * Stream ends.
   */
  readonly subscribe: (
    subject: string,
    options?: SubscribeOptions
  ) => Effect.Effect<Stream.Stream<Msg, NatsError>, NatsError, Scope.Scope>
  readonly request: (subject: string, data: Uint8Array, options?: RequestOptions) => Effect.Effect<Msg, NatsError>
  /** Round trip to the server: everything sent before has been processed. */
  readonly flush: Effect.Effect<void, NatsError>
  readonly jetstream: JetStream
}>()("@nats-effect/core/NatsClient") {}

// ---------------------------------------------------------------------------
// Drivers
// ---------------------------------------------------------------------------

/**
 * A message the port hands to a driver: its subject, reply and headers
 * checked, headers encoded and measured as on the wire, and the whole within
 * the server's `max_payload` and `max_control_line`.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutgoingMsg {
  readonly subject: string
  readonly data: Uint8Array
  readonly headers: Headers | undefined
  /** Bytes of the headers on the wire (`NATS/1.0\r\n`, one line per value, `\r\n`), 0 without headers. */
  readonly headerBytes: number
  readonly reply: string | undefined
}

/**
 * What an ordered consumer's driver receives: the port's defaults applied,
 * filters checked. A driver's consumer goes on until its scope closes: the
 * port ends a listing (`untilCaughtUp`) itself.
 *
 * @since 0.1.0
 * @category models
 */
export interface OrderedConsumerRequest {
  readonly filterSubjects: ReadonlyArray<string>
  readonly deliver: DeliverPolicy
  readonly headersOnly: boolean
  readonly bufferMessages: number
}

/**
 * What an adapter implements: moving bytes and making the raw calls to a
 * NATS server (or to something that behaves like one). Every rule both
 * adapters must agree on (subject and name grammar, `max_payload`, the
 * control-line limit, header encoding, JetStream publish expectations,
 * argument checks, defaults) is applied by `make` before a driver is called,
 * so a driver sees only valid input. A driver fails with `NatsError`s; API
 * errors answered by the server are classified by the shared classifier
 * (`JetStreamApiError` codes become `StreamNotFound`, `StreamSealed`, ...).
 *
 * @since 0.1.0
 * @category models
 */
export interface Driver {
  /** Its name, as `NatsClient.adapter` reports it. */
  readonly adapter: string
  /** The server connected to now (it can change on a reconnect). */
  readonly server: () => ServerInfo
  readonly publish: (msg: OutgoingMsg) => Effect.Effect<void, NatsError>
  /**
   * Live when the Effect completes, or failed if the server refused it; the
   * subscription ends with the scope or the Stream.
   */
  readonly subscribe: (
    subject: string,
    queue: string | undefined
  ) => Effect.Effect<Stream.Stream<Msg, NatsError>, NatsError, Scope.Scope>
  /** `msg.reply` is `undefined`: the driver uses its own inbox. */
  readonly request: (msg: OutgoingMsg, timeout: Duration.Duration) => Effect.Effect<Msg, NatsError>
  readonly flush: Effect.Effect<void, NatsError>
  readonly jetstream: {
    /** `msg.headers` already carry `Nats-Msg-Id` and the expectations. */
    readonly publish: (msg: OutgoingMsg, timeout: Duration.Duration) => Effect.Effect<PubAck, NatsError>
    readonly streams: JetStream["streams"]
    /**
     * As `JetStream.getMessage`; `lastBySubject` may also be a filter with
     * wildcards (the port asks so for the last message a listing delivers).
     */
    readonly getMessage: JetStream["getMessage"]
    /** Creates the consumer in the scope (deleted when it closes) and returns its messages. */
    readonly ordered: (
      stream: string,
      request: OrderedConsumerRequest
    ) => Effect.Effect<Stream.Stream<StoredMsg, NatsError>, NatsError, Scope.Scope>
    readonly consumers: {
      readonly add: JetStream["consumers"]["add"]
      readonly info: JetStream["consumers"]["info"]
      /** Pauses until `until`, or resumes (`undefined`): the server's one pause request. */
      readonly pause: (
        stream: string,
        name: string,
        until: Date | undefined
      ) => Effect.Effect<ConsumerPause, NatsError>
      /** In any order: the port sorts them. */
      readonly list: JetStream["consumers"]["list"]
      readonly delete: JetStream["consumers"]["delete"]
      readonly consume: (stream: string, name: string, bufferMessages: number) => Stream.Stream<JsMsg, NatsError>
    }
  }
}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category options
 */
export interface MakeOptions {
  /** Default timeout of a JetStream publish, 5 seconds unless given. */
  readonly jetstreamTimeout?: Duration.Input | undefined
}

/**
 * The port around a driver: checks every argument, applies the server's
 * limits and the defaults, encodes headers and JetStream expectations, then
 * calls the driver. Both built-in adapters are drivers made into a
 * `NatsClient` here; a third one is written the same way.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (driver: Driver, options?: MakeOptions) => NatsClient["Service"] = Port.make

// ---------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------

/**
 * TLS options of the nats.js adapter.
 *
 * @since 0.1.0
 * @category options
 */
export interface TlsOptions {
  /** PEM file paths. */
  readonly caFile?: string | undefined
  readonly certFile?: string | undefined
  readonly keyFile?: string | undefined
  /** Require TLS even if the server does not ask for it. */
  readonly required?: boolean | undefined
}

/**
 * Options of the nats.js adapter: servers, credentials, TLS, reconnection.
 *
 * @since 0.1.0
 * @category options
 */
export interface NatsClientOptions {
  /**
   * Default `nats://127.0.0.1:4222`. User info in a URL
   * (`nats://user:password@host`, `nats://token@host`) is taken out into
   * `user` / `pass` or `token` (those given here win), and URLs are shown
   * without it in logs and errors.
   */
  readonly servers?: string | ReadonlyArray<string> | undefined
  readonly name?: string | undefined
  readonly user?: string | undefined
  readonly pass?: Redacted.Redacted<string> | undefined
  readonly token?: Redacted.Redacted<string> | undefined
  /** An nkey seed (starts with `SU`). */
  readonly nkeySeed?: Redacted.Redacted<string> | undefined
  /** Path of a `.creds` file (JWT and nkey seed). */
  readonly credsFile?: string | undefined
  readonly tls?: TlsOptions | undefined
  /** Connection timeout per attempt, default 5 seconds. */
  readonly timeout?: Duration.Input | undefined
  /** Default true. */
  readonly reconnect?: boolean | undefined
  /** Default -1 (forever) once connected. */
  readonly maxReconnectAttempts?: number | undefined
  /** Default 2 seconds. */
  readonly reconnectTimeWait?: Duration.Input | undefined
  readonly pingInterval?: Duration.Input | undefined
  /** Timeout of the JetStream API calls, default 5 seconds. */
  readonly jetstreamTimeout?: Duration.Input | undefined
}

/**
 * Connects to NATS with nats.js; drains the connection when the layer is
 * released. Once connected it logs one line (Info):
 * `connected to NATS at nats://127.0.0.1:4222 (nats-server 2.9.10, JetStream on)`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: NatsClientOptions = {}): Layer.Layer<NatsClient, NatsError> =>
  Layer.effect(NatsClient, connect(options))

const connect = (options: NatsClientOptions) =>
  Effect.map(NatsJs.make(options), (driver) => make(driver, { jetstreamTimeout: options.jetstreamTimeout }))

/**
 * Connects with options read from `Config`. Without an argument it reads the
 * environment: `NATS_URL` (comma-separated servers, default
 * `nats://127.0.0.1:4222`, credentials allowed in the URLs), `NATS_USER`, `NATS_PASSWORD`, `NATS_TOKEN`,
 * `NATS_CREDS`, `NATS_NKEY_SEED`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Wrap<NatsClientOptions> = defaultConfig
): Layer.Layer<NatsClient, NatsError | Config.ConfigError> =>
  Layer.effect(NatsClient, Effect.flatMap(Config.unwrap(config), connect))

const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
  config.pipe(Config.option, Config.map(Option.getOrUndefined))

/**
 * What `layerConfig()` reads without an argument, to extend:
 * `layerConfig({ ...NatsClient.defaultConfig, tls: ... })`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultConfig = {
  servers: Config.String("NATS_URL").pipe(
    Config.withDefault("nats://127.0.0.1:4222"),
    Config.map((url) => url.split(",").map((s) => s.trim()).filter((s) => s.length > 0))
  ),
  user: optional(Config.String("NATS_USER")),
  pass: optional(Config.Redacted("NATS_PASSWORD")),
  token: optional(Config.Redacted("NATS_TOKEN")),
  credsFile: optional(Config.String("NATS_CREDS")),
  nkeySeed: optional(Config.Redacted("NATS_NKEY_SEED"))
} satisfies Config.Wrap<NatsClientOptions>

/**
 * Options of the in-memory NATS: the server limits it mimics.
 *
 * @since 0.1.0
 * @category options
 */
export interface MemoryOptions {
  /** Default 1 MiB, as nats-server. */
  readonly maxPayload?: number | undefined
  /** Default 4,096 bytes, as nats-server. */
  readonly maxControlLine?: number | undefined
}

/**
 * The nats-server version whose behaviour the in-memory NATS has; its
 * `server.version` says the same, with a `-memory` suffix.
 *
 * @since 0.1.0
 * @category constants
 */
export const memoryServerVersion: string = Memory.serverVersion

/**
 * A NATS server with JetStream inside the process: no network, no disk. Each
 * build is its own server. Time comes from Effect's `Clock`, so `TestClock`
 * drives ages and redelivery. Logs one line (Info) when built:
 * `using the in-memory NATS (no server; JetStream on)`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<NatsClient> =>
  Layer.effect(NatsClient, Effect.map(Memory.make(options), (driver) => make(driver)))
