/**
 * One JetStream stream in memory: its messages, limits, de-duplication,
 * expectations, rollups and purges, as nats-server 2.15 applies them
 * (`processJetStreamMsg`, the memory and file stores' `storeRawMsg`,
 * `PurgeEx`). Synchronous: the caller passes the time, read from Effect's
 * `Clock`.
 *
 * Messages go at the stream's max age or at their own TTL (`Nats-TTL`,
 * nats-server 2.11), whichever comes first, in the order of those times;
 * with subject delete markers, the last message of a subject leaves a marker
 * in its place (`Nats-Marker-Reason: MaxAge`, itself with a TTL), stored at
 * the time the message expired, before anything published since.
 *
 * Storage: `slots[i]` holds sequence `offset + i` (`undefined` once removed),
 * so appends and look-ups by sequence are O(1); leading holes are dropped as
 * the stream's head moves. Each subject keeps the ascending list of its
 * sequences, for the last message on a subject, per-subject limits and
 * consumers filtered on one subject.
 *
 * Bytes are counted as the server's stores count them: with file storage
 * 30 + subject + data (+ 4 + headers when there are headers), with memory
 * storage 16 + subject + headers + data, headers as encoded on the wire.
 */
import { Result } from "effect"
import type { Headers, OutgoingMsg, PubAck, PurgeOptions, StreamConfigResolved, StreamState } from "../../NatsClient.ts"
import { matcher, hasWildcard } from "../../NatsSubject.ts"
import * as EncodedHeaders from "../headers.ts"
import * as Ttl from "../ttl.ts"
import { toMillis } from "./config.ts"
import * as Errors from "./errors.ts"

/** A stored message. */
export interface Entry {
  readonly seq: number
  readonly subject: string
  readonly data: Uint8Array
  readonly headers: Headers | undefined
  /** Encoded size of the headers, 0 without headers. */
  readonly headerBytes: number
  /** Milliseconds since the epoch. */
  readonly time: number
  /** Bytes counted against `maxBytes`. */
  readonly size: number
  /** Its own TTL in seconds (`Nats-TTL`): 0 none, `Ttl.never` kept past the max age too. */
  readonly ttl: number
}

/** A consumer, told of every message stored and removed (it keeps its counts with it). */
export interface StreamListener {
  readonly onStored: (entry: Entry) => void
  readonly onRemoved: (entry: Entry) => void
  /** Whether it would deliver messages on `subject` (interest retention). */
  readonly wants: (subject: string) => boolean
  /** Whether it has yet to deliver `entry` or to receive its ack (interest retention). */
  readonly needsAck: (entry: Entry) => boolean
  /**
   * A purge removed what it would deliver below `seq` (all of it, or on
   * subjects within the purge's filter).
   */
  readonly onPurged: (seq: number) => void
  /** Whether every subject it takes is within `filter`. */
  readonly within: (filter: string) => boolean
}

/** A message to store, as the port hands it over (headers measured as on the wire). */
export type Incoming = Omit<OutgoingMsg, "reply">

/** The JetStream headers the server acts on. */
export const JsHeaders = {
  MsgId: "Nats-Msg-Id",
  ExpectedStream: "Nats-Expected-Stream",
  ExpectedLastSequence: "Nats-Expected-Last-Sequence",
  ExpectedLastSubjectSequence: "Nats-Expected-Last-Subject-Sequence",
  ExpectedLastMsgId: "Nats-Expected-Last-Msg-Id",
  Rollup: "Nats-Rollup"
} as const

const maxHeaderBytes = 65535

/** A marker left where a subject's last message expired (`isSubjectDeleteMarker`), or a KV purge. */
const markerReason = "Nats-Marker-Reason"
const isMarker = (headers: Headers | undefined): boolean =>
  header(headers, markerReason) !== undefined || header(headers, "KV-Operation") === "PURGE"

const noData = new Uint8Array(0)

