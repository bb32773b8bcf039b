/**
 * A real `nats-server` for tests: a process on a free loopback port with its
 * own temporary JetStream store, started as a Layer and killed (its store
 * removed) when the Layer is released. Tests can stop, kill and start it again
 * on the same port and store to exercise reconnects and persistence.
 *
 * @since 0.1.0
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { NatsClient } from "@nats-effect/core"
import type { NatsError } from "@nats-effect/core"
import { Context, Effect, Layer, Schema } from "effect"

/**
 * The server could not be started (binary missing, exited early, not ready in time).
 *
 * @since 0.1.0
 * @category errors
 */
export class NatsServerError extends Schema.TaggedError<NatsServerError>("@nats-effect/testing/NatsServerError")(
  "NatsServerError",
  { message: Schema.String, output: Schema.optional(Schema.String) }
) {}

/**
 * Options of the nats-server process: port, JetStream, the binary.
 *
 * @since 0.1.0
 * @category options
 */
export interface NatsServerOptions {
  /** Extra arguments, such as `["--user", "u", "--pass", "p"]` or `["-c", "server.conf"]`. */
  readonly args?: ReadonlyArray<string> | undefined
  /** Default true. */
  readonly jetstream?: boolean | undefined
  /** The binary; default `$NATS_SERVER_BIN`, else `nats-server` on the PATH, else `/usr/sbin/nats-server`. */
  readonly bin?: string | undefined
}

/**
 * A nats-server process started for a test, with its URL and controls to stop and restart it.
 *
 * @since 0.1.0
 * @category services
 */
export class NatsServer extends Context.Service<NatsServer, {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** The JetStream store directory (`-sd`), kept across `stop` / `start`. */
  readonly storeDir: string
  /** Graceful stop (SIGTERM); completes when the process has exited. */
  readonly stop: Effect.Effect<void>
  /** SIGKILL; completes when the process has exited. */
  readonly kill: Effect.Effect<void>
  /** Starts the server again on the same port and store; completes when it is ready. No-op when running. */
  readonly start: Effect.Effect<void, NatsServerError>
  readonly restart: Effect.Effect<void, NatsServerError>
  /** Asks the server to reload its configuration file (SIGHUP); it does so asynchronously. */
  readonly reload: Effect.Effect<void>
}>()("@nats-effect/testing/NatsServer") {}

const readyLine = "Server is ready"
const readyTimeoutMillis = 15_000
const outputLimit = 16 * 1024

// Servers still running when the test process exits (a worker torn down
// without running finalizers) are killed rather than left behind.
const running = new Set<ChildProcess>()
let exitHookInstalled = false
const installExitHook = () => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL")
  })
}

const candidateBins = (options: NatsServerOptions): ReadonlyArray<string> => {
  if (options.bin !== undefined) return [options.bin]
  const fromEnv = process.env["NATS_SERVER_BIN"]
  if (fromEnv !== undefined && fromEnv.length > 0) return [fromEnv]
  return ["nats-server", "/usr/sbin/nats-server"]
}

