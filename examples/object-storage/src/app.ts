/**
 * FastStream's object storage guide, ported: at startup the bucket `bucket`
 * is created; a subscriber on `subject` logs each message and reads the
 * object `file`; once every subscriber is live the app puts `file` and
 * publishes `Hi!` to `subject`. An object watcher (FastStream's `obj_watch`)
 * logs each new or changed object of `bucket` with its size.
 *
 * As a demo it stops once the handler has checked the file and the watcher
 * has seen it: `run` completes with what the handler saw, or fails when the file is not `File mock`. It
 * leaves no bucket behind: it removes `bucket` when it stops if it created
 * it, and says so; a `bucket` that was there before is left, and it says that.
 */
import { NatsBroker, NatsClient, type NatsError } from "@nats-effect/core"
import { ObjectStore, type ObjectStoreError } from "@nats-effect/object-store"
import { type Cause, Context, Deferred, Effect, Layer, Schema } from "effect"

/** The file read back by the handler is not the one the app put. */
export class FileCheckFailed extends Schema.TaggedError<FileCheckFailed>()("FileCheckFailed", {
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message() {
    return `the file holds ${JSON.stringify(this.actual)}, expected ${JSON.stringify(this.expected)}`
  }
}

export interface Checked {
  /** The message the handler received. */
  readonly message: string
  /** The content of `file` it read. */
  readonly file: string
}

/** Completed by the handler once it has checked the file. */
export class FileChecked extends Context.Service<
  FileChecked,
  Deferred.Deferred<Checked, FileCheckFailed | ObjectStoreError.ObjectStoreError>
>()("examples/object-storage/FileChecked") {
  static readonly layer = Layer.effect(FileChecked, Deferred.make())
}

const expectedFile = "File mock"
const bucket = "bucket"

/**
 * The object store of `bucket`, created when absent and then removed when the
 * app stops, so that a run against a real server leaves it as it was.
 */
export const DemoBucket: Layer.Layer<
  ObjectStore.ObjectStore,
  ObjectStoreError.ObjectStoreError | NatsError.NatsError,
  NatsClient.NatsClient
> = Layer.effect(
  ObjectStore.ObjectStore,
  Effect.gen(function*() {
    const nats = yield* NatsClient.NatsClient
    // A bucket is the stream `OBJ_<bucket>`.
    const existed = yield* nats.jetstream.streams.info(`OBJ_${bucket}`).pipe(
      Effect.as(true),
      Effect.catchReason("NatsError", "StreamNotFound", () => Effect.succeed(false))
    )
    const store = yield* ObjectStore.make({ bucket })
    yield* Effect.addFinalizer(() =>
      existed
        ? Effect.log(`left the bucket "${bucket}", which was there before`)
        : store.destroy().pipe(
          Effect.andThen(Effect.log(`removed the bucket "${bucket}" it created`)),
          Effect.catchCause((cause) => Effect.logWarning(`could not remove the bucket "${bucket}" it created`, cause))
        )
    )
    return store
  })
)

export const Handler = NatsBroker.subscriber("subject", { schema: Schema.String }, (message) =>
  Effect.gen(function*() {
    yield* Effect.log(message)
    const store = yield* ObjectStore.ObjectStore
    const file = new TextDecoder().decode(yield* store.getBytes("file"))
    yield* Effect.log(`file: ${file}`)
    return file === expectedFile
      ? { message, file }
      : yield* new FileCheckFailed({ expected: expectedFile, actual: file })
  }).pipe(
    Effect.exit,
    Effect.flatMap((exit) => Effect.flatMap(FileChecked, (checked) => Deferred.done(checked, exit))),
    Effect.asVoid
  ))

/** Completed by the object watcher once it has seen `file`. */
export class FileSeen extends Context.Service<FileSeen, Deferred.Deferred<ObjectStore.ObjectInfo>>()(
  "examples/object-storage/FileSeen"
) {
  static readonly layer = Layer.effect(FileSeen, Deferred.make())
}

/** FastStream's `obj_watch`: each new or changed object of the bucket, by name and size. */
export const NewObjects = ObjectStore.watcher(bucket, { ignoreDeletes: true }, (info) =>
  Effect.gen(function*() {
    yield* Effect.log(`object "${info.name}" stored: ${info.size} bytes`)
    if (info.name === "file") yield* Deferred.succeed(yield* FileSeen, info)
  }))

/** After every subscriber is live: put the file and say hi. */
export const SendOnStart: Effect.Effect<
  void,
  ObjectStoreError.ObjectStoreError | NatsError.NatsError,
  ObjectStore.ObjectStore | NatsBroker.NatsBroker
> = Effect.gen(function*() {
  const store = yield* ObjectStore.ObjectStore
  yield* store.putBytes("file", expectedFile)
  yield* NatsBroker.publish("subject", "Hi!")
})

/** The application on a NATS client; it also provides `FileChecked` and `FileSeen`, to wait for its handlers. */
export const App = <E>(
  nats: Layer.Layer<NatsClient.NatsClient, E>
): Layer.Layer<FileChecked | FileSeen, E | ObjectStoreError.ObjectStoreError | NatsError.NatsError> =>
  // The watcher opens the bucket after DemoBucket, which looks for it first.
  Layer.mergeAll(Handler, NewObjects).pipe(
    NatsBroker.afterStartup(SendOnStart),
    Layer.provide(DemoBucket),
    Layer.provide(NatsBroker.layer),
    Layer.provideMerge(Layer.mergeAll(FileChecked.layer, FileSeen.layer)),
    Layer.provide(nats)
  )

/** Starts the app, waits for the handler's check and the watcher, and stops the app. */
export const run = <E>(
  nats: Layer.Layer<NatsClient.NatsClient, E>
): Effect.Effect<
  Checked,
  E | FileCheckFailed | ObjectStoreError.ObjectStoreError | NatsError.NatsError | Cause.TimeoutError
> =>
  Effect.flatMap(FileChecked, Deferred.await).pipe(
    Effect.tap(Effect.flatMap(FileSeen, Deferred.await)),
    Effect.timeout("30 seconds"),
    Effect.provide(App(nats))
  )
