/**
 * A JetStream consumer in memory, durable or ordered (an ephemeral one with
 * no acks): where it is in its stream, which deliveries await an ack, what
 * to redeliver and when, whether it is paused, as nats-server 2.15's
 * `consumer.go` does it (`selectStartingSeqNo`, `getNextMsg`, `processAckMsg`, `processNak`,
 * `checkPending`, `infoWithSnap`).
 *
 * Its readers are pull requests (`addReader`): each is told of every change
 * that may let it deliver (a message stored, a nak, an ack that makes room),
 * once the stream operation that made it is done, and takes what it has room
 * for with `next`, which also checks the ack deadlines. A reader with
 * nothing to take asks again at the time `next` returns. Synchronous: the
 * caller passes the time, read from Effect's `Clock`.
 */
import { Duration } from "effect"
import type { ConsumerInfo, ConsumerPause } from "../../NatsClient.ts"
import type { NatsError } from "../../NatsError.ts"
import type { ConsumerSettings } from "./config.ts"
import type { Entry, MemStream, StreamListener } from "./stream.ts"
import { matcher, hasWildcard, isSubsetMatch } from "../../NatsSubject.ts"

export type Next =
  | {
    readonly _tag: "Deliver"
    readonly entry: Entry
    /** This delivery's consumer sequence. */
    readonly consumerSeq: number
    readonly deliveryCount: number
    /** Messages left to deliver after this one. */
    readonly pending: number
  }
  /** Nothing to deliver now; ask again on a change, or at `until` (ms) at the latest. */
  | { readonly _tag: "Wait"; readonly until: number | undefined }
  /** The consumer or its stream was deleted. */
  | { readonly _tag: "Gone"; readonly error: NatsError }

interface Unacked {
  /** Consumer sequence of the first delivery. */
  readonly consumerSeq: number
  /** When the ack-wait timer (re)started, ms. */
  timestamp: number
  /** Held back on purpose since its delivery: a nak with a delay, or progress reported. */
  delayed: boolean
}

/** Deliver-last-per-subject: the last message of each subject first, then what comes after `resume`. */
interface SkipList {
  readonly seqs: ReadonlyArray<number>
  index: number
  readonly remaining: Set<number>
  readonly resume: number
}


export class Consumer implements StreamListener {
  settings: ConsumerSettings
  readonly stream: MemStream
  readonly durable: boolean

  private literal: string | undefined
  private matches: ((subject: string) => boolean) | undefined
  /** Next stream sequence to look at. */
  private cursor: number
  private nextConsumerSeq = 1
  private readonly unacked = new Map<number, Unacked>()
  /** Redeliveries so far, by stream sequence. */
  private readonly redeliveries = new Map<number, number>()
  private redeliverQueue: Array<number> = []
  private readonly redeliverSet = new Set<number>()
  private ackFloor = { consumerSeq: 0, streamSeq: 0 }
  private numPending: number
  private skip: SkipList | undefined
  /** Earliest ack deadline not yet checked, ms. */
  private nextCheck = Infinity
  private readonly readers = new Set<() => void>()
  /** Whether the readers are to be told of a change already. */
  private announcing = false
  private gone: NatsError | undefined
  /** Delivers nothing before this time (ms), set by a pause. */
  private pauseUntil: number | undefined

  /** `durable`, or ordered (ephemeral, removed when its reader is done). */
  constructor(stream: MemStream, settings: ConsumerSettings, durable: boolean) {
    this.stream = stream
    this.settings = settings
    this.durable = durable
    this.setFilter(settings.filterSubjects)
    this.cursor = this.startingSeq()
    this.ackFloor = { consumerSeq: 0, streamSeq: this.cursor - 1 }
    this.numPending = this.skip !== undefined ? this.skip.seqs.length : stream.countFrom(this.cursor, this.matches)
  }

  get name(): string {
    return this.settings.name
  }

  /** The stream sequence below which every message is acknowledged. */
  get ackFloorSeq(): number {
    return this.ackFloor.streamSeq
  }

  /** Registers a reader, told of every change it may deliver after; returns its removal. */
  addReader(reader: () => void): () => void {
    this.readers.add(reader)
    return () => this.readers.delete(reader)
  }

  /** Applies an update of a durable's settings (filters, limits, timers). */
  update(settings: ConsumerSettings): void {
    const filtersChanged = settings.filterSubjects.join(" ") !== this.settings.filterSubjects.join(" ")
    this.settings = settings
    if (filtersChanged) {
      this.setFilter(settings.filterSubjects)
      if (this.skip === undefined) this.numPending = this.stream.countFrom(this.cursor, this.matches)
    }
    this.nextCheck = -Infinity
    this.changed()
  }

