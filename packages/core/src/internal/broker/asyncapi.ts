/**
 * AsyncAPI 3.0 documents from what a broker's layers declared when they were
 * built (`Endpoint`s: subscribers, publishers, watchers).
 *
 * Each endpoint is an operation (`receive` or `send`) on the channel of its
 * address (the subject, `{param}` tokens kept and declared as parameters);
 * endpoints on one address share the channel, identical messages are shared
 * within it. Payloads are JSON Schemas (draft-07, AsyncAPI's default schema
 * format) from `Schema.toJsonSchemaDocument`, their named definitions hoisted
 * into `components.schemas`.
 */
import { Context, Effect, JsonSchema, Schema } from "effect"
import { EncodeError, fromReason, type NatsError } from "../../NatsError.ts"
import * as Codec from "./codec.ts"

/** What the app's layer declared, as the document shows it. */
export interface Endpoint {
  /** `receive` for subscribers and watchers, `send` for publishers. */
  readonly action: "receive" | "send"
  readonly name: string
  /** The subject on the wire, `{param}` tokens kept. */
  readonly address: string
  readonly description: string | undefined
  /** The payload's Schema; without it, any payload. */
  readonly schema: Codec.PayloadSchema | undefined
  /** The content type of every payload (a KV value's JSON); else derived from the Schema. */
  readonly contentType: string | undefined
  /** The reply's Schema, for a responder; `undefined` when it declares none. */
  readonly response: Codec.PayloadSchema | undefined
  /**
   * Whether a failed request is answered with the broker's `error` reply (the
   * failure's tag in a header, its message as the body), as subscribers'
   * are; not where failures travel in the reply itself (Effect RPC). Default true.
   */
  readonly errorReply?: boolean | undefined
  readonly queue: string | undefined
  /** Whether messages carry the `correlation_id` header (watchers' changes do not). */
  readonly correlated: boolean
  /** `x-` extensions of its operation: the JetStream stream and consumer, the bucket watched. */
  readonly extensions: Readonly<Record<string, unknown>>
}

/**
 * Set while `NatsBroker.asyncApi` builds an app: its subscribers, publishers
 * and watchers only declare themselves (no subscription, no stream, no
 * watch), and `afterStartup` work does not run.
 */
export const Documenting = Context.Reference<boolean>("@nats-effect/core/NatsBroker/Documenting", {
  defaultValue: () => false
})

export interface AsyncApiServer {
  /** `host:port`. */
  readonly host: string
  /** Default `nats`. */
  readonly protocol?: string | undefined
  readonly pathname?: string | undefined
  readonly description?: string | undefined
}

export interface AsyncApiOptions {
  readonly title: string
  readonly version: string
  readonly description?: string | undefined
  /** The servers the app connects to, by name: `{ production: { host: "nats.example.com:4222" } }`. */
  readonly servers?: Readonly<Record<string, AsyncApiServer>> | undefined
}

export interface AsyncApiMessage {
  /** Its key in the channel's messages. */
  readonly name: string
  readonly description?: string
  readonly contentType?: string
  readonly headers?: unknown
  readonly payload: unknown
  readonly correlationId?: { readonly location: string }
}

export interface AsyncApiChannel {
  /** The subject, or `null` when it is only known at run time (a requester's inbox). */
  readonly address: string | null
  readonly description?: string
  readonly parameters?: Readonly<Record<string, { readonly description?: string }>>
  readonly messages: Readonly<Record<string, AsyncApiMessage>>
}

export interface AsyncApiRef {
  readonly $ref: string
}

export interface AsyncApiOperation {
  readonly action: "receive" | "send"
  readonly channel: AsyncApiRef
  readonly messages: ReadonlyArray<AsyncApiRef>
  readonly title: string
  readonly description?: string
  readonly bindings?: { readonly nats: { readonly queue: string; readonly bindingVersion: "0.1.0" } }
  readonly reply?: { readonly channel: AsyncApiRef; readonly messages: ReadonlyArray<AsyncApiRef> }
  readonly [extension: `x-${string}`]: unknown
}

/** An AsyncAPI 3.0 document, as plain JSON data. */
export interface AsyncApiDocument {
  readonly asyncapi: "3.0.0"
  readonly info: { readonly title: string; readonly version: string; readonly description?: string }
  readonly servers?: Readonly<Record<string, AsyncApiServer & { readonly protocol: string }>>
  readonly defaultContentType: string
  readonly channels: Readonly<Record<string, AsyncApiChannel>>
  readonly operations: Readonly<Record<string, AsyncApiOperation>>
  readonly components: { readonly schemas: Readonly<Record<string, unknown>> }
}