/** When a message with a TTL expires (ms), smallest first; entries of removed messages are skipped when met. */
class Deadlines {
  private readonly heap: Array<{ readonly at: number; readonly seq: number }> = []
  get top(): { readonly at: number; readonly seq: number } | undefined {
    return this.heap[0]
  }
  push(at: number, seq: number): void {
    const heap = this.heap
    heap.push({ at, seq })
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent]!.at <= heap[i]!.at) break
      ;[heap[parent], heap[i]] = [heap[i]!, heap[parent]!]
      i = parent
    }
  }
  pop(): void {
    const heap = this.heap
    const last = heap.pop()!
    if (heap.length === 0) return
    heap[0] = last
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let smallest = i
      if (left < heap.length && heap[left]!.at < heap[smallest]!.at) smallest = left
      if (right < heap.length && heap[right]!.at < heap[smallest]!.at) smallest = right
      if (smallest === i) return
      ;[heap[smallest], heap[i]] = [heap[i]!, heap[smallest]!]
      i = smallest
    }
  }
}

/** The sequences of one subject, oldest first, from `head`. */
class SubjectIndex {
  seqs: Array<number> = []
  head = 0
  get count(): number {
    return this.seqs.length - this.head
  }
  get first(): number {
    return this.seqs[this.head]!
  }
  get last(): number {
    return this.seqs[this.seqs.length - 1]!
  }
  /** Index of the first sequence >= seq. */
  lowerBound(seq: number): number {
    let lo = this.head
    let hi = this.seqs.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.seqs[mid]! < seq) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  remove(seq: number): void {
    if (this.seqs[this.head] === seq) {
      this.head++
      if (this.head > 1024 && this.head * 2 > this.seqs.length) {
        this.seqs = this.seqs.slice(this.head)
        this.head = 0
      }
      return
    }
    const index = this.lowerBound(seq)
    if (this.seqs[index] === seq) this.seqs.splice(index, 1)
  }
}

const header = (headers: Headers | undefined, key: string): string | undefined => headers?.[key]?.[0]

export class MemStream {
  config: StreamConfigResolved
  readonly created: Date
  readonly listeners = new Set<StreamListener>()

  private slots: Array<Entry | undefined> = []
  /** Sequence of `slots[0]`. */
  private offset = 1
  /** Index of the first slot that may hold a message. */
  private head = 0
  private lastSeq = 0
  private messages = 0
  private bytes = 0
  private readonly subjects = new Map<string, SubjectIndex>()
  /** Message ids within the duplicate window, oldest first. */
  private readonly msgIds = new Map<string, { readonly seq: number; readonly time: number }>()
  /** Whether a purge of every message ran: the first sequence of an empty stream is 1 from then on, not 0. */
  private purgedAll = false
  /** `Nats-Msg-Id` of the last message stored ("" when it had none). */
  private lastMsgId = ""
  private maxAgeMs: number
  private duplicateWindowMs: number
  /** Whole seconds, as the server counts them; 0: no markers. */
  private markerTtl: number
  private subjectMatchers: ReadonlyArray<(subject: string) => boolean>
  private readonly deadlines = new Deadlines()
  /** Operations in progress (one may run another), and what waits for the outermost one to end. */
  private depth = 0
  private readonly afterwards: Array<() => void> = []

  constructor(config: StreamConfigResolved, created: Date) {
    this.config = config
    this.created = created
    this.maxAgeMs = toMillis(config.maxAge)
    this.duplicateWindowMs = toMillis(config.duplicateWindow)
    this.markerTtl = Math.floor(toMillis(config.subjectDeleteMarkerTtl) / 1000)
    this.subjectMatchers = config.subjects.map(matcher)
  }

  get name(): string {
    return this.config.name
  }

  get lastSequence(): number {
    return this.lastSeq
  }

  get firstSequence(): number {
    if (this.messages > 0) return this.offset + this.head
    return this.lastSeq === 0 && !this.purgedAll ? 0 : this.lastSeq + 1
  }

  /** Whether one of the stream's subjects matches `subject`. */
  captures(subject: string): boolean {
    for (const matches of this.subjectMatchers) if (matches(subject)) return true
    return false
  }