  /** The stream's subjects changed: a filter that covered them all may not any more. */
  streamReconfigured(): void {
    this.setFilter(this.settings.filterSubjects)
  }

  /**
   * Paused until `until` (ms), or resumed (`undefined`); answers as the
   * server does. An update of its settings keeps it.
   */
  pause(until: number | undefined, now: number): ConsumerPause {
    this.pauseUntil = until
    this.changed()
    return this.pauseState(now)
  }

  /** The consumer or its stream is deleted: readers end with `error`. */
  close(error: NatsError): void {
    this.gone = error
    this.changed()
  }

  next(now: number): Next {
    if (this.gone !== undefined) return { _tag: "Gone", error: this.gone }
    if (this.pauseUntil !== undefined && now < this.pauseUntil) return { _tag: "Wait", until: this.pauseUntil }
    // What expired by now goes first: with markers, that is more to deliver.
    this.stream.expire(now)
    this.checkPending(now)
    const redelivery = this.nextRedelivery(now)
    if (redelivery !== undefined) return redelivery

    const { ackPolicy, maxAckPending } = this.settings
    if (ackPolicy !== "none" && maxAckPending > 0 && this.unacked.size >= maxAckPending) {
      return this.wait()
    }
    let entry = this.nextFromSkipList()
    if (entry === undefined) {
      entry = this.stream.nextMatching(this.cursor, this.literal, this.matches)
      if (entry === undefined) {
        this.cursor = Math.max(this.cursor, this.stream.lastSequence + 1)
        return this.wait()
      }
    }
    this.cursor = Math.max(this.cursor, entry.seq + 1)
    this.numPending--
    const consumerSeq = this.nextConsumerSeq++
    if (ackPolicy === "none") {
      this.ackFloor = { consumerSeq, streamSeq: entry.seq }
      this.stream.acknowledged(entry.seq)
    } else {
      this.unacked.set(entry.seq, { consumerSeq, timestamp: now, delayed: false })
      this.nextCheck = Math.min(this.nextCheck, now + this.ackWaitFor(entry.seq))
    }
    return { _tag: "Deliver", entry, consumerSeq, deliveryCount: 1, pending: this.numPending }
  }

  /** Ack (and term, which acks without a redelivery): `processAckMsg`. */
  ack(seq: number, consumerSeq: number): void {
    const { ackPolicy, maxAckPending } = this.settings
    if (ackPolicy === "none") return
    const wasFull = maxAckPending > 0 && this.unacked.size >= maxAckPending
    if (ackPolicy === "all") {
      if (consumerSeq <= this.ackFloor.consumerSeq || seq <= this.ackFloor.streamSeq) return
      const previousFloor = this.ackFloor.streamSeq
      this.ackFloor = { consumerSeq, streamSeq: seq }
      for (const pendingSeq of [...this.unacked.keys()]) {
        if (pendingSeq <= seq) this.forget(pendingSeq)
      }
      if (this.stream.config.retention !== "limits") {
        for (let acked = previousFloor + 1; acked <= seq; acked++) this.stream.acknowledged(acked)
      }
    } else {
      const unacked = this.unacked.get(seq)
      const firstConsumerSeq = unacked?.consumerSeq ?? consumerSeq
      this.forget(seq)
      if (this.unacked.size === 0) {
        this.ackFloor = { consumerSeq: this.nextConsumerSeq - 1, streamSeq: this.cursor - 1 }
      } else if (firstConsumerSeq === this.ackFloor.consumerSeq + 1) {
        // Unacked deliveries are kept in stream order: the first is the oldest.
        const [oldestSeq, oldest] = this.unacked.entries().next().value!
        this.ackFloor = { consumerSeq: oldest.consumerSeq - 1, streamSeq: oldestSeq - 1 }
      }
      this.stream.acknowledged(seq)
    }
    if (wasFull) this.changed()
  }

  /** Negative ack: redeliver now, or `delayMs` from now (`processNak`). */
  nak(seq: number, consumerSeq: number, delayMs: number, now: number): void {
    if (this.settings.ackPolicy === "none") return
    if (consumerSeq <= this.ackFloor.consumerSeq || consumerSeq >= this.nextConsumerSeq) return
    const unacked = this.unacked.get(seq)
    if (unacked === undefined) return
    if (delayMs > 0) {
      this.removeFromRedeliverQueue(seq)
      // As the server: the timer restarts so that it expires `delay` from now.
      unacked.timestamp = now - this.settings.ackWaitMs + delayMs
      unacked.delayed = true
      this.nextCheck = Math.min(this.nextCheck, unacked.timestamp + this.ackWaitFor(seq))
      this.changed()
      return
    }
    if (!this.redeliverSet.has(seq)) {
      this.redeliverQueue.push(seq)
      this.redeliverSet.add(seq)
    }
    this.changed()
  }