const correlationId = { location: `$message.header#/${Codec.CorrelationIdHeader}` }

/** What a requester gets when the handler fails or its payload does not decode. */
const errorReply: AsyncApiMessage = {
  name: "error",
  description: "The request failed: the failure's tag in a header, its message as the body",
  contentType: Codec.ContentTypeText,
  headers: {
    type: "object",
    properties: { [Codec.ErrorHeader]: { type: "string", description: "The failure's tag (DecodeError, ...)" } },
    required: [Codec.ErrorHeader]
  },
  payload: { type: "string" },
  correlationId
}

const paramToken = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g

/**
 * A key of the document (`^[\w\d.\-_]+$`), unique among `taken`, readable:
 * wildcards in words (`orders.*` is `orders.any`, `$KV.config.>` is
 * `KV.config.all`), `{param}` as `param`, a watcher's `<bucket>:<keys>` as
 * `bucket.keys`.
 */
const uniqueKey = (wanted: string, taken: (key: string) => boolean): string => {
  const base = wanted.replace(/[{}$]/g, "").replace(/\*/g, "any").replace(/>/g, "all").replace(/:/g, ".").replace(/[^\w.-]/g, "_") || "_"
  let key = base
  for (let n = 2; taken(key); n++) key = `${base}_${n}`
  return key
}

/** Rewrites the `$ref`s of a draft-07 document (`#/definitions/<name>`) to its definitions' component keys. */
const relocateRefs = (value: unknown, keys: ReadonlyMap<string, string>): unknown => {
  if (Array.isArray(value)) return value.map((item) => relocateRefs(item, keys))
  if (value === null || typeof value !== "object") return value
  const out: Record<string, unknown> = {}
  for (const [key, inner] of Object.entries(value)) {
    if (key === "$ref" && typeof inner === "string" && inner.startsWith("#/definitions/")) {
      const name = inner.slice("#/definitions/".length).replace(/~1/g, "/").replace(/~0/g, "~")
      out[key] = `#/components/schemas/${keys.get(name) ?? name}`
    } else {
      out[key] = relocateRefs(inner, keys)
    }
  }
  return out
}

/** The document of `endpoints`; fails with `EncodeError` for a Schema that has no JSON Schema. */
export const document = (
  endpoints: ReadonlyArray<Endpoint>,
  options: AsyncApiOptions
): Effect.Effect<AsyncApiDocument, NatsError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(build(endpoints, options))
    } catch (error) {
      if (error instanceof SchemaWithoutJson) return Effect.fail(error.error)
      throw error
    }
  })

/** Thrown out of `build` by the first Schema that has no JSON Schema. */
class SchemaWithoutJson {
  readonly error: NatsError
  constructor(error: NatsError) {
    this.error = error
  }
}

