/**
 * Key-value buckets, the in-memory NATS against nats-server: puts (back to
 * back among them), creates, compare-and-set updates, deletes, purges, gets,
 * histories and key listings on a bucket keeping 1 to 5 values per key,
 * while watches opened along the way (current values, history, or updates
 * only) record every change they are handed, in order (on nats-server, but
 * for changes overwritten before it could deliver them: `assertWatchesAgree`).
 */
import { assert, describe } from "@effect/vitest"
import { KeyValue } from "@nats-effect/kv"
import { Effect, Option, Stream } from "effect"
import * as fc from "fast-check"
import { text } from "../../src/internal/fixtures.ts"
import { assertWatchesAgree, differential, outcome, storedSequences } from "./harness.ts"

const keys = ["a", "b", "c.x", "c.y"] as const
const filters = ["a", "c.*", "c.>", ">"] as const
type Filter = (typeof filters)[number]
/** For each filter, a key only it and those wider than it match: written last, it ends what a watch records. */
const barrierOf: Record<Filter, string> = { "a": "a", "c.*": "c.end", "c.>": "c.end", ">": "end" }

type Op =
  | { readonly op: "put" | "create" | "delete" | "purge" | "get" | "history"; readonly key: string }
  | { readonly op: "update"; readonly key: string; readonly revision: number | "last" }
  | { readonly op: "keys"; readonly filter: string }
  | { readonly op: "watch"; readonly filter: Filter; readonly include: "lastValue" | "history" | "updatesOnly" }

const key = fc.constantFrom(...keys)

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant("put" as const), key }), weight: 6 },
  {
    arbitrary: fc.record({ op: fc.constantFrom("create" as const, "delete" as const, "purge" as const), key }),
    weight: 3
  },
  { arbitrary: fc.record({ op: fc.constantFrom("get" as const, "history" as const), key }), weight: 2 },
  {
    arbitrary: fc.record({
      op: fc.constant("update" as const),
      key,
      revision: fc.oneof(fc.constant("last" as const), fc.nat(6))
    }),
    weight: 2
  },
  { arbitrary: fc.record({ op: fc.constant("keys" as const), filter: fc.constantFrom(...filters) }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant("watch" as const),
      filter: fc.constantFrom(...filters),
      include: fc.constantFrom("lastValue" as const, "history" as const, "updatesOnly" as const)
    }),
    weight: 1
  }
)

const summary = (entry: KeyValue.Entry) => [entry.key, entry.operation, text(entry.value), entry.revision]

describe("differential: key-value buckets", () => {
  differential({
    name: "every operation, and what watches opened along the way are handed, in order",
    input: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.array(op, { minLength: 1, maxLength: 25 })),
    run: ([history, ops], { id }) =>
      Effect.gen(function*() {
        const kv = yield* KeyValue.make({ bucket: id, history })
        yield* Effect.addFinalizer(() => Effect.ignore(kv.destroy()))
        const observed: Array<unknown> = []
        const lastRevision = new Map<string, number>()
        const wrote = (key: string) => <E, R>(write: Effect.Effect<number, E, R>) =>
          Effect.tap(write, (revision) => Effect.sync(() => lastRevision.set(key, revision)))
        const watches: Array<{ readonly filter: Filter; readonly changes: Stream.Stream<KeyValue.Entry, unknown> }> = []
        for (const [index, next] of ops.entries()) {
          const value = String(index)
          switch (next.op) {
            case "put":
              observed.push(yield* outcome(wrote(next.key)(kv.put(next.key, value))))
              break
            case "create":
              observed.push(yield* outcome(wrote(next.key)(kv.create(next.key, value))))
              break
            case "update": {
              const revision = next.revision === "last" ? lastRevision.get(next.key) ?? 0 : next.revision
              observed.push(yield* outcome(wrote(next.key)(kv.update(next.key, value, revision))))
              break
            }
            case "delete":
              observed.push(yield* outcome(kv.delete(next.key)))
              break
            case "purge":
              observed.push(yield* outcome(kv.purge(next.key)))
              break
            case "get":
              observed.push(yield* outcome(Effect.map(kv.get(next.key), Option.map(summary))))
              break
            case "history":
              observed.push(
                yield* outcome(Effect.map(Stream.runCollect(kv.history(next.key)), (entries) => entries.map(summary)))
              )
              break
            case "keys":
              observed.push(yield* outcome(Stream.runCollect(kv.keys(next.filter))))
              break
            case "watch":
              watches.push({
                filter: next.filter,
                changes: yield* kv.openWatch({ key: next.filter, include: next.include })
              })
          }
        }
        // Each watch ends with its barrier, written after everything else.
        for (const filter of new Set(watches.map((watch) => watch.filter))) yield* kv.put(barrierOf[filter], "end")
        const watched = yield* Effect.forEach(watches, ({ changes, filter }) =>
          changes.pipe(
            Stream.takeUntil((entry) => entry.key === barrierOf[filter] && text(entry.value) === "end"),
            Stream.map(summary),
            Stream.runCollect
          ))
        const status = yield* kv.status()
        return { observed, watched, stored: yield* storedSequences(`KV_${id}`), values: status.values }
      }),
    compare: ({ watched, ...rest }, { watched: expected, ...expectedRest }, message) => {
      assert.deepStrictEqual(rest, expectedRest, message)
      assertWatchesAgree(watched, expected, expectedRest.stored, (change) => change[3] as number, message)
    }
  })
})
