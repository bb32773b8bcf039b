/**
 * The `nats-effect` command: objects, key-value buckets, core NATS messages,
 * JetStream streams and consumers from a shell, with progress bars on a
 * terminal.
 *
 * `run(args)` is the whole program: the binary runs it with
 * `NodeRuntime.runMain`, tests run it on the in-memory NATS by providing
 * `Connector`.
 *
 * @since 0.1.0
 * @module
 */
import type { NatsError } from "@nats-effect/core"
import type { KeyValueError } from "@nats-effect/kv"
import type { ObjectStoreError } from "@nats-effect/object-store"
import { type Config, Effect, Logger, type PlatformError, Predicate, References, Stdio } from "effect"
import { CliError, CliOutput, Command } from "effect/cli"
import * as Connection from "./internal/connection.ts"
import { CommandFailed } from "./internal/failure.ts"
import * as Docs from "./internal/docs.ts"
import * as KeyValues from "./internal/keyValues.ts"
import * as Messages from "./internal/messages.ts"
import * as Objects from "./internal/objects.ts"
import * as Output from "./internal/output.ts"
import * as Streams from "./internal/streams.ts"

export { CommandFailed }

/**
 * `docs gen` or `docs serve` could not load, build or serve an app module's document.
 *
 * @since 0.1.0
 * @category errors
 */
export const DocsError = Docs.DocsError
/**
 * The error `DocsError` fails with.
 *
 * @since 0.1.0
 * @category errors
 */
export type DocsError = Docs.DocsError

/**
 * How commands connect: nats.js from the connection flags unless replaced.
 *
 * @since 0.1.0
 * @category services
 */
export const Connector = Connection.Connector

/**
 * The connection flags, as a `Connector` receives them.
 *
 * @since 0.1.0
 * @category options
 */
export type ConnectionFlags = Connection.Flags

/**
 * The version `nats-effect --version` prints.
 *
 * @since 0.1.0
 * @category constants
 */
export const version = "0.1.0"

/**
 * The command tree.
 *
 * @since 0.1.0
 * @category constructors
 */
export const command: Command.Command<
  "nats-effect",
  {},
  {},
  | NatsError.NatsError
  | Config.ConfigError
  | ObjectStoreError.ObjectStoreError
  | KeyValueError.KeyValueError
  | PlatformError.PlatformError
  | CommandFailed
  | Docs.DocsError,
  Command.Environment
> = Command.make(
  "nats-effect"
).pipe(
  Command.withDescription("Objects, key-value buckets, messages, streams and consumers on NATS, and AsyncAPI documents of apps"),
  Command.withSubcommands([Objects.command, KeyValues.command, ...Messages.commands, ...Streams.commands, Docs.command])
)

/** The failure as one line; a parse error with the command's help to look at. */
const oneLine = (error: unknown): string => {
  const message = CliError.isCliError(error) && error._tag === "ShowHelp"
    ? `${error.errors.map((e) => e.message).join("; ")} (see ${error.commandPath.join(" ")} --help)`
    : Predicate.hasProperty(error, "message") && typeof error.message === "string"
    ? error.message
    : String(error)
  return message.split("\n")[0]!
}

const isHelpOnly = (error: unknown) => CliError.isCliError(error) && error._tag === "ShowHelp" && error.errors.length === 0

/**
 * Help and the version on stdout; a bad invocation is reported by `run`'s
 * one line, without the help page around it.
 */
const presenter = (formatter: CliOutput.Formatter, stdio: Stdio.Stdio): CliOutput.Presenter => ({
  present: (event) => {
    const print = (text: string) => Effect.ignore(Output.print(text)).pipe(Effect.provideService(Stdio.Stdio, stdio))
    switch (event._tag) {
      case "Help":
        return print(formatter.formatHelpDoc(event.helpDoc))
      case "Version":
        return print(formatter.formatVersion(event.name, event.version))
      case "InvalidInvocation":
        return Effect.void
    }
  }
})

/**
 * Runs the command line `args` (without the program's name). Results go to
 * stdout, progress and notes to stderr; a failure is one line on stderr and
 * fails with `CommandFailed` (exit code 1). Logs go to stderr, from Warn up.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (
  args: ReadonlyArray<string>
): Effect.Effect<void, CommandFailed, Command.Environment> =>
  Effect.gen(function*() {
    const formatter = yield* CliOutput.Formatter
    const stdio = yield* Stdio.Stdio
    yield* Command.runWith(command, { version })(args).pipe(
      Effect.provideService(CliOutput.Presenter, presenter(formatter, stdio)),
      Effect.catch((error) =>
        isHelpOnly(error) ? Effect.void : Effect.andThen(
          Effect.ignore(Output.note(`nats-effect: ${oneLine(error)}`)),
          Effect.fail(new CommandFailed({ message: oneLine(error) }))
        )
      )
    )
  }).pipe(
    Effect.provideService(References.MinimumLogLevel, "Warn"),
    Effect.provideService(Logger.LogToStderr, true)
  )
