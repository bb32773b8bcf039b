/**
 * Object stores, the in-memory NATS against nats-server: puts of objects of
 * zero to several chunks over one another, gets, infos, deletes, links and
 * listings, while watches opened along the way (current objects, their
 * history, or changes only) record what they are handed, in order (on
 * nats-server, but for metas replaced before it could deliver them:
 * `assertWatchesAgree`).
 */
import { assert, describe } from "@effect/vitest"
import { ObjectStore } from "@nats-effect/object-store"
import { Effect, Stream } from "effect"
import * as fc from "fast-check"
import { assertWatchesAgree, differential, outcome, storedSequences } from "./harness.ts"

const chunkSize = 16
const names = ["a", "b", "dir/c"] as const
/** Put last, it ends what every watch records. */
const barrier = "zz-end"

type Op =
  | { readonly op: "put"; readonly name: string; readonly size: number }
  | { readonly op: "get" | "info" | "delete"; readonly name: string }
  | { readonly op: "link"; readonly name: string; readonly target: string }
  | { readonly op: "list" }
  | { readonly op: "watch"; readonly options: ObjectStore.WatchOptions }

const name = fc.constantFrom(...names)

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant("put" as const),
      name,
      size: fc.constantFrom(0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize + 5)
    }),
    weight: 5
  },
  { arbitrary: fc.record({ op: fc.constantFrom("get" as const, "info" as const, "delete" as const), name }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant("link" as const), name, target: name }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("list" as const) }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant("watch" as const),
      options: fc.record({ includeHistory: fc.boolean(), ignoreDeletes: fc.boolean(), updatesOnly: fc.boolean() })
    }),
    weight: 1
  }
)

/** What identifies an object's version across servers: not its nuid or time. */
const summary = (info: ObjectStore.ObjectInfo) => ({
  name: info.name,
  size: info.size,
  chunks: info.chunks,
  digest: info.digest,
  deleted: info.deleted,
  revision: info.revision,
  link: info.options?.link
})

describe("differential: object stores", () => {
  differential({
    name: "every operation, and what watches opened along the way are handed, in order",
    input: fc.array(op, { minLength: 1, maxLength: 20 }),
    run: (ops, { id }) =>
      Effect.gen(function*() {
        const store = yield* ObjectStore.make({ bucket: id, chunkSize })
        yield* Effect.addFinalizer(() => Effect.ignore(store.destroy()))
        const observed: Array<unknown> = []
        const watches: Array<Stream.Stream<ObjectStore.ObjectInfo, unknown>> = []
        for (const [index, next] of ops.entries()) {
          switch (next.op) {
            case "put":
              observed.push(yield* outcome(Effect.map(store.putBytes(next.name, new Uint8Array(next.size).fill(index)), summary)))
              break
            case "get":
              observed.push(yield* outcome(Effect.map(store.getBytes(next.name), (data) => [data.length, data[0]])))
              break
            case "info":
              observed.push(yield* outcome(Effect.map(store.info(next.name), summary)))
              break
            case "delete":
              observed.push(yield* outcome(store.delete(next.name)))
              break
            case "link":
              observed.push(yield* outcome(Effect.map(store.link(next.name, next.target), summary)))
              break
            case "list":
              observed.push(yield* outcome(Effect.map(store.list(), (infos) => infos.map(summary))))
              break
            case "watch":
              watches.push(yield* store.openWatch(next.options))
          }
        }
        if (watches.length > 0) yield* store.putBytes(barrier, "end")
        const watched = yield* Effect.forEach(watches, (changes) =>
          changes.pipe(Stream.takeUntil((info) => info.name === barrier), Stream.map(summary), Stream.runCollect))
        const status = yield* store.status()
        return { observed, watched, stored: yield* storedSequences(`OBJ_${id}`), size: status.size }
      }),
    compare: ({ watched, ...rest }, { watched: expected, ...expectedRest }, message) => {
      assert.deepStrictEqual(rest, expectedRest, message)
      assertWatchesAgree(watched, expected, expectedRest.stored, (change) => change.revision, message)
    }
  })
})