  /**
   * Runs `notify` once the operation in progress is done, or now when there
   * is none: consumers deliver from the stream as a whole store (its limits
   * and rollup included) or purge left it, as nats-server signals its
   * consumers once a message is stored, never from the middle of one.
   */
  afterOperation(notify: () => void): void {
    if (this.depth === 0) notify()
    else this.afterwards.push(notify)
  }

  private operation<A>(f: () => A): A {
    this.depth++
    try {
      return f()
    } finally {
      this.depth--
      while (this.depth === 0 && this.afterwards.length > 0) this.afterwards.shift()!()
    }
  }

  /** Applies an updated configuration, enforcing tighter limits at once. */
  reconfigure(config: StreamConfigResolved, now: number): void {
    this.operation(() => this.applyConfig(config, now))
  }

  private applyConfig(config: StreamConfigResolved, now: number): void {
    this.config = config
    this.maxAgeMs = toMillis(config.maxAge)
    this.duplicateWindowMs = toMillis(config.duplicateWindow)
    this.markerTtl = Math.floor(toMillis(config.subjectDeleteMarkerTtl) / 1000)
    this.subjectMatchers = config.subjects.map(matcher)
    const perSubject = config.maxMsgsPerSubject
    if (perSubject > 0) {
      for (const index of this.subjects.values()) {
        while (index.count > perSubject) this.remove(index.first)
      }
    }
    this.enforceLimits()
    this.expire(now)
  }

  state(consumerCount: number): StreamState {
    return {
      messages: this.messages,
      bytes: this.bytes,
      firstSeq: this.firstSequence,
      lastSeq: this.lastSeq,
      consumerCount
    }
  }

  get(seq: number): Entry | undefined {
    const index = seq - this.offset
    return index >= this.head && index < this.slots.length ? this.slots[index] : undefined
  }

  /** The last message on `subject` (wildcards allowed). */
  lastBySubject(subject: string): Entry | undefined {
    if (!hasWildcard(subject)) {
      const index = this.subjects.get(subject)
      return index === undefined ? undefined : this.get(index.last)
    }
    const matches = matcher(subject)
    let last = 0
    for (const [name, index] of this.subjects) {
      if (index.last > last && matches(name)) last = index.last
    }
    return last === 0 ? undefined : this.get(last)
  }

  /**
   * The first message at or after `seq` on a subject `matches` accepts.
   * `literal`: the filter is exactly this one subject (looked up in its
   * index instead of walking the stream).
   */
  nextMatching(
    seq: number,
    literal: string | undefined,
    matches: ((subject: string) => boolean) | undefined
  ): Entry | undefined {
    if (literal !== undefined) {
      const index = this.subjects.get(literal)
      if (index === undefined) return undefined
      const at = index.lowerBound(seq)
      return at < index.seqs.length ? this.get(index.seqs[at]!) : undefined
    }
    let i = Math.max(seq - this.offset, this.head)
    for (; i < this.slots.length; i++) {
      const entry = this.slots[i]
      if (entry !== undefined && (matches === undefined || matches(entry.subject))) return entry
    }
    return undefined
  }

  /** How many messages at or after `seq` a filter accepts. */
  countFrom(seq: number, matches: ((subject: string) => boolean) | undefined): number {
    if (matches === undefined && seq <= this.offset + this.head) return this.messages
    let count = 0
    for (const [subject, index] of this.subjects) {
      if (matches === undefined || matches(subject)) count += index.seqs.length - index.lowerBound(seq)
    }
    return count
  }

  /** For each subject a filter accepts, its last sequence, ascending. */
  lastPerSubject(matches: ((subject: string) => boolean) | undefined): Array<number> {
    const seqs: Array<number> = []
    for (const [subject, index] of this.subjects) {
      if (matches === undefined || matches(subject)) seqs.push(index.last)
    }
    return seqs.sort((a, b) => a - b)
  }

  /** The first sequence stored at or after `time` (ms), or the next one to come. */
  seqFromTime(time: number): number {
    for (let i = this.head; i < this.slots.length; i++) {
      const entry = this.slots[i]
      if (entry !== undefined && entry.time >= time) return entry.seq
    }
    return this.lastSeq + 1
  }