  /** Still working on it: the ack-wait timer restarts (`progressUpdate`). */
  working(seq: number, now: number): void {
    const unacked = this.unacked.get(seq)
    if (unacked === undefined) return
    unacked.timestamp = now
    unacked.delayed = true
  }

  info(now: number): ConsumerInfo {
    let numDelayed = 0
    for (const [seq, unacked] of this.unacked) {
      if (unacked.delayed && !this.redeliverSet.has(seq) && unacked.timestamp + this.ackWaitFor(seq) > now) numDelayed++
    }
    return {
      stream: this.stream.name,
      name: this.settings.name,
      config: {
        name: this.settings.name,
        filterSubjects: this.settings.filterSubjects,
        deliver: this.settings.deliver,
        ackPolicy: this.settings.ackPolicy,
        ackWait: Duration.millis(this.settings.ackWaitMs),
        maxDeliver: this.settings.maxDeliver,
        backoff: this.settings.backoffMs.map((ms) => Duration.millis(ms)),
        maxAckPending: this.settings.maxAckPending,
        description: this.settings.description
      },
      numPending: Math.max(0, this.numPending),
      numAckPending: this.unacked.size,
      // With a single delivery allowed there are no redeliveries to report (the server keeps the count).
      numRedelivered: this.settings.maxDeliver === 1 ? 0 : this.redeliveries.size,
      numDelayed,
      delivered: { consumerSeq: this.nextConsumerSeq - 1, streamSeq: this.cursor - 1 },
      ackFloor: { ...this.ackFloor },
      ...this.pauseState(now)
    }
  }

  /** The pause time is kept once it has passed, as the server keeps it; paused only before it. */
  private pauseState(now: number): ConsumerPause {
    const paused = this.pauseUntil !== undefined && now < this.pauseUntil
    return { paused, pauseUntil: paused ? new Date(this.pauseUntil!) : undefined }
  }

  wants(subject: string): boolean {
    return this.matches === undefined || this.matches(subject)
  }

  needsAck(entry: Entry): boolean {
    if (!this.wants(entry.subject) || entry.seq <= this.ackFloor.streamSeq) return false
    return this.settings.ackPolicy !== "explicit" || entry.seq >= this.cursor || this.unacked.has(entry.seq)
  }

  within(filter: string): boolean {
    const filters = this.settings.filterSubjects
    return filters.length > 0 && filters.every((own) => isSubsetMatch(own, filter))
  }

  onPurged(seq: number): void {
    if (this.skip !== undefined) return
    this.cursor = Math.max(this.cursor, seq)
    if (this.ackFloor.streamSeq < seq - 1) {
      const consumerSeq = this.unacked.size === 0 ? this.nextConsumerSeq - 1 : this.ackFloor.consumerSeq
      this.ackFloor = { consumerSeq, streamSeq: seq - 1 }
    }
    this.numPending = this.stream.countFrom(this.cursor, this.matches)
  }

  onStored(entry: Entry): void {
    if (this.matches !== undefined && !this.matches(entry.subject)) return
    if (entry.seq >= this.cursor) this.numPending++
    this.changed()
  }

  onRemoved(entry: Entry): void {
    if ((this.matches === undefined || this.matches(entry.subject)) && this.isUndelivered(entry.seq)) {
      this.numPending--
    }
    // A removed message awaiting its ack is done with, as if terminated (`decStreamPending`).
    const unacked = this.unacked.get(entry.seq)
    if (unacked !== undefined) this.ack(entry.seq, unacked.consumerSeq)
  }

  private changed(): void {
    if (this.readers.size === 0 || this.announcing) return
    this.announcing = true
    this.stream.afterOperation(this.announce)
  }

  private readonly announce = (): void => {
    this.announcing = false
    for (const reader of [...this.readers]) reader()
  }

  /** Nothing now: ask again on a change, at the next ack deadline, or when an expiry stores a marker. */
  private wait(): Next {
    const until = Math.min(this.nextCheck, this.stream.nextMarkerAt() ?? Infinity)
    return { _tag: "Wait", until: Number.isFinite(until) ? until : undefined }
  }

  private setFilter(filters: ReadonlyArray<string>): void {
    const covering = filters.length === 0 ||
      filters.some((filter) => filter === ">" || this.stream.config.subjects.every((subject) => subject === filter))
    if (covering) {
      this.literal = undefined
      this.matches = undefined
    } else if (filters.length === 1 && !hasWildcard(filters[0]!)) {
      this.literal = filters[0]!
      this.matches = matcher(filters[0]!)
    } else {
      const matchers = filters.map(matcher)
      this.literal = undefined
      this.matches = (subject) => matchers.some((matches) => matches(subject))
    }
  }

