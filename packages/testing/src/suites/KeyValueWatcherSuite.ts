/**
 * KV watchers (`KeyValue.watcher`), run against every adapter: changes
 * handled in revision order with the key's `{param}`s, deletes and purges as
 * `undefined` (or left out), Schema values, a handler using its bucket, and
 * the watch live before `afterStartup` runs.
 *
 * One NATS (one server process for `nats-server`) per suite; every test uses
 * a bucket of its own.
 *
 * @since 0.1.0
 * @module
 */
import { assert, describe, layer } from "@effect/vitest"
import { NatsBroker, NatsError, NatsMessage } from "@nats-effect/core"
import { KeyValue } from "@nats-effect/kv"
import { Cause, Effect, Exit, Layer, Option, Queue, Schema } from "effect"
import type { Adapter } from "../Adapters.ts"
import { text, unique } from "../internal/fixtures.ts"

/** Runs `program` while `app` (a watcher) is up on a broker of its own. */
const withApp = <A, E, R, E2, R2>(app: Layer.Layer<never, E2, R2>, program: Effect.Effect<A, E, R>) =>
  Effect.provide(program, app.pipe(Layer.provideMerge(NatsBroker.layer)))

interface Seen {
  readonly key: string
  readonly params: Readonly<Record<string, string>>
  readonly value: string | undefined
  readonly operation: KeyValue.Operation
  readonly revision: number
}

const seen = (value: Uint8Array | undefined, message: KeyValue.WatchMessage): Seen => ({
  key: message.subject,
  params: message.params,
  value: value === undefined ? undefined : text(value),
  operation: message.operation,
  revision: message.revision
})

/**
 * A bucket of its own that keeps every change of the test: the watch's
 * consumer starts from the revision the layer was built at, but reads what
 * is still stored then (with one value per key, a key's older values are gone).
 */
const newBucket = Effect.suspend(() => KeyValue.make({ bucket: unique("kvw"), history: 10 })).pipe(
  Effect.map((kv) => kv.bucket)
)

