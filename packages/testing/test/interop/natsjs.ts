/**
 * What the interop tests share: a connection of the official nats.js client
 * to the suite's nats-server, beside ours.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Context, Effect, Layer } from "effect"
import { NatsServer } from "@nats-effect/testing"

export class NatsJs extends Context.Service<NatsJs, NatsConnection>()("test/NatsJs") {}

/** Connected while the layer lives; needs the harness's `NatsServer`. */
export const NatsJsLive = Layer.effect(
  NatsJs,
  Effect.flatMap(NatsServer.NatsServer, (server) =>
    Effect.acquireRelease(
      Effect.promise(() => connect({ servers: server.url })),
      (nc) => Effect.promise(() => nc.close())
    ))
)
