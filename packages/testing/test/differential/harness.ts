/**
 * Differential tests: fast-check generates sequences of operations (with
 * the settings they run under), each runs on a fresh in-memory NATS and on a
 * nats-server of each version installed (the `nats-server` adapters of
 * `Adapters.adapters`), and what each side observed (results, errors by
 * reason, consumer info, what each reader received in what order) must be
 * the same. Where the in-memory NATS and nats-server
 * disagree, the in-memory one is wrong: a failure names the server, the
 * seed, and the shortest sequence fast-check shrank it to.
 *
 * `NATS_EFFECT_DIFF_RUNS` sets the runs per property (default
 * `defaultRuns`), `NATS_EFFECT_DIFF_SEED` replays a seed. Without a
 * nats-server to compare with, the tests are skipped, saying so.
 */
import { assert, it } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { Context, Effect, Layer, References, type Scope, Stream } from "effect"
import * as fc from "fast-check"
import { adapters } from "../../src/Adapters.ts"
import { unique } from "../../src/internal/fixtures.ts"

const defaultRuns = 50

/** Runs per property: `NATS_EFFECT_DIFF_RUNS`, else `defaultRuns`. */
const runs = Number(process.env["NATS_EFFECT_DIFF_RUNS"] ?? defaultRuns)
const seed = process.env["NATS_EFFECT_DIFF_SEED"]

const [major, minor, patch] = NatsClient.memoryServerVersion.split(".").map(Number) as [number, number, number]

/**
 * Whether nats-server `version` is at least the one the in-memory NATS
 * models: inputs whose outcome changed since older servers are compared on
 * those only.
 */
export const asNewAsMemory = (version: string): boolean => NatsClient.serverAtLeast({ version }, major, minor, patch)

/** What a sequence is run with: a name of its own (the same on every side), and the side's server version. */
export interface Run {
  readonly id: string
  readonly version: string
}

/** Why an operation failed, in place of its result: the reason's tag and fields (its message aside). */
export interface Failed {
  readonly error: string
  readonly [field: string]: unknown
}

/** The result of `effect`, or why it failed (`NatsError`, `KeyValueError`, `ObjectStoreError`). */
export const outcome = <A, E extends { readonly reason: { readonly _tag: string } }, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A | Failed, never, R> =>
  Effect.catch(effect, (error) => {
    const { message: _, ...fields } = { ...error.reason } as Record<string, unknown>
    return Effect.succeed({ ...fields, error: error.reason._tag })
  })

export interface Property<A, O> {
  readonly name: string
  /** The operations to run (and whatever settings they run under). */
  readonly input: fc.Arbitrary<A>
  /** Runs them on the client provided and returns what they observed, as plain data. */
  readonly run: (input: A, run: Run) => Effect.Effect<O, unknown, NatsClient.NatsClient | Scope.Scope>
  /** Asserts that a server's observations agree with the in-memory NATS's. Default: they are equal. */
  readonly compare?: (observed: O, expected: O, message: string) => void
  /**
   * Whether nats-server `version` is expected to observe what the in-memory
   * NATS (nats-server 2.15) observes; where an older server answers
   * otherwise, the input is compared on newer ones only. Default: always.
   */
  readonly comparable?: (version: string, input: A) => boolean
}

/**
 * The sequences of the messages still in `stream`: the changes a watch on
 * nats-server must have been handed (see `assertWatchesAgree`).
 */
export const storedSequences = (stream: string): Effect.Effect<ReadonlyArray<number>, unknown, NatsClient.NatsClient> =>
  Effect.flatMap(NatsClient.NatsClient, (nats) =>
    Stream.runCollect(nats.jetstream.ordered(stream, { headersOnly: true, untilCaughtUp: true })).pipe(
      Effect.map((messages) => messages.map((msg) => msg.seq))
    ))

/**
 * Watches agree when each one on the server was handed, in order, what the
 * in-memory one was, but for changes no longer stored at the end. nats-server
 * delivers into a watch's pull request a moment after it stores a change: a
 * write right after it (a key overwritten in a bucket keeping one value per
 * key, an object's meta replaced) now and then removes the change first. The
 * in-memory NATS hands every change over as it is stored.
 */
export const assertWatchesAgree = <W>(
  observed: ReadonlyArray<ReadonlyArray<W>>,
  expected: ReadonlyArray<ReadonlyArray<W>>,
  stored: ReadonlyArray<number>,
  revisionOf: (change: W) => number,
  message: string
): void => {
  const kept = new Set(stored)
  assert.strictEqual(observed.length, expected.length, message)
  for (const [i, changes] of observed.entries()) {
    const all = expected[i]!
    const required = all.filter((change) => kept.has(revisionOf(change)))
    let at = 0
    for (const change of changes) {
      while (at < all.length && JSON.stringify(all[at]) !== JSON.stringify(change)) at++
      assert.isBelow(at++, all.length, `watch ${i}: ${JSON.stringify(change)} out of place; ${message}`)
    }
    for (const change of required) {
      const seen = changes.some((other) => JSON.stringify(other) === JSON.stringify(change))
      assert.isTrue(seen, `watch ${i} missed ${JSON.stringify(change)}; ${message}`)
    }
  }
}

/** A run that takes longer than this on one side is a divergence too (it hangs). */
const runTimeout = "20 seconds"

const servers = adapters.filter((adapter) => adapter.name !== "memory")

/**
 * Registers a test that checks `property` for `runs` generated inputs
 * against every nats-server adapter, each server started once for the test.
 */
export const differential = <A, O>(property: Property<A, O>): void => {
  if (servers.length === 0) {
    it(property.name, (ctx) => ctx.skip("no nats-server to compare the in-memory NATS with"))
    return
  }
  it.live(property.name, () =>
    Effect.gen(function*() {
      const clients = yield* Effect.forEach(servers, (server) =>
        Effect.map(
          Layer.build(server.layer()),
          (context) => ({ version: server.version!, client: Context.get(context, NatsClient.NatsClient) })
        ))
      const runOn = (input: A, run: Run, side: string, client: Layer.Layer<NatsClient.NatsClient>) =>
        property.run(input, run).pipe(
          Effect.scoped,
          Effect.provide(client),
          Effect.timeoutOrElse({
            duration: runTimeout,
            orElse: () => Effect.die(`${side}: the run did not end within ${runTimeout}`)
          }),
          Effect.provideService(References.MinimumLogLevel, "Warn")
        )
      const check = (input: A) =>
        Effect.runPromise(Effect.gen(function*() {
          const id = unique("D")
          const memory = { id, version: NatsClient.memoryServerVersion }
          const expected = yield* runOn(input, memory, "memory", NatsClient.layerMemory())
          for (const server of clients) {
            if (property.comparable?.(server.version, input) === false) continue
            const side = `nats-server ${server.version}`
            const observed = yield* runOn(
              input,
              { id, version: server.version },
              side,
              Layer.succeed(NatsClient.NatsClient, server.client)
            )
            const message = `${side} observed ${JSON.stringify(observed)}, memory ${JSON.stringify(expected)}`
            if (property.compare === undefined) assert.deepStrictEqual(observed, expected, message)
            else property.compare(observed, expected, message)
          }
        }))
      yield* Effect.promise(() =>
        fc.assert(fc.asyncProperty(property.input, check), {
          numRuns: runs,
          ...(seed !== undefined ? { seed: Number(seed) } : {})
        })
      )
    }), { timeout: 600_000 })
}
