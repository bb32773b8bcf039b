/**
 * Stream management over the JetStream API: our camelCase `StreamConfig`
 * to the server's JSON (only the fields that are set) and back.
 */
import type {
  Placement as ServerPlacement,
  PurgeResponse,
  StreamConfig as ServerStreamConfig,
  StreamInfo as ServerStreamInfo,
  StreamListResponse
} from "@nats-io/jetstream/internal"
import { Effect } from "effect"
import type {
  JetStream,
  Placement,
  PurgeOptions,
  StreamConfig,
  StreamConfigResolved,
  StreamInfo
} from "../../NatsClient.ts"
import type * as NatsError from "../../NatsError.ts"
import { fromNanos, toNanos } from "../nanos.ts"
import type { JetStreamApi } from "./jsapi.ts"

type ServerConfigInput = { -readonly [K in keyof ServerStreamConfig]?: ServerStreamConfig[K] }

/** The fields that are set, in the server's names and units. */
export const toServerConfig = (config: StreamConfig): ServerConfigInput => {
  const out: ServerConfigInput = { name: config.name, subjects: [...config.subjects] }
  if (config.description !== undefined) out.description = config.description
  if (config.retention !== undefined) out.retention = config.retention
  if (config.storage !== undefined) out.storage = config.storage
  if (config.replicas !== undefined) out.num_replicas = config.replicas
  if (config.maxMsgs !== undefined) out.max_msgs = config.maxMsgs
  if (config.maxBytes !== undefined) out.max_bytes = config.maxBytes
  if (config.maxAge !== undefined) out.max_age = toNanos(config.maxAge)
  if (config.maxMsgsPerSubject !== undefined) out.max_msgs_per_subject = config.maxMsgsPerSubject
  if (config.maxMsgSize !== undefined) out.max_msg_size = config.maxMsgSize
  if (config.discard !== undefined) out.discard = config.discard
  if (config.duplicateWindow !== undefined) out.duplicate_window = toNanos(config.duplicateWindow)
  if (config.allowRollup !== undefined) out.allow_rollup_hdrs = config.allowRollup
  if (config.allowDirect !== undefined) out.allow_direct = config.allowDirect
  if (config.denyDelete !== undefined) out.deny_delete = config.denyDelete
  if (config.denyPurge !== undefined) out.deny_purge = config.denyPurge
  if (config.sealed !== undefined) out.sealed = config.sealed
  if (config.placement !== undefined) {
    const placement: { cluster?: string; tags?: Array<string> } = {}
    if (config.placement.cluster !== undefined) placement.cluster = config.placement.cluster
    if (config.placement.tags !== undefined) placement.tags = [...config.placement.tags]
    out.placement = placement as ServerPlacement
  }
  if (config.metadata !== undefined) out.metadata = { ...config.metadata }
  if (config.compression !== undefined) out.compression = config.compression
  if (config.allowMsgTtl !== undefined) out.allow_msg_ttl = config.allowMsgTtl
  if (config.subjectDeleteMarkerTtl !== undefined) {
    out.subject_delete_marker_ttl = toNanos(config.subjectDeleteMarkerTtl)
  }
  return out
}

// Metadata keys the server adds for itself (2.11+: `_nats.req.level`, ...).
const serverMetadataPrefix = "_nats."

const userMetadata = (metadata: Record<string, string> | undefined): Readonly<Record<string, string>> | undefined => {
  if (metadata === undefined) return undefined
  let out: Record<string, string> | undefined
  for (const key in metadata) {
    if (key.startsWith(serverMetadataPrefix)) continue
    if (out === undefined) out = {}
    out[key] = metadata[key]!
  }
  return out
}

