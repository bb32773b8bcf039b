/** `nats-effect pub | sub | req`: core NATS messages. */
import { NatsClient, type NatsError, NatsHeaders } from "@nats-effect/core"
import { type Config, Duration, Effect, Option, type PlatformError, type Stdio, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Connection from "./connection.ts"
import { CommandFailed } from "./failure.ts"
import * as Format from "./format.ts"
import * as Output from "./output.ts"

const subject = Argument.String("subject").pipe(Argument.withDescription("the subject"))
const payload = Argument.String("payload").pipe(
  Argument.withDescription("the payload (default: standard input)"),
  Argument.optional
)
const headerFlag = Flag.String("header").pipe(
  Flag.withAlias("H"),
  Flag.withDescription(
    "a header, NAME=VALUE; repeat it for more (default content-type: application/json for JSON, text/plain for other text)"
  ),
  Flag.atLeast(0)
)
const json = Output.jsonFlag

const encoder = new TextEncoder()

const payloadOrStdin = (payload: Option.Option<string>) =>
  Option.match(payload, { onNone: () => Output.readStdin, onSome: (text) => Effect.succeed(encoder.encode(text)) })

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * The payload's content type, so that a subscriber decoding by it (ours,
 * FastStream's) reads what was meant: JSON, else text, else bytes (none).
 */
const contentTypeOf = (data: Uint8Array): string | undefined => {
  if (data.length === 0) return undefined
  let text: string
  try {
    text = strictUtf8.decode(data)
  } catch {
    return undefined
  }
  try {
    JSON.parse(text)
    return NatsHeaders.ContentTypeJson
  } catch {
    return NatsHeaders.ContentTypeText
  }
}

/** The `--header` flags as headers (a name given twice has both values), and the payload's content type unless given. */
const headersOf = (flags: ReadonlyArray<string>, data: Uint8Array) =>
  Effect.gen(function*() {
    const headers: Record<string, Array<string>> = {}
    for (const flag of flags) {
      const equals = flag.indexOf("=")
      if (equals <= 0) return yield* new CommandFailed({ message: `--header ${flag}: expected NAME=VALUE` })
      const name = flag.slice(0, equals)
      ;(headers[name] ??= []).push(flag.slice(equals + 1))
    }
    const contentType = contentTypeOf(data)
    if (contentType !== undefined && NatsHeaders.get(headers, NatsHeaders.ContentTypeHeader) === undefined) {
      headers[NatsHeaders.ContentTypeHeader] = [contentType]
    }
    return headers
  })

const describe = (msg: NatsClient.Msg) => ({
  subject: msg.subject,
  ...(msg.reply === undefined ? {} : { reply: msg.reply }),
  ...(msg.headers === undefined ? {} : { headers: msg.headers }),
  data: Output.text(msg.data)
})

const pub = Command.make(
  "pub",
  {
    ...Connection.flags,
    subject,
    payload,
    header: headerFlag,
    count: Flag.Int("count").pipe(Flag.withDescription("how many times to publish it"), Flag.withDefault(1)),
    json
  },
  (input) =>
    Effect.gen(function*() {
      const client = yield* NatsClient.NatsClient
      const data = yield* payloadOrStdin(input.payload)
      const headers = yield* headersOf(input.header, data)
      for (let i = 0; i < input.count; i++) yield* client.publish(input.subject, data, { headers })
      // Published means received by the server, not only buffered here.
      yield* client.flush
      const done = { subject: input.subject, count: input.count, bytes: data.length }
      yield* input.json
        ? Output.printJson(done)
        : Output.note(`published ${Format.count(done.count, "message")} of ${done.bytes} bytes to ${done.subject}`)
    }).pipe(Connection.connected(input))
).pipe(Command.withDescription("Publish a message"))

const sub = Command.make(
  "sub",
  {
    ...Connection.flags,
    subject,
    queue: Flag.String("queue").pipe(Flag.withDescription("join this queue group"), Flag.optional),
    count: Flag.Int("count").pipe(Flag.withDescription("stop after this many messages"), Flag.optional),
    json
  },
  (input) =>
    Effect.gen(function*() {
      const client = yield* NatsClient.NatsClient
      const messages = yield* client.subscribe(input.subject, { queue: Option.getOrUndefined(input.queue) })
      yield* Output.note(`listening on ${input.subject}`)
      const received = Option.match(input.count, { onNone: () => messages, onSome: (n) => Stream.take(messages, n) })
      yield* Stream.runForEach(
        received,
        (msg) => Output.result(input.json, describe(msg), `${msg.subject}: ${Output.text(msg.data)}`)
      )
    }).pipe(Effect.scoped, Connection.connected(input))
).pipe(Command.withDescription("Print the messages published on a subject until interrupted (or --count)"))

const req = Command.make(
  "req",
  {
    ...Connection.flags,
    subject,
    payload,
    header: headerFlag,
    timeout: Flag.Finite("timeout").pipe(Flag.withDescription("seconds to wait for the reply"), Flag.withDefault(5)),
    json
  },
  (input) =>
    Effect.gen(function*() {
      const client = yield* NatsClient.NatsClient
      const data = yield* payloadOrStdin(input.payload)
      const headers = yield* headersOf(input.header, data)
      const reply = yield* client.request(input.subject, data, { headers, timeout: Duration.seconds(input.timeout) })
      // A responder's error reply (its handler failed): a failure for the script that asked.
      const error = NatsHeaders.get(reply.headers, NatsHeaders.ErrorHeader)
      if (error === undefined || input.json) yield* Output.result(input.json, describe(reply), Output.text(reply.data))
      if (error !== undefined) return yield* new CommandFailed({ message: `${error}: ${Output.text(reply.data)}` })
    }).pipe(Connection.connected(input))
).pipe(Command.withDescription("Send a request and print the reply; an error reply fails (exit code 1)"))

type Typed<Name extends string> = Command.Command<
  Name,
  any, // the command's own input: only its handler reads it
  {},
  NatsError.NatsError | Config.ConfigError | PlatformError.PlatformError | CommandFailed,
  Stdio.Stdio
>

/** Typed by hand: the inferred type names modules of other packages. */
export const commands: readonly [Typed<"pub">, Typed<"sub">, Typed<"req">] = [pub, sub, req]
