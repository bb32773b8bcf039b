/**
 * The in-memory JetStream: its streams and their consumers, and the API
 * operations on them with the server's answers. Synchronous, with the time
 * passed in (from Effect's `Clock`); `client.ts` makes Effects of it.
 */
import { Option, Result } from "effect"
import type {
  MessageQuery,
  ConsumerConfig,
  ConsumerInfo,
  ConsumerPause,
  OrderedConsumerOptions,
  PurgeOptions,
  StoredMsg,
  StreamConfig,
  StreamInfo
} from "../../NatsClient.ts"
import type { NatsError } from "../../NatsError.ts"
import * as Config from "./config.ts"
import { Consumer } from "./consumer.ts"
import * as Errors from "./errors.ts"
import { type Entry, MemStream } from "./stream.ts"
import { hasWildcard, matcher, subjectsCollide } from "../../NatsSubject.ts"

interface StreamEntry {
  readonly stream: MemStream
  /** Durable consumers by name. */
  readonly consumers: Map<string, Consumer>
  /** Ordered consumers being read. */
  readonly ordered: Set<Consumer>
}

// Cached look-ups of the stream capturing a subject, dropped when streams change.
const maxCachedSubjects = 8192

export class JetStreamServer {
  private readonly streams = new Map<string, StreamEntry>()
  private readonly captureCache = new Map<string, StreamEntry | null>()
  private orderedCount = 0

  /** The stream whose subjects capture `subject`, if any. */
  streamFor(subject: string): MemStream | undefined {
    return this.entryFor(subject)?.stream
  }

  addStream(config: StreamConfig, now: number): Result.Result<StreamInfo, NatsError> {
    const context = { operation: "stream add", stream: config.name }
    const resolved = Config.streamForCreate(config, context)
    if (Result.isFailure(resolved)) return Result.fail(resolved.failure)
    const existing = this.streams.get(config.name)
    if (existing !== undefined) {
      return Config.sameStreamConfig(existing.stream.config, resolved.success)
        ? Result.succeed(this.info(existing, now))
        : Result.fail(Errors.api("StreamNameExists", context))
    }
    if (Config.overlapsAny(resolved.success.subjects, this.subjectsOfOthers(undefined))) {
      return Result.fail(Errors.api("StreamSubjectOverlap", context))
    }
    const entry: StreamEntry = {
      stream: new MemStream(resolved.success, new Date(now)),
      consumers: new Map(),
      ordered: new Set()
    }
    this.streams.set(config.name, entry)
    this.captureCache.clear()
    return Result.succeed(this.info(entry, now))
  }

  updateStream(config: StreamConfig, now: number): Result.Result<StreamInfo, NatsError> {
    const context = { operation: "stream update", stream: config.name }
    const entry = this.streams.get(config.name)
    if (entry === undefined) return Result.fail(Errors.streamNotFound(config.name, context.operation))
    const resolved = Config.streamForUpdate(entry.stream.config, config, context)
    if (Result.isFailure(resolved)) return Result.fail(resolved.failure)
    if (Config.overlapsAny(resolved.success.subjects, this.subjectsOfOthers(entry))) {
      return Result.fail(Errors.api("StreamSubjectOverlap", context))
    }
    entry.stream.reconfigure(resolved.success, now)
    for (const consumer of this.consumersOf(entry)) consumer.streamReconfigured()
    this.captureCache.clear()
    return Result.succeed(this.info(entry, now))
  }

  streamInfo(name: string, now: number): Result.Result<StreamInfo, NatsError> {
    return Result.map(this.lookup(name, "stream info"), (entry) => this.info(entry, now))
  }

  deleteStream(name: string): Result.Result<void, NatsError> {
    const found = this.lookup(name, "stream delete")
    if (Result.isFailure(found)) return Result.fail(found.failure)
    this.streams.delete(name)
    this.captureCache.clear()
    const streamGone = Errors.streamNotFound(name, "consume")
    for (const consumer of found.success.consumers.values()) consumer.close(streamGone)
    const gone = Errors.streamNotFound(name, "ordered consumer")
    for (const consumer of found.success.ordered) consumer.close(gone)
    found.success.stream.clear()
    return Result.void
  }

  purge(name: string, options: PurgeOptions | undefined, now: number): Result.Result<number, NatsError> {
    const context = { operation: "stream purge", stream: name }
    const found = this.lookup(name, context.operation)
    if (Result.isFailure(found)) return Result.fail(found.failure)
    const stream = found.success.stream
    if (stream.config.sealed) return Result.fail(Errors.api("StreamSealed", context))
    if (stream.config.denyPurge) {
      return Result.fail(Errors.api("StreamPurgeFailed", context, { err: "stream purge not permitted" }))
    }
    stream.expire(now)
    return Result.succeed(stream.purge(options))
  }

