// The NATS the examples run on: the server at NATS_URL when it is set, else
// the in-memory NATS, so `pnpm example` works on a machine with no server.
import { NatsClient, type NatsError } from "@nats-effect/core"
import { Config, Effect, Layer, Option } from "effect"

export const Nats: Layer.Layer<NatsClient.NatsClient, NatsError.NatsError | Config.ConfigError> = Layer.unwrap(
  Effect.map(
    Config.option(Config.String("NATS_URL")),
    (url) => Option.isSome(url) ? NatsClient.layerConfig() : NatsClient.layerMemory()
  )
)