const fromServerConfig = (config: ServerStreamConfig): StreamConfigResolved => {
  let placement: Placement | undefined
  if (config.placement !== undefined && (config.placement.cluster || config.placement.tags?.length)) {
    placement = {
      ...(config.placement.cluster ? { cluster: config.placement.cluster } : {}),
      ...(config.placement.tags?.length ? { tags: config.placement.tags } : {})
    }
  }
  return {
    name: config.name,
    subjects: config.subjects ?? [],
    description: config.description || undefined,
    retention: config.retention,
    storage: config.storage,
    replicas: config.num_replicas,
    maxMsgs: config.max_msgs,
    maxBytes: config.max_bytes,
    maxAge: fromNanos(config.max_age),
    maxMsgsPerSubject: config.max_msgs_per_subject,
    maxMsgSize: config.max_msg_size,
    discard: config.discard,
    duplicateWindow: fromNanos(config.duplicate_window),
    allowRollup: config.allow_rollup_hdrs ?? false,
    allowDirect: config.allow_direct ?? false,
    denyDelete: config.deny_delete ?? false,
    denyPurge: config.deny_purge ?? false,
    sealed: config.sealed ?? false,
    placement,
    metadata: userMetadata(config.metadata),
    compression: config.compression ?? "none",
    allowMsgTtl: config.allow_msg_ttl ?? false,
    subjectDeleteMarkerTtl: fromNanos(config.subject_delete_marker_ttl)
  }
}

export const fromServerInfo = (info: ServerStreamInfo): StreamInfo => ({
  config: fromServerConfig(info.config),
  state: {
    messages: info.state.messages,
    bytes: info.state.bytes,
    firstSeq: info.state.first_seq,
    lastSeq: info.state.last_seq,
    consumerCount: info.state.consumer_count
  },
  created: new Date(info.created)
})

/**
 * Stream management. `onChange` is told of every stream added, updated or
 * deleted (the direct-get cache listens).
 */
export const make = (api: JetStreamApi, onChange: (stream: string) => void): JetStream["streams"] => {
  const info = (name: string) =>
    api.request<ServerStreamInfo>(`STREAM.INFO.${name}`, undefined, { operation: "stream info", stream: name })

  return {
    add: (config) => {
      const context = { operation: "stream add", stream: config.name }
      return api.request<ServerStreamInfo>(`STREAM.CREATE.${config.name}`, toServerConfig(config), context).pipe(
        Effect.map(fromServerInfo),
        Effect.ensuring(Effect.sync(() => onChange(config.name)))
      )
    },
    // Fields left out keep their current values (the server needs the whole
    // configuration, and some fields, such as storage, cannot change).
    update: (config) => {
      const context = { operation: "stream update", stream: config.name }
      return info(config.name).pipe(
        Effect.flatMap((current) =>
          api.request<ServerStreamInfo>(
            `STREAM.UPDATE.${config.name}`,
            { ...current.config, ...toServerConfig(config) },
            context
          )
        ),
        Effect.map(fromServerInfo),
        Effect.ensuring(Effect.sync(() => onChange(config.name)))
      )
    },
    info: (name) => Effect.map(info(name), fromServerInfo),
    delete: (name) => {
      const context = { operation: "stream delete", stream: name }
      return api.request(`STREAM.DELETE.${name}`, undefined, context).pipe(
        Effect.asVoid,
        Effect.ensuring(Effect.sync(() => onChange(name)))
      )
    },
    purge: (name, options) => {
      const context = { operation: "stream purge", stream: name }
      return Effect.map(
        api.request<PurgeResponse>(`STREAM.PURGE.${name}`, purgeRequest(options), context),
        (response) => ({ purged: response.purged })
      )
    },
    list: (options) => {
      const context = { operation: "stream list" }
      const subject = options?.subject
      const page = (offset: number, acc: Array<StreamInfo>): Effect.Effect<Array<StreamInfo>, NatsError.NatsError> =>
        Effect.flatMap(
          api.request<StreamListResponse>(
            "STREAM.LIST",
            subject === undefined ? { offset } : { offset, subject },
            context
          ),
          (response) => {
            const streams = response.streams ?? []
            for (const stream of streams) acc.push(fromServerInfo(stream))
            return streams.length === 0 || acc.length >= response.total ? Effect.succeed(acc) : page(acc.length, acc)
          }
        )
      return page(0, [])
    }
  }
}

const purgeRequest = (options: PurgeOptions | undefined): object | undefined => {
  if (options === undefined) return undefined
  const request: { filter?: string; keep?: number; seq?: number } = {}
  if (options.filter !== undefined) request.filter = options.filter
  if (options.keep !== undefined) request.keep = options.keep
  if (options.seq !== undefined) request.seq = options.seq
  return request
}
