/**
 * The `NatsClient` adapters every conformance suite runs against: the
 * in-memory server, and nats.js on a fresh `nats-server` of each version in
 * `NatsServer.matrix()`. Set `NATS_EFFECT_ADAPTERS` (a comma-separated list
 * of names or name prefixes: `memory`, `nats-server`, `nats-server 2.15.3`)
 * to run a subset.
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
  /** How the suites name it: `"memory"`, `"nats-server 2.9.10"`. */
  readonly name: string
  /**
   * The nats-server version whose behaviour it has: a test of a feature newer
   * than this is skipped on it, saying so. Absent: the newest.
   */
  readonly version?: string | undefined
  /** A fresh, independent NATS (a new server process for `nats-server`) on each call. */
  readonly layer: () => Layer.Layer<NatsClient.NatsClient, unknown>
}

/**
 * Every adapter of `@nats-effect/core`: the in-memory NATS, and nats.js on
 * each nats-server of the matrix.
 *
 * @since 0.1.0
 * @category constants
 */
export const all: ReadonlyArray<Adapter> = [
  { name: "memory", version: NatsClient.memoryServerVersion, layer: () => NatsClient.layerMemory() },
  ...NatsServer.matrix().map((server): Adapter => ({
    name: `nats-server ${server.version}`,
    version: server.version,
    layer: () => NatsServer.layerClient({ bin: server.bin })
  }))
]

const selected = (process.env["NATS_EFFECT_ADAPTERS"] ?? "")
  .split(",")
  .map((name) => name.trim())
  .filter((name) => name.length > 0)

/**
 * The adapters to run: all, or those `NATS_EFFECT_ADAPTERS` names (by name or
 * by the start of it: `nats-server` is every server version).
 *
 * @since 0.1.0
 * @category constants
 */
export const adapters: ReadonlyArray<Adapter> = selected.length === 0
  ? all
  : all.filter((adapter) => selected.some((name) => adapter.name === name || adapter.name.startsWith(`${name} `)))

/**
 * Whether the adapter has what nats-server `major.minor.patch` added.
 *
 * @since 0.1.0
 * @category utils
 */
export const supports = (adapter: Pick<Adapter, "version">, major: number, minor: number, patch = 0): boolean =>
  adapter.version === undefined ||
  NatsClient.serverAtLeast({ version: adapter.version }, major, minor, patch)
