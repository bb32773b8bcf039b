/** `nats-effect kv ...`: the key-value buckets. */
import { NatsClient, type NatsError } from "@nats-effect/core"
import { KeyValue, KeyValueError } from "@nats-effect/kv"
import { type Config, Effect, Option, type PlatformError, type Stdio, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Connection from "./connection.ts"
import { CommandFailed } from "./failure.ts"
import * as Output from "./output.ts"

const bucket = Argument.String("bucket").pipe(Argument.withDescription("the key-value bucket"))
const key = Argument.String("key").pipe(Argument.withDescription("the key"))
const value = Argument.String("value").pipe(
  Argument.withDescription("the value (default: standard input)"),
  Argument.optional
)
const json = Output.jsonFlag

/** The bucket, which must exist: only the writing commands create one. */
const existing = (bucket: string) =>
  Effect.gen(function*() {
    const client = yield* NatsClient.NatsClient
    yield* client.jetstream.streams.info(`KV_${bucket}`).pipe(
      Effect.mapError((error) =>
        error.reason._tag === "StreamNotFound"
          ? KeyValueError.fromReason(new KeyValueError.BucketNotFound({ bucket, message: `no key-value bucket ${bucket}` }))
          : KeyValueError.fromReason(error)
      )
    )
    return yield* KeyValue.make({ bucket })
  })

const valueOrStdin = (value: Option.Option<string>) =>
  Option.match(value, { onNone: () => Output.readStdin, onSome: Effect.succeed })

const describe = (entry: KeyValue.Entry) => ({
  bucket: entry.bucket,
  key: entry.key,
  revision: entry.revision,
  operation: entry.operation,
  created: entry.created.toISOString(),
  value: Output.text(entry.value)
})

const line = (entry: KeyValue.Entry) =>
  `${entry.key}\t${entry.revision}\t${entry.operation}\t${entry.created.toISOString()}\t${Output.text(entry.value)}`

const get = Command.make(
  "get",
  {
    ...Connection.flags,
    bucket,
    key,
    revision: Flag.Int("revision").pipe(Flag.withDescription("the value at this revision"), Flag.optional),
    json
  },
  (input) =>
    Effect.gen(function*() {
      const kv = yield* existing(input.bucket)
      const entry = yield* kv.get(input.key, { revision: Option.getOrUndefined(input.revision) })
      if (Option.isNone(entry)) {
        return yield* new CommandFailed({ message: `no value for ${input.key} in ${input.bucket}` })
      }
      // The value's own bytes, whatever they are, then a newline.
      yield* input.json
        ? Output.printJson(describe(entry.value))
        : Effect.andThen(Output.printBytes(entry.value.value), Output.print(""))
    }).pipe(Connection.connected(input))
).pipe(Command.withDescription("Print a key's value"))

/** put, create: write a value, print its revision; the bucket is created when absent. */
const write = (name: "put" | "create", description: string) =>
  Command.make(
    name,
    {
      ...Connection.flags,
      bucket,
      key,
      value,
      history: Flag.Int("history").pipe(
        Flag.withDescription("revisions kept per key, 1 to 64 (a new bucket's default: 1)"),
        Flag.optional
      )
    },
    (input) =>
      Effect.gen(function*() {
        const kv = yield* KeyValue.make({ bucket: input.bucket, history: Option.getOrUndefined(input.history) })
        const value = yield* valueOrStdin(input.value)
        yield* Output.print(String(yield* kv[name](input.key, value)))
      }).pipe(Connection.connected(input))
  ).pipe(Command.withDescription(description))

const update = Command.make(
  "update",
  {
    ...Connection.flags,
    bucket,
    key,
    value,
    revision: Flag.Int("revision").pipe(Flag.withDescription("the revision the key must still be at"))
  },
  (input) =>
    Effect.gen(function*() {
      const kv = yield* existing(input.bucket)
      const value = yield* valueOrStdin(input.value)
      yield* Output.print(String(yield* kv.update(input.key, value, input.revision)))
    }).pipe(Connection.connected(input))
).pipe(Command.withDescription("Write a value if the key is still at --revision; print the new revision"))

/** del, purge: mark a key removed. */
const remove = (name: "del" | "purge", description: string) =>
  Command.make(
    name,
    { ...Connection.flags, bucket, key },
    (input) =>
      Effect.gen(function*() {
        const kv = yield* existing(input.bucket)
        yield* name === "del" ? kv.delete(input.key) : kv.purge(input.key)
      }).pipe(Connection.connected(input))
  ).pipe(Command.withDescription(description))

const keys = Command.make(
  "keys",
  {
    ...Connection.flags,
    bucket,
    filter: Argument.String("filter").pipe(Argument.withDescription("keys matching this (wildcards allowed)"), Argument.optional)
  },
  (input) =>
    Effect.gen(function*() {
      const kv = yield* existing(input.bucket)
      yield* Stream.runForEach(kv.keys(Option.getOrUndefined(input.filter)), Output.print)
    }).pipe(Connection.connected(input))
).pipe(Command.withDescription("List the keys with a value"))

const history = Command.make(
  "history",
  { ...Connection.flags, bucket, key, json },
  (input) =>
    Effect.gen(function*() {
      const kv = yield* existing(input.bucket)
      yield* Stream.runForEach(
        kv.history(input.key),
        (entry) => Output.result(input.json, describe(entry), line(entry))
      )
    }).pipe(Connection.connected(input))
).pipe(Command.withDescription("Print every stored revision of a key, oldest first"))

const watch = Command.make(
  "watch",
  {
    ...Connection.flags,
    bucket,
    key: Argument.String("key").pipe(Argument.withDescription("keys to watch (wildcards allowed; default: all)"), Argument.optional),
    json
  },
  (input) =>
    Effect.gen(function*() {
      const kv = yield* existing(input.bucket)
      const entries = yield* kv.openWatch({ key: Option.getOrUndefined(input.key) })
      yield* Output.note(`watching ${input.bucket}`)
      yield* Stream.runForEach(
        entries,
        (entry) => Output.result(input.json, describe(entry), line(entry))
      )
    }).pipe(Effect.scoped, Connection.connected(input))
).pipe(Command.withDescription("Print the current values, then every change, until interrupted"))

/** Typed by hand: the inferred type names modules of other packages. */
export const command: Command.Command<
  "kv",
  {},
  {},
  NatsError.NatsError | Config.ConfigError | KeyValueError.KeyValueError | PlatformError.PlatformError | CommandFailed,
  Stdio.Stdio
> = Command.make("kv").pipe(
  Command.withDescription("Keys and values in JetStream key-value buckets"),
  Command.withSubcommands([
    get,
    write("put", "Write a value; print its revision"),
    write("create", "Write a value unless the key holds one; print its revision"),
    update,
    remove("del", "Delete a key, keeping its history"),
    remove("purge", "Delete a key and its history"),
    keys,
    history,
    watch
  ])
)