  /** Every stream, or those whose subjects collide with `subject`, by name. */
  list(subject: string | undefined, now: number): Array<StreamInfo> {
    const entries = [...this.streams.values()]
      .filter((entry) => subject === undefined || entry.stream.config.subjects.some((s) => subjectsCollide(subject, s)))
      .sort((a, b) => a.stream.name < b.stream.name ? -1 : a.stream.name > b.stream.name ? 1 : 0)
    return entries.map((entry) => this.info(entry, now))
  }

  getMessage(
    name: string,
    query: MessageQuery,
    now: number
  ): Result.Result<Option.Option<StoredMsg>, NatsError> {
    return Result.map(this.lookup(name, "get message"), ({ stream }) => {
      stream.expire(now)
      const entry = "nextBySubject" in query
        ? stream.nextMatching(
          query.seq,
          hasWildcard(query.nextBySubject) ? undefined : query.nextBySubject,
          matcher(query.nextBySubject)
        )
        : "seq" in query
        ? stream.get(query.seq)
        : stream.lastBySubject(query.lastBySubject)
      return entry === undefined ? Option.none() : Option.some(toStoredMsg(name, entry, 0, false))
    })
  }

  addConsumer(streamName: string, config: ConsumerConfig, now: number): Result.Result<ConsumerInfo, NatsError> {
    const context = { operation: "consumer add", stream: streamName, consumer: config.name }
    const found = this.lookup(streamName, context.operation)
    if (Result.isFailure(found)) return Result.fail(found.failure)
    const { consumers, stream } = found.success
    stream.expire(now)
    const settings = Config.consumer(config, context)
    if (Result.isFailure(settings)) return Result.fail(settings.failure)
    const existing = consumers.get(config.name)
    if (existing !== undefined) {
      const problem = Config.consumerUpdateProblem(existing.settings, settings.success)
      if (problem !== undefined) return Result.fail(Errors.api("ConsumerCreate", context, { err: problem }))
      existing.update(settings.success)
      return Result.succeed(existing.info(now))
    }
    const retentionProblem = this.workQueueProblem(found.success, settings.success, context)
    if (retentionProblem !== undefined) return Result.fail(retentionProblem)
    const consumer = new Consumer(stream, settings.success, true)
    consumers.set(config.name, consumer)
    stream.listeners.add(consumer)
    return Result.succeed(consumer.info(now))
  }

  consumer(streamName: string, name: string, operation: string, now: number): Result.Result<Consumer, NatsError> {
    const found = this.lookup(streamName, operation)
    if (Result.isFailure(found)) return Result.fail(found.failure)
    found.success.stream.expire(now)
    const consumer = found.success.consumers.get(name)
    return consumer === undefined
      ? Result.fail(Errors.consumerNotFound(streamName, name, operation))
      : Result.succeed(consumer)
  }

  /** Pauses a durable consumer until `until` (ms), or resumes it (`undefined`). */
  pauseConsumer(
    streamName: string,
    name: string,
    until: number | undefined,
    now: number
  ): Result.Result<ConsumerPause, NatsError> {
    const operation = until === undefined ? "consumer resume" : "consumer pause"
    return Result.map(this.consumer(streamName, name, operation, now), (consumer) => consumer.pause(until, now))
  }

  /** Every consumer of the stream, durable and ordered, as nats-server lists them. */
  listConsumers(streamName: string, now: number): Result.Result<Array<ConsumerInfo>, NatsError> {
    const found = this.lookup(streamName, "consumer list")
    if (Result.isFailure(found)) return Result.fail(found.failure)
    found.success.stream.expire(now)
    return Result.succeed(Array.from(this.consumersOf(found.success), (consumer) => consumer.info(now)))
  }

  deleteConsumer(streamName: string, name: string): Result.Result<void, NatsError> {
    const operation = "consumer delete"
    const found = this.lookup(streamName, operation)
    if (Result.isFailure(found)) return Result.fail(found.failure)
    const consumer = found.success.consumers.get(name)
    if (consumer === undefined) return Result.fail(Errors.consumerNotFound(streamName, name, operation))
    this.removeConsumer(consumer)
    consumer.close(Errors.consumerNotFound(streamName, name, "consume"))
    return Result.void
  }