  /** `selectStartingSeqNo`. */
  private startingSeq(): number {
    const stream = this.stream
    const first = stream.firstSequence
    const last = stream.lastSequence
    const deliver = this.settings.deliver
    let seq: number
    if (deliver === "all") {
      seq = first
    } else if (deliver === "last") {
      seq = this.matches === undefined ? last : (stream.lastPerSubject(this.matches).at(-1) ?? 0)
    } else if (deliver === "last_per_subject") {
      const seqs = stream.lastPerSubject(this.matches)
      if (seqs.length > 0) {
        this.skip = { seqs, index: 0, remaining: new Set(seqs), resume: last }
        seq = seqs[0]!
      } else {
        seq = last
      }
    } else if (deliver === "new") {
      seq = last + 1
    } else if ("startSequence" in deliver) {
      seq = deliver.startSequence
    } else {
      seq = stream.seqFromTime(deliver.startTime.getTime())
    }
    if (first === 0) return 1
    if (seq < first) return first
    if (seq > last) return last + 1
    return seq
  }

  private nextFromSkipList(): Entry | undefined {
    const skip = this.skip
    if (skip === undefined) return undefined
    let entry: Entry | undefined
    while (entry === undefined && skip.index < skip.seqs.length) {
      const seq = skip.seqs[skip.index++]!
      skip.remaining.delete(seq)
      entry = this.stream.get(seq)
    }
    if (skip.index >= skip.seqs.length) {
      this.skip = undefined
      this.cursor = Math.max(this.cursor, skip.resume + 1)
    }
    return entry
  }

  private isUndelivered(seq: number): boolean {
    const skip = this.skip
    if (skip !== undefined) return skip.remaining.has(seq) || seq > skip.resume
    return seq >= this.cursor
  }

  /** The ack wait for the next delivery of `seq`: its backoff step, or `ackWait`. */
  private ackWaitFor(seq: number): number {
    const backoff = this.settings.backoffMs
    if (backoff.length === 0) return this.settings.ackWaitMs
    const redelivered = this.redeliveries.get(seq) ?? 0
    return backoff[Math.min(redelivered, backoff.length - 1)]!
  }

  /** Queues the deliveries whose ack wait has passed (`checkPending`). */
  private checkPending(now: number): void {
    if (now < this.nextCheck) return
    let nextCheck = Infinity
    const expired: Array<number> = []
    for (const [seq, unacked] of this.unacked) {
      if (this.redeliverSet.has(seq)) continue
      const deadline = unacked.timestamp + this.ackWaitFor(seq)
      if (deadline <= now) expired.push(seq)
      else nextCheck = Math.min(nextCheck, deadline)
    }
    this.nextCheck = nextCheck
    expired.sort((a, b) => a - b)
    for (const seq of expired) {
      this.unacked.get(seq)!.timestamp = now
      this.redeliverQueue.push(seq)
      this.redeliverSet.add(seq)
    }
  }

  private nextRedelivery(now: number): Next | undefined {
    while (this.redeliverQueue.length > 0) {
      const seq = this.redeliverQueue.shift()!
      this.redeliverSet.delete(seq)
      const redelivered = (this.redeliveries.get(seq) ?? 0) + 1
      this.redeliveries.set(seq, redelivered)
      const deliveryCount = redelivered + 1
      const maxDeliver = this.settings.maxDeliver
      if (maxDeliver > 0 && deliveryCount > maxDeliver) {
        // Delivered as often as allowed: no longer awaited (the count stays, as on the server).
        this.unacked.delete(seq)
        continue
      }
      const entry = this.stream.get(seq)
      const unacked = this.unacked.get(seq)
      if (entry === undefined || unacked === undefined) {
        this.forget(seq)
        continue
      }
      unacked.timestamp = now
      unacked.delayed = false
      this.nextCheck = Math.min(this.nextCheck, now + this.ackWaitFor(seq))
      return { _tag: "Deliver", entry, consumerSeq: this.nextConsumerSeq++, deliveryCount, pending: this.numPending }
    }
    return undefined
  }

  private removeFromRedeliverQueue(seq: number): void {
    if (!this.redeliverSet.delete(seq)) return
    this.redeliverQueue = this.redeliverQueue.filter((queued) => queued !== seq)
  }

  private forget(seq: number): void {
    this.unacked.delete(seq)
    this.redeliveries.delete(seq)
    this.removeFromRedeliverQueue(seq)
  }
}
