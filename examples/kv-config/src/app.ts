/**
 * Feature flags in a NATS key-value bucket, read live:
 *
 * - the bucket `flags` holds one key per flag, its value `true` or `false`
 *   as JSON (`nats kv put flags loud-greeting true` sets one from the CLI);
 * - `FeatureFlags` watches the bucket for as long as the app runs and keeps
 *   every flag's current value in memory; a deleted or purged flag is off,
 *   a value that is not a flag is logged and ignored;
 * - `greet` (request/reply) answers `Hello, <name>`, or shouts it while the
 *   flag `loud-greeting` is on: it reads the flag from memory, no round trip;
 * - `flags.set.{flag}` (request/reply) is the admin side: it writes the
 *   flag to the bucket and replies with its revision. It could be another
 *   service: the greeter only sees the bucket change.
 *
 * Once every subscriber is live, the demo greets, turns `loud-greeting` on
 * through the admin subject, waits until `FeatureFlags` has seen that
 * revision, greets again, turns the flag off, greets a third time and
 * resolves `DemoDone`; `run` then stops the app. It leaves no bucket behind:
 * it removes `flags` when it stops if it created it, and says so; a `flags`
 * bucket that was there before is left, and it says that.
 */
import { NatsBroker, NatsClient, type NatsError } from "@nats-effect/core"
import { KeyValue, type KeyValueError } from "@nats-effect/kv"
import { Context, Deferred, Effect, Exit, Layer, Schema, Stream, SubscriptionRef } from "effect"

// ---------------------------------------------------------------------------
// The bucket
// ---------------------------------------------------------------------------

/** A flag's value in the bucket: JSON `true` or `false`. */
export const Flag = Schema.Boolean

export const bucket = "flags"

/**
 * The bucket `flags`, created when absent and then removed when the app
 * stops, so that a run against a real server leaves it as it was.
 */
export const FlagsBucket: Layer.Layer<
  KeyValue.KeyValue,
  KeyValueError.KeyValueError | NatsError.NatsError,
  NatsClient.NatsClient
> = Layer.effect(
  KeyValue.KeyValue,
  Effect.gen(function*() {
    const nats = yield* NatsClient.NatsClient
    // A bucket is the stream `KV_<bucket>`.
    const existed = yield* nats.jetstream.streams.info(`KV_${bucket}`).pipe(
      Effect.as(true),
      Effect.catchReason("NatsError", "StreamNotFound", () => Effect.succeed(false))
    )
    const flags = yield* KeyValue.make({ bucket })
    yield* Effect.addFinalizer(() =>
      existed
        ? Effect.log(`left the bucket "${bucket}", which was there before`)
        : flags.destroy().pipe(
          Effect.andThen(Effect.log(`removed the bucket "${bucket}" it created`)),
          Effect.catchCause((cause) => Effect.logWarning(`could not remove the bucket "${bucket}" it created`, cause))
        )
    )
    return flags
  })
)

// ---------------------------------------------------------------------------
// The flags, watched
// ---------------------------------------------------------------------------

/** The flags as the watch has seen them, up to `revision` (the bucket's last message seen). */
export interface FlagState {
  readonly flags: ReadonlyMap<string, boolean>
  readonly revision: number
}

/** Every flag's current value, kept up to date by a watch on the bucket. */
export class FeatureFlags extends Context.Service<FeatureFlags, {
  /** Whether the flag is on; a flag never set, deleted or purged is off. */
  readonly isEnabled: (flag: string) => Effect.Effect<boolean>
  /** The current state, then each new one. */
  readonly changes: Stream.Stream<FlagState>
  /** Waits until the watch has seen the bucket's message at `revision` (a write's revision: read your writes). */
  readonly seen: (revision: number) => Effect.Effect<void>
}>()("examples/kv-config/FeatureFlags") {
  /**
   * Reads every flag, then watches the bucket for as long as the layer
   * lives. The layer is built once the flags stored before it started are
   * read, so handlers never see the defaults of flags that are set.
   */
  static readonly layer: Layer.Layer<FeatureFlags, KeyValueError.KeyValueError, KeyValue.KeyValue> = Layer.effect(
    FeatureFlags,
    Effect.gen(function*() {
      const flags = yield* KeyValue.KeyValue
      const state = yield* SubscriptionRef.make<FlagState>({ flags: new Map(), revision: 0 })
      const caughtUp = yield* Deferred.make<void>()
      // The watch delivers the last message of each key, `delta` counting
      // those still to come, then every change; an empty bucket delivers none.
      if ((yield* flags.status()).values === 0) yield* Deferred.succeed(caughtUp, undefined)

      /** Records the bucket's message at `revision`, and what it changed. */
      const record = (entry: KeyValue.Entry, change: (flags: Map<string, boolean>) => void) =>
        Effect.andThen(
          SubscriptionRef.update(state, (current) => {
            const flags = new Map(current.flags)
            change(flags)
            return { flags, revision: entry.revision }
          }),
          entry.delta === 0 ? Deferred.succeed(caughtUp, undefined) : Effect.void
        )

      const apply = (entry: KeyValue.Entry) => {
        if (entry.operation !== "PUT") {
          return Effect.log(
            `flag ${entry.key} is off: ${entry.operation === "DEL" ? "deleted" : "purged"} (revision ${entry.revision})`
          ).pipe(
            Effect.andThen(record(entry, (flags) => flags.delete(entry.key)))
          )
        }
        const value = decodeFlag(entry.value)
        return Exit.isSuccess(value)
          ? Effect.log(`flag ${entry.key} is ${value.value ? "on" : "off"} (revision ${entry.revision})`).pipe(
            Effect.andThen(record(entry, (flags) => flags.set(entry.key, value.value)))
          )
          : Effect.logWarning(`ignored the value of ${entry.key} at revision ${entry.revision}: not true or false`).pipe(
            Effect.andThen(record(entry, () => {}))
          )
      }

      yield* flags.watch().pipe(
        Stream.runForEach(apply),
        Effect.tapCause((cause) => Effect.logError("the flags watch failed: flags keep their last values", cause)),
        Effect.forkScoped
      )
      yield* Deferred.await(caughtUp)

      const changes = SubscriptionRef.changes(state)
      return {
        isEnabled: (flag) => Effect.map(SubscriptionRef.get(state), (current) => current.flags.get(flag) ?? false),
        changes,
        seen: (revision) =>
          changes.pipe(Stream.filter((current) => current.revision >= revision), Stream.runHead, Effect.asVoid)
      }
    })
  )
}