const freePort: Effect.Effect<number, NatsServerError> = Effect.callback((resume) => {
  const server = Net.createServer()
  server.once("error", (cause) =>
    resume(Effect.fail(new NatsServerError({ message: `no free port on 127.0.0.1: ${cause.message}` }))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null

const waitForExit = (child: ChildProcess): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (exited(child)) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

const signal = (child: ChildProcess, name: NodeJS.Signals): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (exited(child)) return Effect.void
    child.kill(name)
    return waitForExit(child)
  })

interface Spawned {
  readonly child: ChildProcess
  readonly output: () => string
}

/**
 * Spawns one server process and waits for its "Server is ready" log line.
 * Fails with the process output when it exits first or takes too long.
 */
const spawnReady = (bin: string, args: ReadonlyArray<string>): Effect.Effect<Spawned, NatsServerError> =>
  Effect.callback<Spawned, NatsServerError>((resume) => {
    let output = ""
    let settled = false
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] })
    running.add(child)
    child.once("exit", () => running.delete(child))
    const spawned: Spawned = { child, output: () => output }
    const settle = (effect: Effect.Effect<Spawned, NatsServerError>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(effect)
    }
    const fail = (message: string) => {
      child.kill("SIGKILL")
      settle(Effect.fail(new NatsServerError({ message, output })))
    }
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-outputLimit)
      if (!settled && output.includes(readyLine)) settle(Effect.succeed(spawned))
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    child.once("error", (cause) => fail(`cannot run ${bin}: ${cause.message}`))
    child.once("exit", (code, sig) =>
      fail(`${bin} exited before it was ready (${sig ?? `code ${code}`}):\n${output}`))
    const timer = setTimeout(
      () => fail(`${bin} was not ready within ${readyTimeoutMillis} ms:\n${output}`),
      readyTimeoutMillis
    )
    // Interrupted while starting: do not leave the process behind.
    return Effect.sync(() => {
      settled = true
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

const isMissingBinary = (error: NatsServerError) => error.message.includes("ENOENT")
const isPortTaken = (error: NatsServerError) => (error.output ?? "").includes("address already in use")

/**
 * A fresh `nats-server` on a free loopback port with its own store directory,
 * JetStream enabled unless `jetstream: false`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: NatsServerOptions = {}): Layer.Layer<NatsServer, NatsServerError> =>
  Layer.effect(
    NatsServer,
    Effect.gen(function*() {
      installExitHook()
      const storeDir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "nats-effect-server-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      const argsFor = (port: number): ReadonlyArray<string> => [
        "-a",
        "127.0.0.1",
        "-p",
        String(port),
        ...(options.jetstream === false ? [] : ["-js", "-sd", storeDir]),
        ...(options.args ?? [])
      ]
      const bins = candidateBins(options)

      // The first binary that runs; another port when the free port was taken
      // in the meantime by someone else.
      const spawnFirst = (port: number): Effect.Effect<{ bin: string; spawned: Spawned }, NatsServerError> => {
        const attempt = (i: number): Effect.Effect<{ bin: string; spawned: Spawned }, NatsServerError> =>
          spawnReady(bins[i]!, argsFor(port)).pipe(
            Effect.map((spawned) => ({ bin: bins[i]!, spawned })),
            Effect.catchIf(
              (error) => isMissingBinary(error) && i + 1 < bins.length,
              () => attempt(i + 1)
            )
          )
        return attempt(0)
      }
      const startOnFreePort = (attemptsLeft: number): Effect.Effect<
        { port: number; bin: string; spawned: Spawned },
        NatsServerError
      > =>
        Effect.flatMap(freePort, (port) =>
          spawnFirst(port).pipe(
            Effect.map((started) => ({ port, ...started })),
            Effect.catchIf(
              (error) => isPortTaken(error) && attemptsLeft > 1,
              () => startOnFreePort(attemptsLeft - 1)
            )
          ))

      const first = yield* startOnFreePort(3)
      const { bin, port } = first
      let current: Spawned | undefined = first.spawned
      yield* Effect.addFinalizer(() => current === undefined ? Effect.void : signal(current.child, "SIGKILL"))

      const stopWith = (name: NodeJS.Signals) =>
        Effect.suspend(() => current === undefined ? Effect.void : signal(current.child, name))
      const start = Effect.suspend(() =>
        current !== undefined && !exited(current.child)
          ? Effect.void
          : Effect.map(spawnReady(bin, argsFor(port)), (spawned) => {
            current = spawned
          })
      )
      const stop = stopWith("SIGTERM")
      return NatsServer.of({
        url: `nats://127.0.0.1:${port}`,
        port,
        storeDir,
        stop,
        kill: stopWith("SIGKILL"),
        start,
        restart: Effect.andThen(stop, start),
        reload: Effect.sync(() => {
          if (current !== undefined && !exited(current.child)) current.child.kill("SIGHUP")
        })
      })
    })
  )

/**
 * A fresh server and a `NatsClient` (nats.js) connected to it. `client`
 * options are passed to `NatsClient.layer` (the servers are the harness's).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  options: NatsServerOptions = {},
  client: Omit<NatsClient.NatsClientOptions, "servers"> = {}
): Layer.Layer<NatsClient.NatsClient | NatsServer, NatsServerError | NatsError.NatsError> =>
  Layer.unwrap(Effect.map(NatsServer, (server) => NatsClient.layer({ ...client, servers: server.url })))
    .pipe(Layer.provideMerge(layer(options)))
