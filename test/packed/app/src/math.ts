// Effect RPC over NATS, as a user writes it: a group, its server, a client.
import { NatsRpc } from "@nats-effect/rpc"
import { Effect, Layer, Schema } from "effect"
import { Rpc, RpcClient, RpcGroup, RpcSerialization } from "effect/rpc"

export class MathRpcs extends RpcGroup.make(
  Rpc.make("Add", { payload: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
) {}

/** Needs a NatsClient. */
export const MathServer = NatsRpc.layerServer(MathRpcs, { subject: "math", queue: "math" }).pipe(
  Layer.provide(MathRpcs.toLayer({ Add: ({ a, b }) => Effect.succeed(a + b) })),
  Layer.provide(RpcSerialization.layerJson)
)

export const add = (a: number, b: number) =>
  Effect.gen(function*() {
    const math = yield* RpcClient.make(MathRpcs)
    return yield* math.Add({ a, b })
  }).pipe(
    Effect.scoped,
    Effect.provide(NatsRpc.layerProtocolClient({ subject: "math" })),
    Effect.provide(RpcSerialization.layerJson)
  )
