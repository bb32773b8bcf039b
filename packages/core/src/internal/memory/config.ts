/**
 * Stream and consumer configurations: defaults and validation as nats-server
 * 2.15 applies them (`checkStreamCfg`, `configUpdateCheck`,
 * `setConsumerConfigDefaults`, `checkConsumerCfg`, `checkNewConsumerConfig`),
 * with the server's error codes and texts.
 */
import { Duration, Result } from "effect"
import type {
  AckPolicy,
  ConsumerConfig,
  DeliverPolicy,
  StreamConfig,
  StreamConfigResolved
} from "../../NatsClient.ts"
import type { NatsError } from "../../NatsError.ts"
import { fromNanos, toNanos } from "../nanos.ts"
import * as Errors from "./errors.ts"
import { isSubsetMatch, subjectsCollide, subscribeProblem } from "../../NatsSubject.ts"

const maxDescriptionLength = 4 * 1024
const maxReplicas = 5
const defaultDuplicateWindowMs = 2 * 60 * 1000
const minWindowMs = 100
const defaultAckWaitMs = 30_000
const defaultMaxAckPending = 1000

/** Milliseconds of a duration; infinite (no limit) is 0. */
export const toMillis = (input: Duration.Input): number => Number(toNanos(input)) / 1e6

/** A duration as the nats.js adapter reads it back from the server (nanoseconds). */
const durationOfMillis = (millis: number): Duration.Duration => fromNanos(Math.round(millis * 1e6))

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

const invalid = (context: Errors.ErrorContext, err: string): NatsError =>
  Errors.api("StreamInvalidConfig", context, { err })

const unlimited = (value: number | undefined): number => value === undefined || value === 0 ? -1 : value

/** Server defaults and checks for a stream's configuration (`checkStreamCfg`). */
const resolve = (
  config: StreamConfig,
  context: Errors.ErrorContext
): Result.Result<StreamConfigResolved, NatsError> => {
  const fail = (err: string) => Result.fail(invalid(context, err))
  if ((config.description?.length ?? 0) > maxDescriptionLength) {
    return fail(`stream description is too long, maximum allowed is ${maxDescriptionLength}`)
  }
  const replicas = config.replicas === undefined || config.replicas === 0 ? 1 : config.replicas
  if (replicas > maxReplicas) return fail(`maximum replicas is ${maxReplicas}`)
  if (replicas < 0) return fail("replicas count cannot be negative")
  const maxAgeMs = config.maxAge === undefined ? 0 : toMillis(config.maxAge)
  let duplicateWindowMs = config.duplicateWindow === undefined ? 0 : toMillis(config.duplicateWindow)
  if (duplicateWindowMs === 0) {
    duplicateWindowMs = maxAgeMs !== 0 && maxAgeMs < defaultDuplicateWindowMs ? maxAgeMs : defaultDuplicateWindowMs
  }
  if (maxAgeMs > 0 && maxAgeMs < minWindowMs) return fail("max age needs to be >= 100ms")
  if (duplicateWindowMs < 0) return fail("duplicates window can not be negative")
  if (maxAgeMs !== 0 && duplicateWindowMs > maxAgeMs) return fail("duplicates window can not be larger then max age")
  if (duplicateWindowMs > 0 && duplicateWindowMs < minWindowMs) return fail("duplicates window needs to be >= 100ms")
  if (config.denyPurge === true && config.allowRollup === true) return fail("roll-ups require the purge permission")
  // Markers need TTLs (their own) and rollups (a marker rolls up its subject): turned on with them.
  const markerTtlMs = config.subjectDeleteMarkerTtl === undefined ? 0 : toMillis(config.subjectDeleteMarkerTtl)
  const markers = markerTtlMs > 0
  if (markers && markerTtlMs < 1000) return fail("subject delete marker TTL must be at least 1 second")

  const subjects = config.subjects.length === 0 ? [config.name] : config.subjects
  const seen = new Set<string>()
  for (const subject of subjects) {
    if (seen.has(subject)) return fail("duplicate subjects detected")
    if (isSubsetMatch(subject, "$JS.API.>")) return fail("subjects overlap with jetstream api")
    if (subscribeProblem(subject) !== undefined) return fail("invalid subject")
    seen.add(subject)
  }
  for (const subject of subjects) {
    for (const other of subjects) {
      if (other !== subject && subjectsCollide(other, subject)) {
        return fail(`subject ${JSON.stringify(subject)} overlaps with ${JSON.stringify(other)}`)
      }
    }
  }
  if (replicas > 1) return Result.fail(Errors.api("StreamReplicasNotSupported", context))

  return Result.succeed({
    name: config.name,
    subjects: [...subjects],
    description: config.description === "" ? undefined : config.description,
    retention: config.retention ?? "limits",
    storage: config.storage ?? "file",
    replicas,
    maxMsgs: unlimited(config.maxMsgs),
    maxBytes: unlimited(config.maxBytes),
    maxAge: durationOfMillis(maxAgeMs),
    maxMsgsPerSubject: unlimited(config.maxMsgsPerSubject),
    maxMsgSize: unlimited(config.maxMsgSize),
    discard: config.discard ?? "old",
    duplicateWindow: durationOfMillis(duplicateWindowMs),
    allowRollup: markers || (config.allowRollup ?? false),
    allowDirect: config.allowDirect ?? false,
    denyDelete: config.denyDelete ?? false,
    denyPurge: !markers && (config.denyPurge ?? false),
    sealed: config.sealed ?? false,
    placement: config.placement,
    metadata: config.metadata,
    compression: config.compression ?? "none",
    allowMsgTtl: markers || (config.allowMsgTtl ?? false),
    subjectDeleteMarkerTtl: durationOfMillis(markerTtlMs)
  })
}

