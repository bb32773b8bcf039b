/**
 * nats.go's object store beside ours: go/cmd/objtool (nats.go's jetstream
 * package, the version go/go.mod requires), built by go/natsgo.ts and run once
 * per operation against the suite's nats-server.
 */
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { NodeServices } from "@effect/platform-node"
import { NatsServer } from "@nats-effect/testing"
import { Context, Effect, Layer, Schema, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { build } from "../../../../go/natsgo.ts"

export { findGo, noGo } from "../../../../go/natsgo.ts"

const errorFields = {
  name: Schema.optional(Schema.String),
  message: Schema.String,
  apiCode: Schema.optional(Schema.Number)
}

/** An error nats.go returned: `name` is its sentinel error's (`ObjectNotFound`), `apiCode` the server's err_code. */
export class NatsGoError extends Schema.TaggedError<NatsGoError>()("NatsGoError", errorFields) {}

/** nats.go's ObjectInfo as it serialises it, with what objtool adds (`revision` on info, `bytes` on get). */
export const GoObjectInfo = Schema.Struct({
  name: Schema.String,
  description: Schema.optional(Schema.String),
  headers: Schema.optional(Schema.Record(Schema.String, Schema.Array(Schema.String))),
  metadata: Schema.optional(Schema.Record(Schema.String, Schema.String)),
  options: Schema.optional(Schema.Struct({
    link: Schema.optional(Schema.Struct({ bucket: Schema.String, name: Schema.optional(Schema.String) })),
    max_chunk_size: Schema.optional(Schema.Number)
  })),
  bucket: Schema.String,
  nuid: Schema.String,
  size: Schema.Number,
  mtime: Schema.String,
  chunks: Schema.Number,
  digest: Schema.optional(Schema.String),
  deleted: Schema.optional(Schema.Boolean),
  revision: Schema.optional(Schema.Number),
  bytes: Schema.optional(Schema.Number)
})
export type GoObjectInfo = typeof GoObjectInfo.Type

/** nats.go's ObjectStoreStatus; `ttl` in nanoseconds. */
export const GoStatus = Schema.Struct({
  bucket: Schema.String,
  description: Schema.String,
  ttl: Schema.Number,
  storage: Schema.Literals(["file", "memory"]),
  replicas: Schema.Number,
  sealed: Schema.Boolean,
  size: Schema.Number,
  backingStore: Schema.String,
  metadata: Schema.NullOr(Schema.Record(Schema.String, Schema.String)),
  compressed: Schema.Boolean
})
export type GoStatus = typeof GoStatus.Type

const ErrorOutput = Schema.Struct({ error: Schema.Struct(errorFields) })

export interface GoPutOptions {
  readonly chunkSize?: number
  /** Read the content this many bytes at a time: nats.go makes a chunk of each read. */
  readonly readSize?: number
  readonly description?: string
  readonly headers?: Readonly<Record<string, ReadonlyArray<string>>>
  readonly metadata?: Readonly<Record<string, string>>
}

/** The `GetObjectShowDeleted`-like options: include deleted objects. */
export interface ShowDeleted {
  readonly showDeleted?: boolean
}

/** One bucket through nats.go: each operation is the ObjectStore method of the same name. */
export interface GoBucket {
  readonly bucket: string
  readonly put: (name: string, data: Uint8Array, options?: GoPutOptions) => Effect.Effect<GoObjectInfo, NatsGoError>
  /** Get, read to the end (so the digest is checked): the content and the info of what was read. */
  readonly get: (
    name: string,
    options?: ShowDeleted
  ) => Effect.Effect<{ readonly info: GoObjectInfo; readonly data: Uint8Array }, NatsGoError>
  readonly info: (name: string, options?: ShowDeleted) => Effect.Effect<GoObjectInfo, NatsGoError>
  readonly list: (options?: ShowDeleted) => Effect.Effect<ReadonlyArray<GoObjectInfo>, NatsGoError>
  readonly delete: (name: string) => Effect.Effect<void, NatsGoError>
  /** AddLink to the object `target` (its info looked up in its bucket, default this one). */
  readonly link: (
    name: string,
    target: { readonly name: string; readonly bucket?: string }
  ) => Effect.Effect<GoObjectInfo, NatsGoError>
  readonly linkBucket: (name: string, bucket: string) => Effect.Effect<GoObjectInfo, NatsGoError>
  /** UpdateMeta: the new name (default the same) and description; headers and metadata are cleared. */
  readonly updateMeta: (
    name: string,
    meta: { readonly name?: string; readonly description?: string }
  ) => Effect.Effect<void, NatsGoError>
  readonly status: Effect.Effect<GoStatus, NatsGoError>
  readonly seal: Effect.Effect<GoStatus, NatsGoError>
}

export class NatsGo extends Context.Service<NatsGo, {
  /** CreateObjectStore; `ttl` as Go writes durations (`90s`). */
  readonly create: (
    bucket: string,
    options?: {
      readonly description?: string
      readonly ttl?: string
      readonly storage?: "file" | "memory"
      readonly compression?: boolean
      readonly metadata?: Readonly<Record<string, string>>
    }
  ) => Effect.Effect<GoBucket, NatsGoError>
  /** A bucket as nats.go opens it (ObjectStore) for each operation. */
  readonly bucket: (bucket: string) => GoBucket
  /** ObjectStoreNames. */
  readonly buckets: Effect.Effect<ReadonlyArray<string>, NatsGoError>
}>()("test/NatsGo") {}

const pairs = (flag: string, record: Readonly<Record<string, string | ReadonlyArray<string>>> | undefined) =>
  Object.entries(record ?? {}).flatMap(([key, values]) =>
    (typeof values === "string" ? [values] : values).flatMap((value) => [flag, `${key}=${value}`])
  )

const textOf = <E>(stream: Stream.Stream<Uint8Array, E>) => Stream.mkString(Stream.decodeText(stream))

/** Built once per process; needs the harness's `NatsServer`. */
export const NatsGoLive = Layer.effect(
  NatsGo,
  Effect.gen(function*() {
    const server = yield* NatsServer.NatsServer
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const { objtool } = yield* Effect.promise(build)
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "natsgo-interop-"))),
      (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
    )
    let files = 0
    const tempFile = () => Path.join(dir, `object-${files++}`)

    /** Runs objtool; its output when it succeeds, `NatsGoError` when nats.go returned an error. */
    const run = (command: string, args: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const handle = yield* spawner.spawn(ChildProcess.make(objtool, [command, "-server", server.url, ...args]))
        const [stdout, stderr, exitCode] = yield* Effect.all(
          [textOf(handle.stdout), textOf(handle.stderr), handle.exitCode],
          { concurrency: "unbounded" }
        )
        if (exitCode === 0) return stdout
        if (exitCode === 2) {
          const { error } = yield* Schema.decodeUnknownEffect(Schema.fromJsonString(ErrorOutput))(stdout)
          return yield* new NatsGoError(error)
        }
        return yield* Effect.die(new Error(`objtool ${command} ${args.join(" ")} exited with ${exitCode}: ${stderr}`))
      }).pipe(
        Effect.scoped,
        Effect.catchTag(["PlatformError", "SchemaError"], Effect.die)
      )

    const decoded = <A, I>(schema: Schema.Codec<A, I>) => (output: string) =>
      Schema.decodeUnknownEffect(Schema.fromJsonString(schema))(output).pipe(Effect.orDie)
    const infoOf = decoded(GoObjectInfo)
    const statusOf = decoded(GoStatus)

    const bucketOf = (bucket: string): GoBucket => {
      const on = (command: string, args: ReadonlyArray<string> = []) => run(command, ["-bucket", bucket, ...args])
      const deleted = (options?: ShowDeleted) => options?.showDeleted ? ["-show-deleted"] : []
      return {
        bucket,
        put: (name, data, options = {}) => {
          const file = tempFile()
          return Effect.promise(() => Fs.writeFile(file, data)).pipe(
            Effect.andThen(on("put", [
              "-name",
              name,
              "-file",
              file,
              ...(options.chunkSize === undefined ? [] : ["-chunk-size", String(options.chunkSize)]),
              ...(options.readSize === undefined ? [] : ["-read-size", String(options.readSize)]),
              ...(options.description === undefined ? [] : ["-description", options.description]),
              ...pairs("-header", options.headers),
              ...pairs("-metadata", options.metadata)
            ])),
            Effect.flatMap(infoOf),
            Effect.ensuring(Effect.promise(() => Fs.rm(file, { force: true })))
          )
        },
        get: (name, options) => {
          const file = tempFile()
          return on("get", ["-name", name, "-out", file, ...deleted(options)]).pipe(
            Effect.flatMap(infoOf),
            Effect.flatMap((info) =>
              Effect.map(Effect.promise(() => Fs.readFile(file)), (data) => ({ info, data: new Uint8Array(data) }))
            ),
            Effect.ensuring(Effect.promise(() => Fs.rm(file, { force: true })))
          )
        },
        info: (name, options) => Effect.flatMap(on("info", ["-name", name, ...deleted(options)]), infoOf),
        list: (options) => Effect.flatMap(on("list", deleted(options)), decoded(Schema.Array(GoObjectInfo))),
        delete: (name) => Effect.asVoid(on("delete", ["-name", name])),
        link: (name, target) =>
          Effect.flatMap(
            on("link", ["-name", name, "-target", target.name, "-target-bucket", target.bucket ?? bucket]),
            infoOf
          ),
        linkBucket: (name, targetBucket) =>
          Effect.flatMap(on("link-bucket", ["-name", name, "-target-bucket", targetBucket]), infoOf),
        updateMeta: (name, meta) =>
          Effect.asVoid(on("update-meta", [
            "-name",
            name,
            ...(meta.name === undefined ? [] : ["-new-name", meta.name]),
            ...(meta.description === undefined ? [] : ["-description", meta.description])
          ])),
        status: Effect.flatMap(on("status"), statusOf),
        seal: Effect.flatMap(on("seal"), statusOf)
      }
    }

    return NatsGo.of({
      create: (bucket, options = {}) =>
        run("create", [
          "-bucket",
          bucket,
          ...(options.description === undefined ? [] : ["-description", options.description]),
          ...(options.ttl === undefined ? [] : ["-ttl", options.ttl]),
          ...(options.storage === undefined ? [] : ["-storage", options.storage]),
          ...(options.compression ? ["-compression"] : []),
          ...pairs("-metadata", options.metadata)
        ]).pipe(Effect.as(bucketOf(bucket))),
      bucket: bucketOf,
      buckets: Effect.flatMap(run("buckets", []), decoded(Schema.Array(Schema.String)))
    })
  })
).pipe(Layer.provide(NodeServices.layer))
