/**
 * `nats-effect stream | consumer`: what JetStream holds, and what a durable
 * subscriber has still to handle (pending) or to acknowledge (ack pending).
 */
import { NatsClient, type NatsError } from "@nats-effect/core"
import { type Config, Duration, Effect, type PlatformError, type Stdio } from "effect"
import { Argument, Command } from "effect/cli"
import * as Connection from "./connection.ts"
import * as Format from "./format.ts"
import * as Output from "./output.ts"

const stream = Argument.String("stream").pipe(Argument.withDescription("the stream"))
const json = Output.jsonFlag

const seconds = (duration: Duration.Duration) => Duration.toMillis(duration) / 1000

/** A stream as `--json` prints it; `info` prints the same as lines. Limits of -1 (0 for ages) are unlimited, as the server says. */
const describeStream = ({ config, created, state }: NatsClient.StreamInfo) => ({
  name: config.name,
  ...(config.description === undefined ? {} : { description: config.description }),
  subjects: config.subjects,
  retention: config.retention,
  storage: config.storage,
  replicas: config.replicas,
  messages: state.messages,
  bytes: state.bytes,
  firstSeq: state.firstSeq,
  lastSeq: state.lastSeq,
  consumers: state.consumerCount,
  maxMsgs: config.maxMsgs,
  maxBytes: config.maxBytes,
  maxAgeSeconds: seconds(config.maxAge),
  maxMsgsPerSubject: config.maxMsgsPerSubject,
  maxMsgSize: config.maxMsgSize,
  discard: config.discard,
  duplicateWindowSeconds: seconds(config.duplicateWindow),
  sealed: config.sealed,
  created: created.toISOString()
})

/** A consumer as `--json` prints it; `info` prints the same as lines. */
const describeConsumer = (info: NatsClient.ConsumerInfo) => ({
  stream: info.stream,
  name: info.name,
  ...(info.config.description === undefined ? {} : { description: info.config.description }),
  filterSubjects: info.config.filterSubjects,
  pending: info.numPending,
  ackPending: info.numAckPending,
  redelivered: info.numRedelivered,
  delivered: info.delivered,
  ackFloor: info.ackFloor,
  deliver: info.config.deliver,
  ackPolicy: info.config.ackPolicy,
  ackWaitSeconds: seconds(info.config.ackWait),
  maxDeliver: info.config.maxDeliver,
  maxAckPending: info.config.maxAckPending,
  backoffSeconds: info.config.backoff.map(seconds)
})

/** `key: value` lines, objects and lists as JSON. */
const printLines = (described: Record<string, unknown>) =>
  Effect.forEach(
    Object.entries(described),
    ([key, value]) => Output.print(`${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`),
    { discard: true }
  )

const streamLs = Command.make(
  "ls",
  { ...Connection.flags, json },
  (input) =>
    Effect.gen(function*() {
      const client = yield* NatsClient.NatsClient
      for (const info of yield* client.jetstream.streams.list()) {
        const { state } = info
        yield* Output.result(
          input.json,
          describeStream(info),
          `${info.config.name}\t${Format.count(state.messages, "message")}\t${Format.bytes(state.bytes)}\t` +
            `${Format.count(state.consumerCount, "consumer")}\t${info.config.subjects.join(" ")}`
        )
      }
    }).pipe(Connection.connected(input))
).pipe(Command.withDescription("List the streams: messages, size, consumers and subjects"))

const streamInfo = Command.make(
  "info",
  { ...Connection.flags, stream, json },
  (input) =>
    Effect.gen(function*() {
      const client = yield* NatsClient.NatsClient
      const described = describeStream(yield* client.jetstream.streams.info(input.stream))
      yield* input.json ? Output.printJson(described) : printLines(described)
    }).pipe(Connection.connected(input))
).pipe(Command.withDescription("Show a stream's configuration and state"))

const consumerLs = Command.make(
  "ls",
  { ...Connection.flags, stream, json },
  (input) =>
    Effect.gen(function*() {
      const client = yield* NatsClient.NatsClient
      for (const info of yield* client.jetstream.consumers.list(input.stream)) {
        const filters = info.config.filterSubjects
        yield* Output.result(
          input.json,
          describeConsumer(info),
          `${info.name}\t${info.numPending} pending\t${info.numAckPending} ack pending\t` +
            `${info.numRedelivered} redelivered${filters.length === 0 ? "" : `\t${filters.join(" ")}`}`
        )
      }
    }).pipe(Connection.connected(input))
).pipe(Command.withDescription("List a stream's consumers: messages pending, awaiting an ack, redelivered"))

const consumerInfo = Command.make(
  "info",
  {
    ...Connection.flags,
    stream,
    name: Argument.String("name").pipe(Argument.withDescription("the consumer (a durable subscriber's name)")),
    json
  },
  (input) =>
    Effect.gen(function*() {
      const client = yield* NatsClient.NatsClient
      const described = describeConsumer(yield* client.jetstream.consumers.info(input.stream, input.name))
      yield* input.json ? Output.printJson(described) : printLines(described)
    }).pipe(Connection.connected(input))
).pipe(Command.withDescription("Show a consumer's counts and configuration"))

type Typed<Name extends string> = Command.Command<
  Name,
  any, // the command's own input: only its handler reads it
  {},
  NatsError.NatsError | Config.ConfigError | PlatformError.PlatformError,
  Stdio.Stdio
>

/** Typed by hand: the inferred type names modules of other packages. */
export const commands: readonly [Typed<"stream">, Typed<"consumer">] = [
  Command.make("stream").pipe(
    Command.withDescription("JetStream streams"),
    Command.withSubcommands([streamLs, streamInfo])
  ),
  Command.make("consumer").pipe(
    Command.withDescription("JetStream consumers: what a durable subscriber has pending"),
    Command.withSubcommands([consumerLs, consumerInfo])
  )
]