/** A new stream's configuration. */
export const streamForCreate = (
  config: StreamConfig,
  context: Errors.ErrorContext
): Result.Result<StreamConfigResolved, NatsError> => {
  if (config.sealed === true) return Result.fail(invalid(context, "stream configuration for create can not be sealed"))
  return resolve(config, context)
}

/** The input that keeps every current value, for fields an update leaves out. */
const asInput = (config: StreamConfigResolved): StreamConfig => ({
  ...config,
  description: config.description,
  placement: config.placement,
  metadata: config.metadata,
  compression: undefined
})

const definedFields = (config: StreamConfig): Partial<StreamConfig> => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(config)) {
    if (value !== undefined) out[key] = value
  }
  return out as Partial<StreamConfig>
}

/**
 * An updated stream's configuration: fields left out keep their current
 * values (as the nats.js adapter sends them), then the server's update rules.
 */
export const streamForUpdate = (
  current: StreamConfigResolved,
  config: StreamConfig,
  context: Errors.ErrorContext
): Result.Result<StreamConfigResolved, NatsError> => {
  const resolved = resolve({ ...asInput(current), ...definedFields(config) }, context)
  if (Result.isFailure(resolved)) return resolved
  const next = resolved.success
  const fail = (err: string) => Result.fail(invalid(context, err))
  if (next.storage !== current.storage) return fail("stream configuration update can not change storage type")
  if (next.retention !== current.retention) return fail("stream configuration update can not change retention policy")
  if (!next.sealed && current.sealed) return fail("stream configuration update can not unseal a sealed stream")
  if (!next.denyDelete && current.denyDelete) {
    return fail("stream configuration update can not cancel deny message deletes")
  }
  if (!next.denyPurge && current.denyPurge) return fail("stream configuration update can not cancel deny purge")
  if (!next.allowMsgTtl && current.allowMsgTtl) return fail("message TTL status can not be disabled")
  if (!next.sealed) return Result.succeed(next)
  return Result.succeed({
    ...next,
    maxAge: Duration.zero,
    discard: "new",
    denyDelete: true,
    denyPurge: true,
    allowRollup: false
  })
}

const durationKeys = new Set(["maxAge", "duplicateWindow", "subjectDeleteMarkerTtl"])

/** Whether two resolved configurations are the same (an add of an existing stream succeeds then). */
export const sameStreamConfig = (a: StreamConfigResolved, b: StreamConfigResolved): boolean =>
  JSON.stringify(a, (key, value) => durationKeys.has(key) ? Duration.toMillis(value) : value) ===
    JSON.stringify(b, (key, value) => durationKeys.has(key) ? Duration.toMillis(value) : value)

/** Whether `subjects` capture a subject some other stream already captures. */
export const overlapsAny = (subjects: ReadonlyArray<string>, others: Iterable<ReadonlyArray<string>>): boolean => {
  for (const otherSubjects of others) {
    for (const other of otherSubjects) {
      for (const subject of subjects) {
        if (subjectsCollide(subject, other)) return true
      }
    }
  }
  return false
}