  /**
   * Expires the messages older than `maxAge` or past their TTL by `now`
   * (`expireMsgs`), in the order of the times they expired at.
   */
  expire(now: number): void {
    this.operation(() => this.expireMsgs(now))
  }

  private expireMsgs(now: number): void {
    for (let next = this.nextExpiry(); next !== undefined && next.at <= now; next = this.nextExpiry()) {
      if (next.byTtl) this.deadlines.pop()
      this.expireEntry(next.entry, next.at)
    }
  }

  /**
   * When the next message expires (ms), where that stores a marker a
   * consumer may be waiting for; `undefined` when none will.
   */
  nextMarkerAt(): number | undefined {
    return this.markerTtl > 0 ? this.nextExpiry()?.at : undefined
  }

  /** The next message to expire, and when (ms): the oldest by max age, or the first by TTL. */
  private nextExpiry(): { readonly entry: Entry; readonly at: number; readonly byTtl: boolean } | undefined {
    const byAge = this.oldestByAge()
    const byTtl = this.nextByTtl()
    const ageAt = byAge === undefined ? Infinity : byAge.time + this.maxAgeMs
    const ttlAt = byTtl === undefined ? Infinity : this.deadlines.top!.at
    if (byAge !== undefined && ageAt <= ttlAt) return { entry: byAge, at: ageAt, byTtl: false }
    return byTtl === undefined ? undefined : { entry: byTtl, at: ttlAt, byTtl: true }
  }

  /** The oldest message the max age applies to (a TTL of `never` exempts one). */
  private oldestByAge(): Entry | undefined {
    if (this.maxAgeMs <= 0) return undefined
    for (let i = this.head; i < this.slots.length; i++) {
      const entry = this.slots[i]
      if (entry !== undefined && entry.ttl !== Ttl.never) return entry
    }
    return undefined
  }

  /** The message whose TTL runs out first, at `deadlines.top`. */
  private nextByTtl(): Entry | undefined {
    for (let top = this.deadlines.top; top !== undefined; top = this.deadlines.top) {
      const entry = this.get(top.seq)
      if (entry !== undefined) return entry
      this.deadlines.pop()
    }
    return undefined
  }

  /**
   * Removes an expired message; with markers, the last of its subject is
   * replaced by a marker stored at `at` (`handleRemovalOrSdm`), unless it is
   * a marker itself.
   */
  private expireEntry(entry: Entry, at: number): void {
    const index = this.subjects.get(entry.subject)!
    if (this.markerTtl <= 0 || index.count > 1 || isMarker(entry.headers)) {
      this.remove(entry.seq)
      return
    }
    const encoded = EncodedHeaders.encode({
      [markerReason]: "MaxAge",
      [Ttl.header]: Ttl.format(this.markerTtl),
      [JsHeaders.Rollup]: "sub"
    }) as EncodedHeaders.EncodedHeaders
    this.lastMsgId = ""
    this.append({
      seq: this.lastSeq + 1,
      subject: entry.subject,
      data: noData,
      headers: encoded.headers,
      headerBytes: encoded.bytes,
      time: at,
      size: this.sizeOf(entry.subject, encoded.bytes, 0),
      ttl: this.markerTtl
    })
    this.enforceLimits()
    this.purge({ filter: entry.subject, keep: 1 })
  }

  /** Bytes a message takes, as the server's store counts them. */
  private sizeOf(subject: string, headerBytes: number, dataLength: number): number {
    return this.config.storage === "file"
      ? 30 + subject.length + dataLength + (headerBytes > 0 ? 4 + headerBytes : 0)
      : 16 + subject.length + headerBytes + dataLength
  }

  /**
   * Stores a published message (`processJetStreamMsg`): sealed, size,
   * expected stream, TTL permission, expected sequences, de-duplication,
   * expected message id, rollup permission, TTL, then the store's limits,
   * then the rollup.
   */
  store(msg: Incoming, now: number): Result.Result<PubAck, Errors.ApiError> {
    return this.operation(() => this.storeMsg(msg, now))
  }