/**
 * Registers the conformance tests of KV watchers of the broker for one adapter.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = (adapter: Adapter) =>
  describe(`KeyValue watchers (${adapter.name})`, () => {
    layer(adapter.layer(), { excludeTestServices: true, timeout: "120 seconds" })((it) => {
      it.effect("hands the changes to the handler in revision order, with the key's params", () =>
        Effect.gen(function*() {
          const bucket = yield* newBucket
          const received = yield* Queue.unbounded<Seen>()
          const app = KeyValue.watcher(bucket, "flags.{name}", {}, (value, message) => Queue.offer(received, seen(value, message)))
          yield* withApp(app, Effect.gen(function*() {
            const kv = yield* KeyValue.make({ bucket })
            const first = yield* kv.put("flags.dark", "on")
            const second = yield* kv.put("flags.beta", "off")
            const third = yield* kv.put("flags.dark", "off")
            yield* kv.put("other.key", "not watched")
            const changes = [yield* Queue.take(received), yield* Queue.take(received), yield* Queue.take(received)]
            assert.deepStrictEqual(changes, [
              { key: "flags.dark", params: { name: "dark" }, value: "on", operation: "PUT", revision: first },
              { key: "flags.beta", params: { name: "beta" }, value: "off", operation: "PUT", revision: second },
              { key: "flags.dark", params: { name: "dark" }, value: "off", operation: "PUT", revision: third }
            ])
          }))
        }))

      it.effect("hands deletes and purges over as undefined", () =>
        Effect.gen(function*() {
          const bucket = yield* newBucket
          const received = yield* Queue.unbounded<Seen>()
          const app = KeyValue.watcher(bucket, "k.>", {}, (value, message) => Queue.offer(received, seen(value, message)))
          yield* withApp(app, Effect.gen(function*() {
            const kv = yield* KeyValue.make({ bucket })
            yield* kv.put("k.a", "1")
            yield* kv.delete("k.a")
            yield* kv.put("k.b", "2")
            const changes = [yield* Queue.take(received), yield* Queue.take(received), yield* Queue.take(received)]
            // A purge removes the key's history: it comes once the value before it was handled.
            yield* kv.purge("k.b")
            changes.push(yield* Queue.take(received))
            assert.deepStrictEqual(changes.map((change) => [change.key, change.operation, change.value]), [
              ["k.a", "PUT", "1"],
              ["k.a", "DEL", undefined],
              ["k.b", "PUT", "2"],
              ["k.b", "PURGE", undefined]
            ])
          }))
        }))

      it.effect("leaves deletes and purges out with ignoreDeletes", () =>
        Effect.gen(function*() {
          const bucket = yield* newBucket
          const received = yield* Queue.unbounded<Seen>()
          const app = KeyValue.watcher(
            bucket,
            "k.*",
            { ignoreDeletes: true },
            (value, message) => Queue.offer(received, seen(value, message))
          )
          yield* withApp(app, Effect.gen(function*() {
            const kv = yield* KeyValue.make({ bucket })
            yield* kv.put("k.a", "1")
            yield* kv.delete("k.a")
            yield* kv.put("k.b", "2")
            const changes = [yield* Queue.take(received), yield* Queue.take(received)]
            assert.deepStrictEqual(changes.map((change) => [change.key, change.value]), [["k.a", "1"], ["k.b", "2"]])
          }))
        }))

      it.effect("decodes values with the Schema and skips those that do not decode", () =>
        Effect.gen(function*() {
          const bucket = yield* newBucket
          const Flag = Schema.Struct({ enabled: Schema.Boolean })
          const received = yield* Queue.unbounded<[string, typeof Flag.Type | undefined]>()
          const app = KeyValue.watcher(
            bucket,
            "flags.*",
            { schema: Flag },
            (flag, message) => Queue.offer(received, [message.key, flag])
          )
          yield* withApp(app, Effect.gen(function*() {
            const kv = yield* KeyValue.make({ bucket })
            yield* kv.put("flags.a", "not json")
            yield* kv.put("flags.b", JSON.stringify({ enabled: true }))
            yield* kv.delete("flags.b")
            assert.deepStrictEqual(yield* Queue.take(received), ["flags.b", { enabled: true }])
            assert.deepStrictEqual(yield* Queue.take(received), ["flags.b", undefined])
          }))
        }))

      it.effect("gives the handler its bucket as KeyValue, and the change as NatsMessage", () =>
        Effect.gen(function*() {
          const bucket = yield* newBucket
          const received = yield* Queue.unbounded<[string | undefined, string]>()
          const app = KeyValue.watcher(bucket, "orders.{id}", {}, () =>
            Effect.gen(function*() {
              const kv = yield* KeyValue.KeyValue
              const message = yield* NatsMessage.NatsMessage
              const status = yield* kv.get(`status.${message.params.id}`)
              yield* Queue.offer(received, [Option.getOrUndefined(Option.map(status, (e) => text(e.value))), message.subject])
            }))
          yield* withApp(app, Effect.gen(function*() {
            const kv = yield* KeyValue.make({ bucket })
            yield* kv.put("status.7", "shipped")
            yield* kv.put("orders.7", "{}")
            assert.deepStrictEqual(yield* Queue.take(received), ["shipped", "orders.7"])
          }))
        }))

      it.effect("hands over the values stored before the layer was built, then the changes", () =>
        Effect.gen(function*() {
          const bucket = yield* newBucket
          const kv = yield* KeyValue.make({ bucket })
          yield* kv.put("k.old", "before")
          yield* kv.put("k.gone", "x")
          yield* kv.delete("k.gone")
          const received = yield* Queue.unbounded<Seen>()
          const app = KeyValue.watcher(bucket, "k.*", {}, (value, message) => Queue.offer(received, seen(value, message)))
          yield* withApp(app, Effect.gen(function*() {
            yield* kv.put("k.new", "after")
            const changes = [yield* Queue.take(received), yield* Queue.take(received)]
            assert.deepStrictEqual(changes.map((change) => [change.key, change.value]), [
              ["k.old", "before"],
              ["k.new", "after"]
            ])
          }))
        }))

      it.effect("watches before afterStartup runs", () =>
        Effect.gen(function*() {
          const bucket = yield* newBucket
          const received = yield* Queue.unbounded<Seen>()
          const app = KeyValue.watcher(
            bucket,
            "k",
            { include: "updatesOnly" },
            (value, message) => Queue.offer(received, seen(value, message))
          ).pipe(NatsBroker.afterStartup(Effect.flatMap(KeyValue.make({ bucket }), (kv) => kv.put("k", "at startup"))))
          yield* withApp(app, Effect.gen(function*() {
            assert.strictEqual((yield* Queue.take(received)).value, "at startup")
          }))
        }))

      it.effect("ends NatsBroker.launch when the bucket is deleted under the watcher", () =>
        Effect.gen(function*() {
          const bucket = yield* newBucket
          const app = KeyValue.watcher(bucket, "k", {}, () => Effect.void).pipe(
            NatsBroker.afterStartup(Effect.flatMap(KeyValue.make({ bucket }), (kv) => kv.destroy())),
            Layer.provideMerge(NatsBroker.layer)
          )
          const exit = yield* Effect.exit(NatsBroker.launch(app))
          const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
          assert.isTrue(Option.isSome(error) && NatsError.isNatsError(error.value))
          assert.strictEqual(Option.isSome(error) && NatsError.isNatsError(error.value) && error.value.reason._tag, "ConnectionError")
        }))

      it.effect("hands over both values of a key put twice back to back with history 1, every time", () =>
        Effect.gen(function*() {
          for (let attempt = 0; attempt < 10; attempt++) {
            const bucket = yield* Effect.map(KeyValue.make({ bucket: unique("kvw1"), history: 1 }), (kv) => kv.bucket)
            const received = yield* Queue.unbounded<Seen>()
            const app = KeyValue.watcher(bucket, "a", {}, (value, message) => Queue.offer(received, seen(value, message)))
            yield* withApp(app, Effect.gen(function*() {
              const kv = yield* KeyValue.make({ bucket })
              yield* kv.put("a", "1")
              yield* kv.put("a", "2")
              const changes = [yield* Queue.take(received), yield* Queue.take(received)]
              assert.deepStrictEqual(changes.map((change) => `${change.value}@${change.revision}`), ["1@1", "2@2"], `attempt ${attempt}`)
            }))
          }
        }))

      it.effect("goes on after a handler fails", () =>
        Effect.gen(function*() {
          const bucket = yield* newBucket
          const received = yield* Queue.unbounded<string>()
          const app = KeyValue.watcher(bucket, "k.*", {}, (value, message) =>
            message.key === "k.bad"
              ? Effect.fail("refused")
              : Queue.offer(received, value === undefined ? "" : text(value)))
          yield* withApp(app, Effect.gen(function*() {
            const kv = yield* KeyValue.make({ bucket })
            yield* kv.put("k.bad", "x")
            yield* kv.put("k.good", "y")
            assert.strictEqual(yield* Queue.take(received), "y")
          }))
        }))
    })
  })
