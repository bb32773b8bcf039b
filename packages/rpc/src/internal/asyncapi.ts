/**
 * An RPC group as AsyncAPI operations: each RPC is a request/reply
 * operation on the service subject, its request and its replies (exit,
 * stream chunks) as their JSON serialization encodes them.
 */
import type { NatsBroker } from "@nats-effect/core"
import { Schema } from "effect"
import { Rpc, type RpcGroup, RpcSchema } from "effect/rpc"

type AnySchema = Schema.Codec<any, any, never, never>

const requestSchema = (rpc: Rpc.AnyWithProps): AnySchema =>
  Schema.toCodecJson(Schema.Struct({
    _tag: Schema.Literal("Request"),
    id: Schema.Union([Schema.String, Schema.Number]),
    tag: Schema.Literal(rpc._tag),
    payload: rpc.payloadSchema,
    headers: Schema.Array(Schema.Tuple([Schema.String, Schema.String])),
    traceId: Schema.optionalKey(Schema.String),
    spanId: Schema.optionalKey(Schema.String),
    sampled: Schema.optionalKey(Schema.Boolean)
  })) as unknown as AnySchema

const replySchema = (rpc: Rpc.AnyWithProps): AnySchema => {
  const exit = Schema.Struct({
    _tag: Schema.Literal("Exit"),
    requestId: Schema.Union([Schema.String, Schema.Number]),
    exit: Rpc.exitSchema(rpc as any)
  })
  const success = rpc.successSchema
  return Schema.toCodecJson(
    RpcSchema.isStreamSchema(success)
      ? Schema.Union([
        Schema.Struct({
          _tag: Schema.Literal("Chunk"),
          requestId: Schema.Union([Schema.String, Schema.Number]),
          values: Schema.NonEmptyArray(success.success)
        }),
        exit
      ])
      : exit
  ) as unknown as AnySchema
}

export const endpoints = (
  group: RpcGroup.RpcGroup<any>,
  options: { readonly subject: string; readonly queue?: string | undefined }
): ReadonlyArray<NatsBroker.Endpoint> =>
  Array.from(group.requests.values(), (rpc): NatsBroker.Endpoint => {
    const stream = RpcSchema.isStreamSchema(rpc.successSchema)
    return {
      action: "receive",
      name: rpc._tag,
      address: options.subject,
      description: `Effect RPC "${rpc._tag}": ${
        stream ? "its answer is a stream of chunks (each acknowledged by the caller), then its exit" : "its answer is its exit"
      }, sent to the caller's inbox. Shown as JSON serializations encode it.`,
      schema: requestSchema(rpc),
      contentType: undefined,
      response: replySchema(rpc),
      errorReply: false,
      queue: options.queue,
      correlated: false,
      extensions: { "x-effect-rpc": { tag: rpc._tag, stream } }
    }
  })