  private storeMsg(msg: Incoming, now: number): Result.Result<PubAck, Errors.ApiError> {
    const { data, subject } = msg
    let { headerBytes, headers } = msg
    const name = this.config.name
    if (this.config.sealed) return Result.fail(Errors.apiError("StreamSealed"))
    this.expire(now)
    this.expireMsgIds(now)

    const rawSize = headerBytes + data.length
    if (this.config.maxMsgSize >= 0 && rawSize > this.config.maxMsgSize) {
      return Result.fail(Errors.apiError("StreamMessageExceedsMaximum"))
    }
    if (headerBytes > maxHeaderBytes) return Result.fail(Errors.apiError("StreamHeaderExceedsMaximum"))

    const expectedStream = header(headers, JsHeaders.ExpectedStream)
    if (expectedStream !== undefined && expectedStream !== "" && expectedStream !== name) {
      return Result.fail(Errors.apiError("StreamNotMatch"))
    }
    const ttlHeader = header(headers, Ttl.header)
    let ttl = ttlHeader === undefined ? 0 : Ttl.parse(ttlHeader)
    // An invalid TTL is told apart later, as the server does.
    if (ttl !== undefined && ttl !== 0 && !this.config.allowMsgTtl) {
      return Result.fail(Errors.apiError("MessageTtlDisabled"))
    }
    const expectedSubjectSeq = header(headers, JsHeaders.ExpectedLastSubjectSequence)
    if (expectedSubjectSeq !== undefined) {
      const index = this.subjects.get(subject)
      const last = index === undefined ? 0 : index.last
      if (Number(expectedSubjectSeq) !== last) {
        return Result.fail(Errors.apiError("StreamWrongLastSequence", { seq: last }))
      }
    }
    const expectedSeq = header(headers, JsHeaders.ExpectedLastSequence)
    if (expectedSeq !== undefined && Number(expectedSeq) !== this.lastSeq) {
      return Result.fail(Errors.apiError("StreamWrongLastSequence", { seq: this.lastSeq }))
    }
    // From nats-server 2.12 a duplicate is answered only once the expected
    // sequences hold (2.9 answered it first).
    const msgId = header(headers, JsHeaders.MsgId) ?? ""
    if (msgId !== "") {
      const seen = this.msgIds.get(msgId)
      if (seen !== undefined) return Result.succeed({ stream: name, seq: seen.seq, duplicate: true })
    }
    const expectedMsgId = header(headers, JsHeaders.ExpectedLastMsgId)
    if (expectedMsgId !== undefined && expectedMsgId !== "" && expectedMsgId !== this.lastMsgId) {
      return Result.fail(Errors.apiError("StreamWrongLastMsgId", { id: this.lastMsgId }))
    }
    const rollup = header(headers, JsHeaders.Rollup)
    if (rollup !== undefined && rollup !== "") {
      if (!this.config.allowRollup || this.config.denyPurge) {
        return Result.fail(Errors.apiError("StreamRollupFailed", { err: "rollup not permitted" }))
      }
      // Servers before 2.11 did not answer an unknown rollup value at all.
      if (rollup !== "sub" && rollup !== "all") {
        return Result.fail(Errors.apiError("StreamRollupFailed", { err: `rollup value invalid: ${JSON.stringify(rollup)}` }))
      }
    }
    if (ttl === undefined) return Result.fail(Errors.apiError("MessageTtlInvalid"))
    // A TTL below the markers' would let a message go without its marker
    // (unless the subject keeps one message only): raised to it.
    if (ttl > 0 && ttl < this.markerTtl && this.config.maxMsgsPerSubject !== 1) {
      ttl = this.markerTtl
      const encoded = EncodedHeaders.encode(headers, { [Ttl.header]: String(ttl) }) as EncodedHeaders.EncodedHeaders
      headers = encoded.headers
      headerBytes = encoded.bytes
    }

    const size = this.sizeOf(subject, headerBytes, data.length)
    const refused = this.discardNewProblem(subject, rawSize)
    if (refused !== undefined) return Result.fail(Errors.apiError("StreamStoreFailed", { err: refused }))

    const seq = this.lastSeq + 1
    this.lastMsgId = msgId
    if (msgId !== "") this.msgIds.set(msgId, { seq, time: now })
    if (this.config.retention === "interest" && !this.anyoneWants(subject)) {
      // Nobody to deliver it to: the sequence is used, nothing is stored.
      if (this.messages > 0) this.slots.push(undefined)
      this.lastSeq = seq
      return Result.succeed({ stream: name, seq, duplicate: false })
    }
    this.append({ seq, subject, data, headers, headerBytes, time: now, size, ttl })

    const perSubject = this.config.maxMsgsPerSubject
    if (perSubject > 0) {
      const index = this.subjects.get(subject)!
      while (index.count > perSubject) this.remove(index.first)
    }
    this.enforceLimits()
    if (rollup === "sub") this.purge({ filter: subject, keep: 1 })
    else if (rollup === "all") this.purge({ keep: 1 })
    return Result.succeed({ stream: name, seq, duplicate: false })
  }

