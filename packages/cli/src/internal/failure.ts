import { Runtime, Schema } from "effect"

/**
 * How the command fails: one line for the person who ran it (already
 * printed on stderr by `Cli.run`) and exit code 1.
 */
export class CommandFailed extends Schema.TaggedError<CommandFailed>("@nats-effect/cli/CommandFailed")(
  "CommandFailed",
  { message: Schema.String }
) {
  override readonly [Runtime.errorExitCode] = 1
  override readonly [Runtime.errorReported] = false
}