const decodeFlag = (() => {
  const decode = Schema.decodeUnknownExit(Schema.fromJsonString(Flag))
  const text = new TextDecoder()
  return (value: Uint8Array) => decode(text.decode(value))
})()

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

/** Greets, loudly while the flag `loud-greeting` is on. */
export const Greet = NatsBroker.subscriber("greet", { schema: Schema.String, response: Schema.String }, (name) =>
  Effect.map(
    FeatureFlags.use((flags) => flags.isEnabled("loud-greeting")),
    (loud) => loud ? `HELLO, ${name.toUpperCase()}!` : `Hello, ${name}`
  ))

/** Sets a flag: writes it to the bucket and replies with its revision. */
export const SetFlag = NatsBroker.subscriber(
  "flags.set.{flag}",
  { schema: Flag, response: Schema.Number },
  (enabled, message) =>
    Effect.flatMap(KeyValue.KeyValue, (flags) => KeyValue.typed(Flag)(flags).put(message.params["flag"]!, enabled))
)

export const Handlers = Layer.mergeAll(Greet, SetFlag)

// ---------------------------------------------------------------------------
// The demo
// ---------------------------------------------------------------------------

export interface DemoResult {
  /** The greetings before the flag, while it was on, and after it was turned off. */
  readonly greetings: ReadonlyArray<string>
}

/** Resolved by the demo once it has run, with what it saw. */
export class DemoDone extends Context.Service<DemoDone, Deferred.Deferred<DemoResult>>()("examples/kv-config/DemoDone") {}

const greet = NatsBroker.request("greet", "Ada", { schema: Schema.String, response: Schema.String })

/** Sets the flag through the admin subject and waits until the watch has seen it. */
const setFlag = (flag: string, enabled: boolean) =>
  Effect.gen(function*() {
    const revision = yield* NatsBroker.request(`flags.set.${flag}`, enabled, { schema: Flag, response: Schema.Number })
    yield* FeatureFlags.use((flags) => flags.seen(revision))
  })

export const Demo = Effect.gen(function*() {
  const greetings: Array<string> = []
  const greetAndLog = Effect.tap(greet, (greeting) => {
    greetings.push(greeting)
    return Effect.log(`greet: ${greeting}`)
  })
  yield* greetAndLog
  yield* setFlag("loud-greeting", true)
  yield* greetAndLog
  yield* setFlag("loud-greeting", false)
  yield* greetAndLog
  yield* Deferred.succeed(yield* DemoDone, { greetings })
})

// ---------------------------------------------------------------------------
// The app
// ---------------------------------------------------------------------------

/** The handlers, the flags and the demo, on the bucket and the broker; needs NATS and `DemoDone`. */
export const App = Handlers.pipe(
  NatsBroker.afterStartup(Demo),
  Layer.provide(NatsBroker.layer),
  Layer.provideMerge(FeatureFlags.layer),
  Layer.provide(FlagsBucket)
)

/**
 * Runs the app on `nats` until the demo is done; then the app stops (the
 * watch ends, subscribers finish their messages, the bucket is removed if
 * the app created it, the connection drains) and `run` completes with what
 * the demo saw. A long-running service is just `NatsBroker.launch(App)`.
 */
export const run = <E>(
  nats: Layer.Layer<NatsClient.NatsClient, E>
): Effect.Effect<DemoResult, E | KeyValueError.KeyValueError | NatsError.NatsError> =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<DemoResult>()
    return yield* NatsBroker.launch(App.pipe(Layer.provide(nats))).pipe(
      Effect.raceFirst(Deferred.await(done)),
      Effect.provideService(DemoDone, done)
    )
  })