const build = (endpoints: ReadonlyArray<Endpoint>, options: AsyncApiOptions): AsyncApiDocument => {
  const schemas: Record<string, unknown> = {}
  // The JSON text of each component, to share a definition that several Schemas have in common.
  const componentTexts = new Map<string, string>()
  const channels: Record<string, { -readonly [K in keyof AsyncApiChannel]: AsyncApiChannel[K] }> = {}
  const channelKeys = new Map<string, string>()
  const operations: Record<string, AsyncApiOperation> = {}

  const payloadOf = (schema: Codec.PayloadSchema | undefined, address: string): unknown => {
    if (schema === undefined) return {}
    let draft07: JsonSchema.Document<"draft-07">
    try {
      draft07 = JsonSchema.toDocumentDraft07(Schema.toJsonSchemaDocument(schema))
    } catch (cause) {
      throw new SchemaWithoutJson(fromReason(
        new EncodeError({
          subject: address,
          message: `the Schema of the payloads of "${address}" has no JSON Schema: ${
            cause instanceof Error ? cause.message : String(cause)
          }`
        })
      ))
    }
    const keys = new Map<string, string>()
    for (const [name, definition] of Object.entries(draft07.definitions)) {
      const text = JSON.stringify(definition)
      keys.set(name, uniqueKey(name, (key) => key in schemas && componentTexts.get(key) !== text))
    }
    for (const [name, definition] of Object.entries(draft07.definitions)) {
      const key = keys.get(name)!
      componentTexts.set(key, JSON.stringify(definition))
      schemas[key] = relocateRefs(definition, keys)
    }
    return relocateRefs(draft07.schema, keys)
  }

  /** What a Schema encodes to travels as text when it is a string, else as JSON (bytes aside). */
  const contentTypeOf = (payload: unknown, given: string | undefined): string | undefined =>
    given ?? (Object.keys(payload as object).length === 0
      ? undefined
      : (payload as { type?: unknown }).type === "string"
      ? "text/plain"
      : "application/json")

  /**
   * Adds a message to the channel, or finds the same one there (same payload, content type and
   * headers); its reference. A new one is named after its payload's component, else `wanted`.
   */
  const addMessage = (
    channelKey: string,
    wanted: string,
    payload: unknown,
    contentType: string | undefined,
    correlated: boolean
  ): AsyncApiRef => {
    const messages = channels[channelKey]!.messages as Record<string, AsyncApiMessage>
    const body = {
      ...(contentType === undefined ? {} : { contentType }),
      payload,
      ...(correlated ? { correlationId } : {})
    }
    const text = JSON.stringify(body)
    const same = Object.values(messages).find(({ name, ...other }) => JSON.stringify(other) === text)
    const ref = (payload as { $ref?: unknown }).$ref
    const name = same?.name ?? uniqueKey(
      typeof ref === "string" ? ref.slice("#/components/schemas/".length) : wanted,
      (key) => key in messages
    )
    messages[name] = { name, ...body }
    return { $ref: `#/channels/${channelKey}/messages/${name}` }
  }

  const channelOf = (address: string): string => {
    const known = channelKeys.get(address)
    if (known !== undefined) return known
    const key = uniqueKey(address, (key) => key in channels)
    channelKeys.set(address, key)
    const names = Array.from(address.matchAll(paramToken), (match) => match[1]!)
    channels[key] = {
      address,
      ...(names.length === 0 ? {} : { parameters: Object.fromEntries(names.map((name) => [name, {}])) }),
      messages: {}
    }
    return key
  }

  for (const endpoint of endpoints) {
    const channelKey = channelOf(endpoint.address)
    const operationKey = uniqueKey(`${endpoint.action}.${endpoint.name}`, (key) => key in operations)
    const payload = payloadOf(endpoint.schema, endpoint.address)
    const messageRef = addMessage(
      channelKey,
      `${operationKey}.message`,
      payload,
      contentTypeOf(payload, endpoint.contentType),
      endpoint.correlated
    )
    let reply: AsyncApiOperation["reply"]
    if (endpoint.response !== undefined) {
      const replyKey = uniqueKey(`${operationKey}.reply`, (key) => key in channels)
      const errors = endpoint.errorReply !== false
      channels[replyKey] = {
        address: null,
        description: `The reply subject (inbox) of each request to ${endpoint.address}`,
        messages: errors ? { error: errorReply } : {}
      }
      const replyPayload = payloadOf(endpoint.response, endpoint.address)
      const replyRef = addMessage(replyKey, "reply", replyPayload, contentTypeOf(replyPayload, undefined), endpoint.correlated)
      reply = {
        channel: { $ref: `#/channels/${replyKey}` },
        messages: errors ? [replyRef, { $ref: `#/channels/${replyKey}/messages/error` }] : [replyRef]
      }
    }
    operations[operationKey] = {
      action: endpoint.action,
      channel: { $ref: `#/channels/${channelKey}` },
      messages: [messageRef],
      title: endpoint.name,
      ...(endpoint.description === undefined ? {} : { description: endpoint.description }),
      ...(endpoint.queue === undefined
        ? {}
        : { bindings: { nats: { queue: endpoint.queue, bindingVersion: "0.1.0" as const } } }),
      ...(reply === undefined ? {} : { reply }),
      ...endpoint.extensions
    }
  }

  return {
    asyncapi: "3.0.0",
    info: {
      title: options.title,
      version: options.version,
      ...(options.description === undefined ? {} : { description: options.description })
    },
    ...(options.servers === undefined ? {} : {
      servers: Object.fromEntries(
        Object.entries(options.servers).map(([name, server]) => [name, { ...server, protocol: server.protocol ?? "nats" }])
      )
    }),
    defaultContentType: "application/json",
    channels,
    operations,
    components: { schemas }
  }
}
