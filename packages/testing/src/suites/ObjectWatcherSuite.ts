/**
 * Object watchers (`ObjectStore.watcher`), run against every adapter: each
 * new, changed or deleted object handed over in revision order (deletions
 * left out on request), a handler reading the object through its bucket,
 * and the watch live before `afterStartup` runs.
 *
 * One NATS (one server process for `nats-server`) per suite; every test uses
 * a bucket of its own.
 *
 * @since 0.1.0
 * @module
 */
import { assert, describe, layer } from "@effect/vitest"
import { NatsBroker, NatsMessage } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { Effect, Layer, Queue } from "effect"
import type { Adapter } from "../Adapters.ts"
import { text, unique } from "../internal/fixtures.ts"

/** Runs `program` while `app` (a watcher) is up on a broker of its own. */
const withApp = <A, E, R, E2, R2>(app: Layer.Layer<never, E2, R2>, program: Effect.Effect<A, E, R>) =>
  Effect.provide(program, app.pipe(Layer.provideMerge(NatsBroker.layer)))

const openStore = (bucket: string) => ObjectStore.make({ bucket })

const summary = (info: ObjectStore.ObjectInfo) => [info.name, info.size, info.deleted]

/**
 * Registers the conformance tests of object watchers of the broker for one adapter.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = (adapter: Adapter) =>
  describe(`ObjectStore watchers (${adapter.name})`, () => {
    layer(adapter.layer(), { excludeTestServices: true, timeout: "120 seconds" })((it) => {
      it.effect("hands over each new, changed and deleted object in revision order", () =>
        Effect.gen(function*() {
          const bucket = unique("osw")
          const received = yield* Queue.unbounded<ObjectStore.ObjectInfo>()
          const app = ObjectStore.watcher(bucket, {}, (info) => Queue.offer(received, info))
          yield* withApp(app, Effect.gen(function*() {
            const os = yield* openStore(bucket)
            const a = yield* os.putBytes("a.txt", "one")
            const b = yield* os.putBytes("b.txt", "three")
            const infos = [yield* Queue.take(received), yield* Queue.take(received)]
            yield* os.putBytes("a.txt", "seven")
            yield* os.delete("b.txt")
            infos.push(yield* Queue.take(received), yield* Queue.take(received))
            assert.deepStrictEqual(infos.map(summary), [
              ["a.txt", 3, false],
              ["b.txt", 5, false],
              ["a.txt", 5, false],
              ["b.txt", 0, true]
            ])
            assert.deepStrictEqual(infos.slice(0, 2).map((info) => info.revision), [a.revision, b.revision])
            assert.isTrue(infos[2]!.revision < infos[3]!.revision)
          }))
        }))

      it.effect("leaves deletions out with ignoreDeletes", () =>
        Effect.gen(function*() {
          const bucket = unique("osw")
          const received = yield* Queue.unbounded<ObjectStore.ObjectInfo>()
          const app = ObjectStore.watcher(bucket, { ignoreDeletes: true }, (info) => Queue.offer(received, info))
          yield* withApp(app, Effect.gen(function*() {
            const os = yield* openStore(bucket)
            yield* os.putBytes("a", "1")
            assert.deepStrictEqual(summary(yield* Queue.take(received)), ["a", 1, false])
            yield* os.delete("a")
            yield* os.putBytes("b", "22")
            assert.deepStrictEqual(summary(yield* Queue.take(received)), ["b", 2, false])
          }))
        }))

      it.effect("hands over the objects stored before the layer was built, then the changes", () =>
        Effect.gen(function*() {
          const bucket = unique("osw")
          const os = yield* openStore(bucket)
          yield* os.putBytes("old", "before")
          yield* os.putBytes("gone", "x")
          yield* os.delete("gone")
          const received = yield* Queue.unbounded<ObjectStore.ObjectInfo>()
          const app = ObjectStore.watcher(bucket, {}, (info) => Queue.offer(received, info))
          yield* withApp(app, Effect.gen(function*() {
            yield* os.putBytes("new", "after")
            assert.deepStrictEqual(
              [summary(yield* Queue.take(received)), summary(yield* Queue.take(received))],
              [["old", 6, false], ["new", 5, false]]
            )
          }))
        }))

      it.effect("hands over every stored meta with includeHistory", () =>
        Effect.gen(function*() {
          const bucket = unique("osw")
          const os = yield* openStore(bucket)
          yield* os.putBytes("a", "1")
          yield* os.putBytes("b", "2")
          yield* os.delete("b")
          const received = yield* Queue.unbounded<ObjectStore.ObjectInfo>()
          const app = ObjectStore.watcher(bucket, { includeHistory: true }, (info) => Queue.offer(received, info))
          yield* withApp(app, Effect.gen(function*() {
            // A delete rolls the object's meta up: "b" is stored as its deletion only.
            assert.deepStrictEqual(
              [summary(yield* Queue.take(received)), summary(yield* Queue.take(received))],
              [["a", 1, false], ["b", 0, true]]
            )
          }))
        }))

      it.effect("gives the handler its bucket as ObjectStore, and the change as NatsMessage", () =>
        Effect.gen(function*() {
          const bucket = unique("osw")
          const received = yield* Queue.unbounded<[string, string]>()
          const app = ObjectStore.watcher(bucket, { ignoreDeletes: true }, (info) =>
            Effect.gen(function*() {
              const os = yield* ObjectStore.ObjectStore
              const message = yield* NatsMessage.NatsMessage
              yield* Queue.offer(received, [message.subject, text(yield* os.getBytes(info.name))])
            }))
          yield* withApp(app, Effect.gen(function*() {
            const os = yield* openStore(bucket)
            yield* os.putBytes("report.csv", "a,b\n1,2")
            assert.deepStrictEqual(yield* Queue.take(received), ["report.csv", "a,b\n1,2"])
          }))
        }))

      it.effect("watches before afterStartup runs", () =>
        Effect.gen(function*() {
          const bucket = unique("osw")
          const received = yield* Queue.unbounded<ObjectStore.ObjectInfo>()
          const app = ObjectStore.watcher(bucket, {}, (info) => Queue.offer(received, info)).pipe(
            NatsBroker.afterStartup(
              Effect.scoped(Effect.flatMap(openStore(bucket), (os) => os.putBytes("at-startup", "hi")))
            )
          )
          yield* withApp(app, Effect.gen(function*() {
            assert.deepStrictEqual(summary(yield* Queue.take(received)), ["at-startup", 2, false])
          }))
        }))
    })
  })
