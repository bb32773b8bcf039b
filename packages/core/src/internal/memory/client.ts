// Placeholder: replaced by the in-memory adapter.
import { Effect } from "effect"
import type { Scope } from "effect"
import type { MemoryOptions, NatsClient } from "../../NatsClient.ts"
export const make = (_options: MemoryOptions): Effect.Effect<NatsClient["Service"], never, Scope.Scope> =>
  Effect.die("not implemented")
