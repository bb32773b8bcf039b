import { Runtime, Schema } from "effect"

/**
 * How the command fails: one line for the person who ran it (already
 * printed on stderr by `Cli.run`) and exit code 1.
 *
 * @since 0.1.0
 * @category errors
 */
export class CommandFailed extends Schema.TaggedError<CommandFailed>("@nats-effect/cli/CommandFailed")(
  "CommandFailed",
  { message: Schema.String }
) {
  override readonly [Runtime.errorExitCode] = 1
  override readonly [Runtime.errorReported] = false
}
