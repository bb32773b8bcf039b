/**
 * A Node program in a process of its own, for the tests that kill one the
 * way an operator or a crash does (`kill -9`): a cluster runner, an RPC
 * server. Started as a scoped resource (killed when the scope closes), ready
 * once it prints a line, its output kept for the failure message.
 *
 * ```ts
 * const runner = yield* NodeProcess.spawn("test/fixtures/runner.ts", {
 *   env: { NATS_URL: server.url },
 *   ready: "runner ready"
 * })
 * yield* runner.kill
 * ```
 *
 * The entry point may be TypeScript: Node 22.18 and later strip its types.
 *
 * @since 0.2.0
 * @module
 */
import { Effect, Schema, type Scope } from "effect"
import * as Process from "./internal/process.ts"

/**
 * The process could not be started, exited before it was ready, or was not
 * ready in time; `output` is what it wrote.
 *
 * @since 0.2.0
 * @category errors
 */
export class NodeProcessError extends Schema.TaggedError<NodeProcessError>("@nats-effect/testing/NodeProcessError")(
  "NodeProcessError",
  { message: Schema.String, output: Schema.optional(Schema.String) }
) {}

/**
 * A running Node program.
 *
 * @since 0.2.0
 * @category models
 */
export interface NodeProcess {
  readonly pid: number
  /** What it wrote to stdout and stderr (the last 16 KiB). */
  readonly output: () => string
  /** Completes once it has written `text` (since it started). */
  readonly written: (text: string) => Effect.Effect<void>
  /** SIGKILL, as `kill -9`; completes when it has exited. */
  readonly kill: Effect.Effect<void>
  /** SIGTERM; completes when it has exited. */
  readonly stop: Effect.Effect<void>
  /** Completes when it has exited, by itself or by a signal. */
  readonly exited: Effect.Effect<void>
}

/**
 * Options of `spawn`: arguments, environment, and what it prints when ready.
 *
 * @since 0.2.0
 * @category options
 */
export interface SpawnOptions {
  readonly args?: ReadonlyArray<string> | undefined
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Ready once it has printed this. Default `ready`. */
  readonly ready?: string | undefined
  /** How long it may take to be ready, in milliseconds. Default 30,000. */
  readonly timeoutMillis?: number | undefined
}

/**
 * Runs `node <entry> <args>` (with this process's Node) and waits until it
 * prints its ready line; it is killed (SIGKILL) when the scope closes.
 *
 * @since 0.2.0
 * @category constructors
 */
export const spawn = (
  entry: string,
  options: SpawnOptions = {}
): Effect.Effect<NodeProcess, NodeProcessError, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Process.spawnReady(process.execPath, [entry, ...(options.args ?? [])], {
        env: { ...process.env, ...options.env },
        ready: options.ready ?? "ready",
        timeoutMillis: options.timeoutMillis ?? 30_000
      }).pipe(Effect.mapError((notReady) => new NodeProcessError(notReady))),
      (spawned) => Process.signal(spawned.child, "SIGKILL")
    ),
    (spawned) => ({
      pid: spawned.child.pid ?? 0,
      output: spawned.output,
      written: spawned.written,
      kill: Process.signal(spawned.child, "SIGKILL"),
      stop: Process.signal(spawned.child, "SIGTERM"),
      exited: Process.waitForExit(spawned.child)
    })
  )