  /** An ordered consumer: ephemeral, no acks; remove it with `removeConsumer` when done. */
  createOrdered(
    streamName: string,
    options: OrderedConsumerOptions | undefined,
    now: number
  ): Result.Result<Consumer, NatsError> {
    const context = { operation: "ordered consumer", stream: streamName }
    const found = this.lookup(streamName, context.operation)
    if (Result.isFailure(found)) return Result.fail(found.failure)
    const { ordered, stream } = found.success
    if (stream.config.retention === "workqueue") return Result.fail(Errors.api("ConsumerPullRequiresAck", context))
    stream.expire(now)
    const name = `ordered_${++this.orderedCount}`
    // As nats.js: without filters the consumer takes every subject ('>').
    const filterSubjects = options?.filterSubjects === undefined || options.filterSubjects.length === 0
      ? [">"]
      : options.filterSubjects
    const settings = Config.consumer(
      { name, filterSubjects, deliver: options?.deliver, ackPolicy: "none" },
      context
    )
    if (Result.isFailure(settings)) return Result.fail(settings.failure)
    const consumer = new Consumer(stream, { ...settings.success, maxDeliver: 1 }, false)
    ordered.add(consumer)
    stream.listeners.add(consumer)
    return Result.succeed(consumer)
  }

  /** Removes a consumer: durable (deleted) or ordered (its reader is done). */
  removeConsumer(consumer: Consumer): void {
    const entry = this.streams.get(consumer.stream.name)
    if (entry === undefined || entry.stream !== consumer.stream) return
    if (consumer.durable) entry.consumers.delete(consumer.name)
    else entry.ordered.delete(consumer)
    consumer.stream.listeners.delete(consumer)
    consumer.stream.dropUnwanted(consumer.ackFloorSeq + 1)
  }

  /** Closes every consumer (the server shuts down). */
  shutdown(error: NatsError): void {
    for (const entry of this.streams.values()) {
      for (const consumer of this.consumersOf(entry)) consumer.close(error)
    }
  }

  private lookup(name: string, operation: string): Result.Result<StreamEntry, NatsError> {
    const entry = this.streams.get(name)
    return entry === undefined ? Result.fail(Errors.streamNotFound(name, operation)) : Result.succeed(entry)
  }

  private info(entry: StreamEntry, now: number): StreamInfo {
    entry.stream.expire(now)
    return {
      config: entry.stream.config,
      state: entry.stream.state(entry.consumers.size + entry.ordered.size),
      created: entry.stream.created
    }
  }

  private *consumersOf(entry: StreamEntry): Iterable<Consumer> {
    yield* entry.consumers.values()
    yield* entry.ordered
  }

  private *subjectsOfOthers(self: StreamEntry | undefined): Iterable<ReadonlyArray<string>> {
    for (const entry of this.streams.values()) {
      if (entry !== self) yield entry.stream.config.subjects
    }
  }

  private entryFor(subject: string): StreamEntry | undefined {
    const cached = this.captureCache.get(subject)
    if (cached !== undefined) return cached ?? undefined
    let found: StreamEntry | null = null
    for (const entry of this.streams.values()) {
      if (entry.stream.captures(subject)) {
        found = entry
        break
      }
    }
    if (this.captureCache.size >= maxCachedSubjects) this.captureCache.clear()
    this.captureCache.set(subject, found)
    return found ?? undefined
  }

  /** Work-queue streams give each message to one consumer (`addConsumerWithAssignment`). */
  private workQueueProblem(
    entry: StreamEntry,
    settings: Config.ConsumerSettings,
    context: Errors.ErrorContext
  ): NatsError | undefined {
    if (entry.stream.config.retention !== "workqueue") return undefined
    if (settings.ackPolicy !== "explicit") return Errors.api("ConsumerWorkQueueExplicitAck", context)
    if (entry.consumers.size > 0) {
      if (settings.filterSubjects.length === 0) return Errors.api("ConsumerWorkQueueMultipleUnfiltered", context)
      for (const other of entry.consumers.values()) {
        const otherFilters = other.settings.filterSubjects
        const overlaps = otherFilters.length === 0 || settings.filterSubjects.some((filter) =>
          otherFilters.some((otherFilter) => subjectsCollide(filter, otherFilter))
        )
        if (overlaps) return Errors.api("ConsumerWorkQueueNotUnique", context)
      }
    }
    if (settings.deliver !== "all") return Errors.api("ConsumerWorkQueueDeliverAll", context)
    return undefined
  }
}

const msgSizeHeader = "Nats-Msg-Size"
const noData = new Uint8Array(0)

/** A stored message as the port gives it; headers only adds `Nats-Msg-Size` and drops the data. */
export const toStoredMsg = (stream: string, entry: Entry, pending: number, headersOnly: boolean): StoredMsg => ({
  stream,
  subject: entry.subject,
  seq: entry.seq,
  time: new Date(entry.time),
  data: headersOnly ? noData : entry.data,
  headers: headersOnly ? { ...entry.headers, [msgSizeHeader]: [String(entry.data.length)] } : entry.headers,
  pending
})