  /**
   * Purges as `PurgeEx` does; returns how many messages went. Consumers move
   * past what went, as a current nats-server does (2.9 also dropped the
   * deliveries awaiting acks that were not purged).
   */
  purge(options: PurgeOptions | undefined): number {
    return this.operation(() => this.purgeMsgs(options))
  }

  private purgeMsgs(options: PurgeOptions | undefined): number {
    // Below sequence 1 there is nothing (nats-server 2.9 purged everything).
    if (options?.seq === 1) return 0
    const filter = options?.filter
    const all = filter === undefined || filter === "" || filter === ">"
    const purged = all ? this.purgeAll(options?.keep ?? 0, options?.seq ?? 0) : this.purgeFiltered(filter, options)
    if (all) {
      const first = this.firstSequence === 0 ? 1 : this.firstSequence
      for (const listener of this.listeners) listener.onPurged(first)
    } else {
      const within = [...this.listeners].filter((listener) => listener.within(filter))
      if (within.length > 0) {
        const matches = matcher(filter)
        let firstLeft = this.lastSeq + 1
        for (const [subject, index] of this.subjects) {
          if (index.first < firstLeft && matches(subject)) firstLeft = index.first
        }
        for (const listener of within) listener.onPurged(firstLeft)
      }
    }
    return purged
  }

  private purgeAll(keep: number, seq: number): number {
    if (keep === 0 && seq <= 1) {
      this.purgedAll = true
      return this.compact(this.lastSeq + 1)
    }
    if (seq > 1) return this.compact(seq)
    // The oldest messages but `keep`, counted as messages: sequences removed
    // earlier are not among them (nats-server 2.9 counted from the last sequence).
    const purged = Math.max(0, this.messages - keep)
    for (let i = 0; i < purged; i++) this.remove(this.offset + this.head)
    return purged
  }

  private purgeFiltered(filter: string, options: PurgeOptions | undefined): number {
    const keep = options?.keep ?? 0
    const seq = options?.seq ?? 0
    const matches = matcher(filter)
    const seqs: Array<number> = []
    for (const [subject, index] of this.subjects) {
      if (matches(subject)) for (let i = index.head; i < index.seqs.length; i++) seqs.push(index.seqs[i]!)
    }
    if (keep >= seqs.length && keep > 0) return 0
    seqs.sort((a, b) => a - b)
    const limit = keep > 0 ? seqs.length - keep : seqs.length
    let purged = 0
    for (const s of seqs) {
      if (purged >= limit || (seq > 1 && s >= seq)) break
      this.remove(s)
      purged++
    }
    return purged
  }

  /**
   * A consumer is done with `seq` (acked, terminated, or delivered without
   * acks): work-queue streams drop it, interest streams once no consumer
   * needs it any more.
   */
  acknowledged(seq: number): void {
    const retention = this.config.retention
    if (retention === "limits") return
    const entry = this.get(seq)
    if (entry === undefined) return
    if (retention === "interest" && this.anyoneNeeds(entry)) return
    this.operation(() => this.remove(seq))
  }

  /**
   * A consumer went away: an interest stream drops the messages from `seq`
   * on that no remaining consumer needs (`stopWithFlags`).
   */
  dropUnwanted(seq: number): void {
    if (this.config.retention === "interest") this.operation(() => this.dropUnneeded(seq))
  }

