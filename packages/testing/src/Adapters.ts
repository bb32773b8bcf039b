/**
 * The `NatsClient` adapters every conformance suite runs against: the
 * in-memory server and nats.js on a fresh `nats-server`. Set
 * `NATS_EFFECT_ADAPTERS` (a comma-separated list, e.g. `memory`) to run a
 * subset.
 *
 * @since 0.1.0
 * @module
 */
import { NatsClient } from "@nats-effect/core"
import type { Layer } from "effect"
import * as NatsServer from "./NatsServer.ts"

/**
 * A `NatsClient` adapter the conformance suites run against.
 *
 * @since 0.1.0
 * @category models
 */
export interface Adapter {
  /** How the suites name it; `"memory"` and `"nats-server"` are ours. */
  readonly name: string
  /** A fresh, independent NATS (a new server process for `nats-server`) on each call. */
  readonly layer: () => Layer.Layer<NatsClient.NatsClient, unknown>
}

/**
 * Every adapter of `@nats-effect/core`: the in-memory NATS and nats.js on a nats-server.
 *
 * @since 0.1.0
 * @category constants
 */
export const all: ReadonlyArray<Adapter> = [
  { name: "memory", layer: () => NatsClient.layerMemory() },
  { name: "nats-server", layer: () => NatsServer.layerClient() }
]

const selected = (process.env["NATS_EFFECT_ADAPTERS"] ?? "")
  .split(",")
  .map((name) => name.trim())
  .filter((name) => name.length > 0)

/**
 * The adapters to run: all, or those named in `NATS_EFFECT_ADAPTERS`.
 *
 * @since 0.1.0
 * @category constants
 */
export const adapters: ReadonlyArray<Adapter> = selected.length === 0
  ? all
  : all.filter((adapter) => selected.includes(adapter.name))
