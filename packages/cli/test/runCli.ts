/**
 * Runs the command as `Cli.run` does for the binary, on the `NatsClient` of
 * the test's context (the in-memory NATS), with stdin given and stdout and
 * stderr captured.
 */
import { NodeServices } from "@effect/platform-node"
import { Cli } from "@nats-effect/cli"
import { NatsClient } from "@nats-effect/core"
import { Deferred, Effect, Exit, Fiber, Layer, Queue, Sink, Stdio, Stream } from "effect"

export interface Ran {
  readonly exit: Exit.Exit<void, Cli.CommandFailed>
  readonly stdout: Uint8Array
  readonly stderr: string
  /** stdout as text */
  readonly output: string
}

const encoder = new TextEncoder()

const collector = (onWrite: (text: string) => Effect.Effect<void> = () => Effect.void) => {
  const chunks: Array<Uint8Array> = []
  const sink = () =>
    Sink.forEach((chunk: string | Uint8Array) =>
      Effect.suspend(() => {
        const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk
        chunks.push(bytes)
        return onWrite(Buffer.from(bytes).toString("utf8"))
      })
    )
  return { sink, bytes: () => Buffer.concat(chunks) }
}

export const runCli = (
  args: ReadonlyArray<string>,
  options: {
    readonly stdin?: string
    /** Whether stderr is a terminal (the progress bar is drawn). */
    readonly terminal?: boolean
    /** Called with each write to stderr, as it happens. */
    readonly onStderr?: (text: string) => Effect.Effect<void>
    /** Called with each write to stdout, as it happens. */
    readonly onStdout?: (text: string) => Effect.Effect<void>
  } = {}
) =>
  Effect.gen(function*() {
    const client = yield* NatsClient.NatsClient
    const stdout = collector(options.onStdout)
    const stderr = collector(options.onStderr)
    const stdio = Stdio.layerTest({
      args: Effect.succeed(args),
      stdout: stdout.sink,
      stderr: stderr.sink,
      stdin: options.stdin === undefined ? Stream.empty : Stream.make(encoder.encode(options.stdin)),
      stderrIsTerminal: Effect.succeed(options.terminal ?? false)
    })
    const exit = yield* Cli.run(args).pipe(
      Effect.provideService(Cli.Connector, () => Layer.succeed(NatsClient.NatsClient, client)),
      Effect.provide(stdio),
      Effect.provide(NodeServices.layer),
      Effect.exit
    )
    const bytes = stdout.bytes()
    return { exit, stdout: bytes, output: bytes.toString("utf8"), stderr: stderr.bytes().toString("utf8") } satisfies Ran
  })

/** The non-empty lines of `text`. */
export const lines = (text: string) => text.split("\n").filter((line) => line.length > 0)

/**
 * Starts a command that runs until interrupted (sub, watch, docs serve) and
 * returns once it has said on stderr that it is `ready` (that line is
 * `readyLine`); its stdout arrives line by line in `next`. It is interrupted
 * when the scope closes.
 */
export const started = (args: ReadonlyArray<string>, ready: string) =>
  Effect.gen(function*() {
    const isReady = yield* Deferred.make<string>()
    const output = yield* Queue.unbounded<string>()
    const fiber = yield* runCli(args, {
      onStderr: (text) => text.startsWith(ready) ? Effect.asVoid(Deferred.succeed(isReady, text.trimEnd())) : Effect.void,
      onStdout: (text) => Effect.asVoid(Queue.offerAll(output, lines(text)))
    }).pipe(Effect.forkScoped)
    // A command that fails before it is ready fails the test instead of leaving it waiting.
    const readyLine = yield* Effect.raceFirst(
      Deferred.await(isReady),
      Effect.flatMap(Fiber.join(fiber), (ran) => Effect.die(`${args.join(" ")} ended before it was ready: ${ran.stderr}`))
    )
    return { next: Queue.take(output), fiber, readyLine }
  })