  private dropUnneeded(seq: number): void {
    for (let s = Math.max(seq, this.firstSequence); s <= this.lastSeq; s++) {
      const entry = this.get(s)
      if (entry !== undefined && !this.anyoneNeeds(entry)) this.remove(s)
    }
  }

  private anyoneNeeds(entry: Entry): boolean {
    for (const listener of this.listeners) if (listener.needsAck(entry)) return true
    return false
  }

  private anyoneWants(subject: string): boolean {
    for (const listener of this.listeners) if (listener.wants(subject)) return true
    return false
  }

  /** Drops every message and forgets the listeners (the stream is deleted). */
  clear(): void {
    this.listeners.clear()
    this.compact(this.lastSeq + 1)
  }

  /** Removes every message below `seq`; past the end, the next message gets `seq`. */
  private compact(seq: number): number {
    let purged = 0
    while (this.messages > 0 && this.offset + this.head < seq) {
      this.remove(this.offset + this.head)
      purged++
    }
    if (seq > this.lastSeq + 1) {
      this.lastSeq = seq - 1
      this.slots = []
      this.offset = seq
      this.head = 0
    }
    return purged
  }

  /** Why a discard-new stream refuses a message of `rawSize` bytes on `subject`, or `undefined`. */
  private discardNewProblem(subject: string, rawSize: number): string | undefined {
    const { discard, maxBytes, maxMsgs, maxMsgsPerSubject } = this.config
    if (discard !== "new") return undefined
    // At its per-subject limit, the new message replaces the subject's oldest.
    const index = maxMsgsPerSubject > 0 ? this.subjects.get(subject) : undefined
    const replaces = index !== undefined && index.count >= maxMsgsPerSubject
    if (maxMsgs > 0 && this.messages >= maxMsgs && !replaces) return "maximum messages exceeded"
    if (maxBytes > 0 && this.bytes + rawSize >= maxBytes) {
      if (!replaces) return "maximum bytes exceeded"
      const replaced = this.get(index.first)!
      const roomEnough = this.config.storage === "file" ? replaced.size > rawSize : replaced.size >= rawSize
      if (!roomEnough) return "maximum bytes exceeded"
    }
    return undefined
  }

  private enforceLimits(): void {
    const { maxBytes, maxMsgs } = this.config
    while (maxMsgs > 0 && this.messages > maxMsgs) this.remove(this.offset + this.head)
    while (maxBytes > 0 && this.bytes > maxBytes) this.remove(this.offset + this.head)
  }

  private expireMsgIds(now: number): void {
    for (const [id, seen] of this.msgIds) {
      if (now - seen.time < this.duplicateWindowMs) return
      this.msgIds.delete(id)
    }
  }

  private append(entry: Entry): void {
    if (this.messages === 0 && this.head === this.slots.length) {
      // Empty: restart the slots at this sequence.
      this.slots = []
      this.offset = entry.seq
      this.head = 0
    }
    this.slots.push(entry)
    if (entry.ttl > 0) this.deadlines.push(entry.time + entry.ttl * 1000, entry.seq)
    this.lastSeq = entry.seq
    this.messages++
    this.bytes += entry.size
    const index = this.subjects.get(entry.subject)
    if (index === undefined) {
      const created = new SubjectIndex()
      created.seqs.push(entry.seq)
      this.subjects.set(entry.subject, created)
    } else {
      index.seqs.push(entry.seq)
    }
    for (const listener of this.listeners) listener.onStored(entry)
  }

  /** Removes one message; the listeners hear of it. */
  private remove(seq: number): void {
    const i = seq - this.offset
    const entry = this.slots[i]
    if (entry === undefined) return
    this.slots[i] = undefined
    this.messages--
    this.bytes -= entry.size
    const index = this.subjects.get(entry.subject)!
    index.remove(seq)
    if (index.count === 0) this.subjects.delete(entry.subject)
    while (this.head < this.slots.length && this.slots[this.head] === undefined) this.head++
    if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots = this.slots.slice(this.head)
      this.offset += this.head
      this.head = 0
    }
    for (const listener of this.listeners) listener.onRemoved(entry)
  }
}
