/** `nats-effect pub | sub | req`: core NATS messages. */
import { NatsClient, type NatsError } from "@nats-effect/core"
import { type Config, Duration, Effect, Option, type PlatformError, type Stdio, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Connection from "./connection.ts"
import * as Output from "./output.ts"

const subject = Argument.String("subject").pipe(Argument.withDescription("the subject"))
const payload = Argument.String("payload").pipe(
  Argument.withDescription("the payload (default: standard input)"),
  Argument.optional
)
const json = Output.jsonFlag

const encoder = new TextEncoder()

const payloadOrStdin = (payload: Option.Option<string>) =>
  Option.match(payload, { onNone: () => Output.readStdin, onSome: (text) => Effect.succeed(encoder.encode(text)) })

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
    count: Flag.Int("count").pipe(Flag.withDescription("how many times to publish it"), Flag.withDefault(1)),
    json
  },
  (input) =>
    Effect.gen(function*() {
      const client = yield* NatsClient.NatsClient
      const data = yield* payloadOrStdin(input.payload)
      for (let i = 0; i < input.count; i++) yield* client.publish(input.subject, data)
      // Published means received by the server, not only buffered here.
      yield* client.flush
      const done = { subject: input.subject, count: input.count, bytes: data.length }
      yield* input.json
        ? Output.printJson(done)
        : Output.note(`published ${done.count} message${done.count === 1 ? "" : "s"} of ${done.bytes} bytes to ${done.subject}`)
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
    timeout: Flag.Finite("timeout").pipe(Flag.withDescription("seconds to wait for the reply"), Flag.withDefault(5)),
    json
  },
  (input) =>
    Effect.gen(function*() {
      const client = yield* NatsClient.NatsClient
      const data = yield* payloadOrStdin(input.payload)
      const reply = yield* client.request(input.subject, data, { timeout: Duration.seconds(input.timeout) })
      yield* Output.result(input.json, describe(reply), Output.text(reply.data))
    }).pipe(Connection.connected(input))
).pipe(Command.withDescription("Send a request and print the reply"))

type Typed<Name extends string> = Command.Command<
  Name,
  any, // the command's own input: only its handler reads it
  {},
  NatsError.NatsError | Config.ConfigError | PlatformError.PlatformError,
  Stdio.Stdio
>

/** Typed by hand: the inferred type names modules of other packages. */
export const commands: readonly [Typed<"pub">, Typed<"sub">, Typed<"req">] = [pub, sub, req]
