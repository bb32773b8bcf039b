/**
 * A real `nats-server` for tests: a process on a free loopback port with its
 * own temporary JetStream store, started as a Layer and killed (its store
 * removed) when the Layer is released. Tests can stop, kill and start it again
 * on the same port and store to exercise reconnects and persistence.
 *
 * `matrix()` lists the server binaries to test against (every version
 * installed, or those `NATS_SERVER_BIN` names), so a test that needs a real
 * server runs once per version: `for (const server of NatsServer.matrix())`.
 *
 * @since 0.1.0
 * @module
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { NatsClient } from "@nats-effect/core"
import type { NatsError } from "@nats-effect/core"
import { Context, Effect, Layer, Schema } from "effect"
import * as Process from "./internal/process.ts"

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
  /** The binary; default the first of `matrix()`: the oldest nats-server installed, or the first `NATS_SERVER_BIN` names. */
  readonly bin?: string | undefined
}

/**
 * A nats-server binary and the version it reports (`2.9.10`, `2.15.3`).
 *
 * @since 0.1.0
 * @category models
 */
export interface NatsServerBinary {
  readonly bin: string
  readonly version: string
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
  /** The binary running, and the version it says it is (from its startup log). */
  readonly bin: string
  readonly version: string
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

/** `nats-server --version` prints `nats-server: v2.9.10`. */
const versionPattern = /v?(\d+\.\d+\.\d+\S*)/

/**
 * The version a nats-server binary reports, or `undefined` when it cannot be
 * run (missing, not executable, not a nats-server).
 *
 * @since 0.1.0
 * @category utils
 */
export const binaryVersion = (bin: string): string | undefined => {
  try {
    const out = execFileSync(bin, ["--version"], { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "pipe"] })
    return out.startsWith("nats-server") ? versionPattern.exec(out)?.[1] : undefined
  } catch {
    return undefined
  }
}

const numeric = (version: string) => version.split(/[.-]/).slice(0, 3).map((part) => parseInt(part, 10) || 0)

/** Orders versions oldest first. */
const byVersion = (a: NatsServerBinary, b: NatsServerBinary) => {
  const [x, y] = [numeric(a.version), numeric(b.version)]
  return (x[0]! - y[0]!) || (x[1]! - y[1]!) || (x[2]! - y[2]!)
}

/** Where nats-server is usually installed: the PATH, Debian's package, `go install`. */
const installedBins = (): ReadonlyArray<string> => {
  const onPath = (process.env["PATH"] ?? "").split(Path.delimiter).filter((dir) => dir.length > 0)
  const goBins = [
    process.env["GOBIN"],
    ...(process.env["GOPATH"] ?? "").split(Path.delimiter).filter((dir) => dir.length > 0).map((dir) => Path.join(dir, "bin")),
    Path.join(Os.homedir(), "go", "bin")
  ]
  return [...onPath, "/usr/sbin", ...goBins]
    .filter((dir): dir is string => dir !== undefined && dir.length > 0)
    .map((dir) => Path.join(dir, "nats-server"))
}

let matrixCache: ReadonlyArray<NatsServerBinary> | undefined

/**
 * The nats-server binaries a test that needs a real server runs against,
 * oldest first. `NATS_SERVER_BIN` names one binary, or several separated by
 * `:` (the path delimiter); without it, every distinct version installed on
 * the PATH, at `/usr/sbin/nats-server` (Debian's package) or in Go's bin
 * directory (`go install github.com/nats-io/nats-server/v2@…`). Each binary
 * is asked its version once per process.
 *
 * @since 0.1.0
 * @category constructors
 */
export const matrix = (): ReadonlyArray<NatsServerBinary> => {
  if (matrixCache !== undefined) return matrixCache
  const named = (process.env["NATS_SERVER_BIN"] ?? "").split(Path.delimiter).filter((bin) => bin.length > 0)
  const found: Array<NatsServerBinary> = []
  for (const bin of named.length > 0 ? named : installedBins()) {
    const version = binaryVersion(bin)
    if (version === undefined) {
      // A binary named explicitly must run: a typo should not quietly test nothing.
      if (named.length > 0) throw new Error(`NATS_SERVER_BIN names ${bin}, which does not run as nats-server --version`)
      continue
    }
    if (!found.some((other) => other.version === version)) found.push({ bin, version })
  }
  matrixCache = found.sort(byVersion)
  return matrixCache
}

const defaultBin = (): string => matrix()[0]?.bin ?? "nats-server"

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

/** Spawns one server process and waits for its "Server is ready" log line. */
const spawnServer = (bin: string, args: ReadonlyArray<string>): Effect.Effect<Process.Spawned, NatsServerError> =>
  Process.spawnReady(bin, args, {
    ready: readyLine,
    timeoutMillis: readyTimeoutMillis,
    hint: " (install nats-server, or name it in NATS_SERVER_BIN)"
  }).pipe(Effect.mapError((notReady) => new NatsServerError(notReady)))

const isPortTaken = (error: NatsServerError) => (error.output ?? "").includes("address already in use")

/** The startup log says `Version:  2.9.10`. */
const loggedVersion = (output: string): string | undefined => /Version:\s+(\S+)/.exec(output)?.[1]

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
      const bin = options.bin ?? defaultBin()

      // Another port when the free port was taken in the meantime by someone else.
      const startOnFreePort = (attemptsLeft: number): Effect.Effect<
        { port: number; spawned: Process.Spawned },
        NatsServerError
      > =>
        Effect.flatMap(freePort, (port) =>
          spawnServer(bin, argsFor(port)).pipe(
            Effect.map((spawned) => ({ port, spawned })),
            Effect.catchIf(
              (error) => isPortTaken(error) && attemptsLeft > 1,
              () => startOnFreePort(attemptsLeft - 1)
            )
          ))

      const first = yield* startOnFreePort(3)
      const { port } = first
      const version = loggedVersion(first.spawned.output()) ?? binaryVersion(bin) ?? "unknown"
      let current: Process.Spawned | undefined = first.spawned
      yield* Effect.addFinalizer(() => current === undefined ? Effect.void : Process.signal(current.child, "SIGKILL"))

      const stopWith = (name: NodeJS.Signals) =>
        Effect.suspend(() => current === undefined ? Effect.void : Process.signal(current.child, name))
      const start = Effect.suspend(() =>
        current !== undefined && !Process.exited(current.child)
          ? Effect.void
          : Effect.map(spawnServer(bin, argsFor(port)), (spawned) => {
            current = spawned
          })
      )
      const stop = stopWith("SIGTERM")
      return NatsServer.of({
        url: `nats://127.0.0.1:${port}`,
        bin,
        version,
        port,
        storeDir,
        stop,
        kill: stopWith("SIGKILL"),
        start,
        restart: Effect.andThen(stop, start),
        reload: Effect.sync(() => {
          if (current !== undefined && !Process.exited(current.child)) current.child.kill("SIGHUP")
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
