// Placeholder: replaced by the nats.js adapter.
import { Effect } from "effect"
import type { Scope } from "effect"
import type { NatsClient, NatsClientOptions } from "../../NatsClient.ts"
import type { NatsError } from "../../NatsError.ts"
export const make = (_options: NatsClientOptions): Effect.Effect<NatsClient["Service"], NatsError, Scope.Scope> =>
  Effect.die("not implemented")
