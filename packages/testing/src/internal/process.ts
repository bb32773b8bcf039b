/**
 * Child processes the harness starts (nats-server, Node programs): spawned,
 * their output kept, ready once a line appears in it, killed when the test
 * process exits without running finalizers.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { Effect } from "effect"

const outputLimit = 16 * 1024

// Processes still running when the test process exits (a worker torn down
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

export const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null

export const waitForExit = (child: ChildProcess): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (exited(child)) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

/** Sends the signal; completes when the process has exited. */
export const signal = (child: ChildProcess, name: NodeJS.Signals): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (exited(child)) return Effect.void
    child.kill(name)
    return waitForExit(child)
  })

export interface Spawned {
  readonly child: ChildProcess
  /** What it wrote to stdout and stderr, the last 16 KiB. */
  readonly output: () => string
  /** Completes once it has written `text` (to stdout or stderr, since it started). */
  readonly written: (text: string) => Effect.Effect<void>
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv | undefined
  /** Ready once its output contains this. */
  readonly ready: string
  readonly timeoutMillis: number
  /** What the command's name is in messages; for a missing binary, what to do about it. */
  readonly hint?: string | undefined
}

/** Why a process did not become ready, with what it wrote. */
export interface NotReady {
  readonly message: string
  readonly output: string
}

/**
 * Spawns the process and waits for its ready line. Fails with its output when
 * it exits first, cannot be run or takes too long; killed when interrupted
 * while starting.
 */
export const spawnReady = (
  command: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions
): Effect.Effect<Spawned, NotReady> =>
  Effect.callback<Spawned, NotReady>((resume) => {
    installExitHook()
    let output = ""
    let settled = false
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: options.env ?? process.env })
    running.add(child)
    child.once("exit", () => running.delete(child))
    // Every byte written, for `written`: `output` keeps only the end.
    let total = ""
    const listeners = new Set<() => void>()
    const spawned: Spawned = {
      child,
      output: () => output,
      written: (text) =>
        Effect.callback<void>((resume) => {
          const check = () => {
            if (!total.includes(text)) return
            listeners.delete(check)
            resume(Effect.void)
          }
          listeners.add(check)
          check()
          return Effect.sync(() => listeners.delete(check))
        })
    }
    const settle = (effect: Effect.Effect<Spawned, NotReady>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(effect)
    }
    const fail = (message: string) => {
      child.kill("SIGKILL")
      settle(Effect.fail({ message, output }))
    }
    const onData = (chunk: Buffer) => {
      total += chunk.toString("utf8")
      output = total.slice(-outputLimit)
      for (const listener of listeners) listener()
      if (!settled && output.includes(options.ready)) settle(Effect.succeed(spawned))
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    child.once("error", (cause) => fail(`cannot run ${command}: ${cause.message}${options.hint ?? ""}`))
    // "close", not "exit": only then has everything the process wrote been read.
    child.once("close", (code, sig) => fail(`${command} exited before it was ready (${sig ?? `code ${code}`}):\n${output}`))
    const timer = setTimeout(
      () => fail(`${command} was not ready within ${options.timeoutMillis} ms:\n${output}`),
      options.timeoutMillis
    )
    // Interrupted while starting: do not leave the process behind.
    return Effect.sync(() => {
      settled = true
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })
