/** `nats-effect object ...`: the object stores. */
import { NatsClient, type NatsError } from "@nats-effect/core"
import { ObjectStore, ObjectStoreError } from "@nats-effect/object-store"
import { type Config, Effect, FileSystem, Option, Path, type PlatformError, Stdio, Stream, type Terminal } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Connection from "./connection.ts"
import * as Format from "./format.ts"
import * as Output from "./output.ts"
import * as Progress from "./progress.ts"

const bucket = Argument.String("bucket").pipe(Argument.withDescription("the object store bucket"))
const name = Argument.String("name").pipe(Argument.withDescription("the object's name"))
const json = Output.jsonFlag

/**
 * The store of a bucket that must already exist: reading commands do not
 * create buckets (ObjectStore.make would).
 */
const existing = (bucket: string) =>
  Effect.gen(function*() {
    const client = yield* NatsClient.NatsClient
    yield* client.jetstream.streams.info(`OBJ_${bucket}`).pipe(
      Effect.mapError((error) =>
        error.reason._tag === "StreamNotFound"
          ? ObjectStoreError.fromReason(
            new ObjectStoreError.BucketNotFound({ bucket, message: `no object store bucket ${bucket}` })
          )
          : ObjectStoreError.fromReason(error)
      )
    )
    return yield* ObjectStore.make({ bucket })
  })

/** The summary of a transfer: size, chunks, digest, time and throughput. */
const summary = (verb: string, info: ObjectStore.ObjectInfo, bytes: number, millis: number) =>
  `${verb} ${info.name} (${info.bucket}): ${Format.bytes(bytes)} in ${info.chunks} chunks, ${info.digest}, ` +
  `${Format.seconds(millis)}, ${Format.rate(bytes, millis)}`

const describe = (info: ObjectStore.ObjectInfo) => ({
  bucket: info.bucket,
  name: info.name,
  size: info.size,
  chunks: info.chunks,
  digest: info.digest,
  modified: info.mtime.toISOString(),
  deleted: info.deleted,
  ...(info.description === undefined ? {} : { description: info.description }),
  ...(info.options?.link === undefined ? {} : { link: info.options.link })
})

const line = (info: ObjectStore.ObjectInfo) =>
  `${info.name}\t${Format.bytes(info.size)}\t${info.mtime.toISOString()}${info.deleted ? "\tdeleted" : ""}`

const put = Command.make(
  "put",
  {
    ...Connection.flags,
    bucket,
    file: Argument.File("file", { mustExist: true }).pipe(Argument.withDescription("the file to store")),
    name: Flag.String("name").pipe(Flag.withDescription("the object's name (default: the file's base name)"), Flag.optional),
    chunkSize: Flag.Int("chunk-size").pipe(Flag.withDescription("bytes per chunk (default: 128 KiB)"), Flag.optional),
    description: Flag.String("description").pipe(Flag.withDescription("the object's description"), Flag.optional)
  },
  (input) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const name = Option.getOrElse(input.name, () => path.basename(input.file))
      const size = Number((yield* fs.stat(input.file)).size)
      const store = yield* ObjectStore.make({ bucket: input.bucket })
      const progress = yield* Progress.make(name, size)
      const info = yield* store.putFile(
        {
          name,
          description: Option.getOrUndefined(input.description),
          options: { maxChunkSize: Option.getOrUndefined(input.chunkSize) }
        },
        input.file,
        { onProgress: progress.report }
      )
      yield* progress.done(summary("put", info, progress.bytes(), yield* progress.elapsed))
    }).pipe(Effect.scoped, Connection.connected(input))
).pipe(Command.withDescription("Store a file as an object, creating the bucket when absent"))

const get = Command.make(
  "get",
  {
    ...Connection.flags,
    bucket,
    name,
    file: Argument.String("file").pipe(
      Argument.withDescription("where to write the object; - or none: standard output"),
      Argument.optional
    )
  },
  (input) =>
    Effect.gen(function*() {
      const store = yield* existing(input.bucket)
      const info = yield* store.info(input.name)
      // A link's own size is not its target's.
      const progress = yield* Progress.make(input.name, info.options?.link === undefined ? info.size : undefined)
      const options = { onProgress: progress.report }
      const file = Option.filter(input.file, (file) => file !== "-")
      if (Option.isNone(file)) {
        const stdio = yield* Stdio.Stdio
        yield* Stream.run(store.get(input.name, options), stdio.stdout())
      } else {
        yield* store.getFile(input.name, file.value, options)
      }
      yield* progress.done(summary("got", info, progress.bytes(), yield* progress.elapsed))
    }).pipe(Effect.scoped, Connection.connected(input))
).pipe(Command.withDescription("Read an object into a file, or to standard output"))

const ls = Command.make(
  "ls",
  {
    ...Connection.flags,
    bucket: Argument.String("bucket").pipe(
      Argument.withDescription("list this bucket's objects (default: list the buckets)"),
      Argument.optional
    ),
    json
  },
  (input) =>
    Effect.gen(function*() {
      if (Option.isNone(input.bucket)) {
        const client = yield* NatsClient.NatsClient
        const streams = yield* client.jetstream.streams.list()
        for (const stream of streams) {
          if (!stream.config.name.startsWith("OBJ_")) continue
          const bucket = stream.config.name.slice("OBJ_".length)
          const description = stream.config.description
          yield* Output.result(
            input.json,
            { bucket, size: stream.state.bytes, description },
            `${bucket}\t${Format.bytes(stream.state.bytes)}${description ? `\t${description}` : ""}`
          )
        }
        return
      }
      const store = yield* existing(input.bucket.value)
      for (const info of yield* store.list()) {
        yield* Output.result(input.json, describe(info), line(info))
      }
    }).pipe(Effect.scoped, Connection.connected(input))
).pipe(Command.withDescription("List the object store buckets, or the objects of one"))

const info = Command.make(
  "info",
  { ...Connection.flags, bucket, name, json },
  (input) =>
    Effect.gen(function*() {
      const store = yield* existing(input.bucket)
      const info = describe(yield* store.info(input.name))
      if (input.json) return yield* Output.printJson(info)
      for (const [key, value] of Object.entries(info)) {
        yield* Output.print(`${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`)
      }
    }).pipe(Effect.scoped, Connection.connected(input))
).pipe(Command.withDescription("Show an object's size, chunks, digest and metadata"))

const rm = Command.make(
  "rm",
  { ...Connection.flags, bucket, name },
  (input) =>
    Effect.gen(function*() {
      const store = yield* existing(input.bucket)
      yield* store.delete(input.name)
      yield* Output.note(`deleted ${input.name} from ${input.bucket}`)
    }).pipe(Effect.scoped, Connection.connected(input))
).pipe(Command.withDescription("Delete an object"))

const watch = Command.make(
  "watch",
  { ...Connection.flags, bucket, json },
  (input) =>
    Effect.gen(function*() {
      const store = yield* existing(input.bucket)
      const changes = yield* store.openWatch({ updatesOnly: true })
      yield* Output.note(`watching ${input.bucket}`)
      yield* Stream.runForEach(
        changes,
        (info) => Output.result(input.json, describe(info), line(info))
      )
    }).pipe(Effect.scoped, Connection.connected(input))
).pipe(Command.withDescription("Print every change to the bucket's objects until interrupted"))

const seal = Command.make(
  "seal",
  { ...Connection.flags, bucket },
  (input) =>
    Effect.gen(function*() {
      const store = yield* existing(input.bucket)
      yield* store.seal()
      yield* Output.note(`sealed ${input.bucket}: it is read-only now`)
    }).pipe(Effect.scoped, Connection.connected(input))
).pipe(Command.withDescription("Make the bucket read-only, for good"))

/** Typed by hand: the inferred type names modules of other packages. */
export const command: Command.Command<
  "object",
  {},
  {},
  NatsError.NatsError | Config.ConfigError | ObjectStoreError.ObjectStoreError | PlatformError.PlatformError,
  FileSystem.FileSystem | Path.Path | Stdio.Stdio | Terminal.Terminal
> = Command.make("object").pipe(
  Command.withDescription("Objects in JetStream object stores"),
  Command.withSubcommands([put, get, ls, info, rm, watch, seal])
)