// ---------------------------------------------------------------------------
// Consumers
// ---------------------------------------------------------------------------

/** A consumer's settings, resolved, in milliseconds. */
export interface ConsumerSettings {
  readonly name: string
  readonly filterSubjects: ReadonlyArray<string>
  readonly deliver: DeliverPolicy
  readonly ackPolicy: AckPolicy
  readonly ackWaitMs: number
  /** -1: unlimited */
  readonly maxDeliver: number
  readonly backoffMs: ReadonlyArray<number>
  /** -1: unlimited */
  readonly maxAckPending: number
  readonly description: string | undefined
}

/** Defaults and checks for a durable consumer (`setConsumerConfigDefaults`, `checkConsumerCfg`). */
export const consumer = (
  config: ConsumerConfig,
  context: Errors.ErrorContext
): Result.Result<ConsumerSettings, NatsError> => {
  const ackPolicy = config.ackPolicy ?? "explicit"
  const acks = ackPolicy !== "none"
  const backoffMs = (config.backoff ?? []).map(toMillis)
  const maxDeliver = config.maxDeliver === undefined || config.maxDeliver === 0 ? -1 : config.maxDeliver
  let ackWaitMs = config.ackWait === undefined ? (acks ? defaultAckWaitMs : 0) : toMillis(config.ackWait)
  if (backoffMs.length > 0) ackWaitMs = backoffMs[0]!
  const maxAckPending = config.maxAckPending === undefined || config.maxAckPending === 0
    ? (acks ? defaultMaxAckPending : -1)
    : config.maxAckPending
  // Since 2.11 the last backoff entry repeats without a delivery limit, and a
  // limit may equal the number of entries (2.9 wanted one above it).
  if (backoffMs.length > 0 && maxDeliver !== -1 && backoffMs.length > maxDeliver) {
    return Result.fail(Errors.api("ConsumerMaxDeliverBackoff", context))
  }
  if ((config.description?.length ?? 0) > maxDescriptionLength) {
    return Result.fail(Errors.api("ConsumerDescriptionTooLong", context))
  }
  // Since 2.10 a filter need not be within the stream's subjects (they may
  // change), but filters must not overlap one another.
  const filterSubjects = config.filterSubjects ?? []
  const overlapping = filterSubjects.some((filter, i) =>
    filterSubjects.some((other, j) => i !== j && isSubsetMatch(filter, other))
  )
  if (overlapping) return Result.fail(Errors.api("ConsumerOverlappingSubjectFilters", context))
  const deliver = config.deliver ?? "all"
  if (deliver === "last_per_subject" && filterSubjects.length === 0) {
    return Result.fail(
      Errors.api("ConsumerInvalidPolicy", context, {
        err: "consumer delivery policy is deliver last per subject, but optional filter subject is not set"
      })
    )
  }
  if (typeof deliver === "object" && "startSequence" in deliver && deliver.startSequence <= 0) {
    return Result.fail(
      Errors.api("ConsumerInvalidPolicy", context, {
        err: "consumer delivery policy is deliver by start sequence, but optional start sequence is not set"
      })
    )
  }
  return Result.succeed({
    name: config.name,
    filterSubjects,
    deliver,
    ackPolicy,
    ackWaitMs,
    maxDeliver,
    backoffMs,
    maxAckPending,
    description: config.description
  })
}

const sameDeliver = (a: DeliverPolicy, b: DeliverPolicy): boolean => {
  if (typeof a === "string" || typeof b === "string") return a === b
  if ("startSequence" in a) return "startSequence" in b && a.startSequence === b.startSequence
  return "startTime" in b && a.startTime.getTime() === b.startTime.getTime()
}

/** Why an existing consumer cannot take `next` (`checkNewConsumerConfig`), or `undefined`. */
export const consumerUpdateProblem = (current: ConsumerSettings, next: ConsumerSettings): string | undefined => {
  if (!sameDeliver(current.deliver, next.deliver)) {
    if (typeof current.deliver === "object" && typeof next.deliver === "object") {
      return "startSequence" in current.deliver ? "start sequence can not be updated" : "start time can not be updated"
    }
    return "deliver policy can not be updated"
  }
  if (current.ackPolicy !== next.ackPolicy) return "ack policy can not be updated"
  return undefined
}
