/**
 * `RunnerStorage` on a NATS KV bucket whose TTL is the shard lock expiration.
 *
 * - `runner.<address>`: the runner, whether it is healthy, its machine id.
 * - `machine.<n>`: the claim of machine id `n` (0 to 1023, as Snowflake ids
 *   hold them) by a runner's address; created, so two runners never share one.
 * - `lock.<shard>`: the address of the runner holding the shard's lock.
 *
 * A runner rewrites its entries on every refresh (the heartbeat); one that
 * stops refreshing (killed, cut off) loses them when the server removes
 * messages older than the TTL: its registration, its machine id and its
 * locks expire together, on the server's clock, whatever the runners' clocks
 * say. Locks are taken by `create` (only when absent) and refreshed and
 * released by compare-and-set on the revision the runner wrote, so no runner
 * takes or keeps a lock another holds.
 */
import type { NatsClient } from "@nats-effect/core"
import { KeyValue, KeyValueError } from "@nats-effect/kv"
import { type Duration, Effect, Option, Stream } from "effect"
import { ClusterError, RunnerStorage } from "effect/cluster"
import { token } from "./keys.ts"
import { listAll } from "./listing.ts"

export const defaultBucket = "cluster_runners"
const machineIds = 1024
const concurrency = 32

interface Registration {
  readonly runner: string
  readonly healthy: boolean
  readonly machineId: number
}

const text = (data: Uint8Array) => new TextDecoder().decode(data)
const runnerKey = (address: string) => `runner.${token(address)}`
const machineKey = (id: number) => `machine.${id}`
const lockKey = (shardId: string) => `lock.${token(shardId)}`

/** A create that found the key there, or a compare-and-set that found another revision. */
const isConflict = (error: unknown): boolean =>
  KeyValueError.isKeyValueError(error) && (error.reason._tag === "KeyExists" || error.reason._tag === "WrongRevision")

/** The revision a compare-and-set wrote, or none when the key was not as expected. */
const written = <E, R>(write: Effect.Effect<number, E, R>): Effect.Effect<Option.Option<number>, E, R> =>
  write.pipe(
    Effect.map(Option.some),
    Effect.catchIf(isConflict, () => Effect.succeedNone)
  )

/**
 * `ttl` is the shard lock expiration, set on the bucket (created or opened):
 * runners give it; a client-only process, which only reads the runners,
 * leaves the bucket's as the runners set it.
 */
export const make = (
  options: { readonly bucket?: string | undefined; readonly ttl: Duration.Input | undefined }
): Effect.Effect<RunnerStorage.RunnerStorage["Service"], KeyValueError.KeyValueError, NatsClient.NatsClient> =>
  Effect.gen(function*() {
    const kv = yield* KeyValue.make({
      bucket: options.bucket ?? defaultBucket,
      ttl: options.ttl,
      description: "Effect Cluster runners and shard locks (nats-effect)"
    })

    const registration = (address: string) =>
      Effect.map(kv.get(runnerKey(address)), Option.map((entry) => ({
        revision: entry.revision,
        value: JSON.parse(text(entry.value)) as Registration
      })))

    /** Our machine id claim rewritten, or a free one claimed. */
    const claimMachineId = (address: string): Effect.Effect<number, unknown> =>
      Effect.gen(function*() {
        const current = yield* registration(address)
        if (Option.isSome(current)) {
          const id = current.value.value.machineId
          const claim = yield* kv.get(machineKey(id))
          if (Option.isSome(claim) && text(claim.value.value) === address) {
            yield* kv.update(machineKey(id), address, claim.value.revision)
            return id
          }
        }
        const taken = new Set((yield* listAll(kv.keys("machine.*"))).map((key) => Number(key.slice("machine.".length))))
        for (let id = 0; id < machineIds; id++) {
          if (taken.has(id)) continue
          if (Option.isSome(yield* written(kv.create(machineKey(id), address)))) return id
        }
        return yield* Effect.fail(`all ${machineIds} machine ids are held by live runners`)
      })

    /** Rewrites the runner's registration and machine id claim, so they live another TTL. */
    const heartbeat = (address: string) =>
      Effect.gen(function*() {
        const current = yield* registration(address)
        if (Option.isNone(current)) return
        // Another runner may have just set its health: that wrote it too.
        yield* written(kv.update(runnerKey(address), JSON.stringify(current.value.value), current.value.revision))
        const id = current.value.value.machineId
        const claim = yield* kv.get(machineKey(id))
        if (Option.isSome(claim) && text(claim.value.value) === address) {
          yield* kv.update(machineKey(id), address, claim.value.revision)
        }
      })

    // The revision each lock this process holds was last written at, by its
    // key, so a refresh is one compare-and-set.
    const held = new Map<string, number>()
    const remember = (key: string) => (revision: Option.Option<number>) =>
      Effect.sync(() => Option.isSome(revision) ? held.set(key, revision.value) : held.delete(key))

    /** Writes the lock again if `address` still holds it; its new revision, or none. */
    const rewriteLock = (address: string, key: string): Effect.Effect<Option.Option<number>, unknown> =>
      Effect.gen(function*() {
        const known = held.get(key)
        if (known !== undefined) {
          const revision = yield* written(kv.update(key, address, known))
          if (Option.isSome(revision)) return revision
        }
        const current = yield* kv.get(key)
        if (Option.isNone(current) || text(current.value.value) !== address) return Option.none()
        return yield* written(kv.update(key, address, current.value.revision))
      }).pipe(Effect.tap(remember(key)))

    const acquireLock = (address: string, key: string): Effect.Effect<boolean, unknown> =>
      Effect.gen(function*() {
        const current = yield* kv.get(key)
        const revision = Option.isNone(current)
          ? yield* written(kv.create(key, address)).pipe(Effect.tap(remember(key)))
          : text(current.value.value) === address
          ? yield* rewriteLock(address, key)
          : Option.none()
        return Option.isSome(revision)
      })

    const releaseLock = (key: string, revision: number) =>
      written(kv.delete(key, { revision }).pipe(Effect.as(revision))).pipe(
        Effect.ensuring(Effect.sync(() => held.delete(key)))
      )

    const persistence = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      effect.pipe(ClusterError.PersistenceError.refail, Effect.withTracerEnabled(false))

    return RunnerStorage.makeEncoded({
      getRunners: persistence(
        listAll(kv.history("runner.*").pipe(
          Stream.filter((entry) => entry.operation === "PUT"),
          Stream.map((entry) => {
            const { healthy, runner } = JSON.parse(text(entry.value)) as Registration
            return [runner, healthy] as const
          })
        ))
      ),
      register: (address, runner, healthy) =>
        persistence(Effect.gen(function*() {
          const machineId = yield* claimMachineId(address)
          const value: Registration = { runner, healthy, machineId }
          yield* kv.put(runnerKey(address), JSON.stringify(value))
          return machineId
        })),
      unregister: (address) =>
        persistence(Effect.gen(function*() {
          const current = yield* registration(address)
          yield* kv.delete(runnerKey(address))
          if (Option.isNone(current)) return
          const claim = yield* kv.get(machineKey(current.value.value.machineId))
          if (Option.isSome(claim) && text(claim.value.value) === address) {
            yield* written(kv.delete(machineKey(current.value.value.machineId), { revision: claim.value.revision }).pipe(
              Effect.as(0)
            ))
          }
        })),
      setRunnerHealth: (address, healthy) =>
        persistence(Effect.gen(function*() {
          while (true) {
            const current = yield* registration(address)
            // Not registered (any more): nothing to mark.
            if (Option.isNone(current)) return
            const value: Registration = { ...current.value.value, healthy }
            const revision = yield* written(kv.update(runnerKey(address), JSON.stringify(value), current.value.revision))
            if (Option.isSome(revision)) return
          }
        })),
      acquire: (address, shardIds) =>
        persistence(
          Effect.forEach(shardIds, (shardId) => acquireLock(address, lockKey(shardId)), { concurrency }).pipe(
            Effect.map((acquired) => shardIds.filter((_, i) => acquired[i]))
          )
        ),
      // An empty refresh is the liveness probe: only the heartbeat.
      refresh: (address, shardIds) =>
        persistence(Effect.gen(function*() {
          yield* heartbeat(address)
          const kept = yield* Effect.forEach(shardIds, (shardId) => rewriteLock(address, lockKey(shardId)), { concurrency })
          return shardIds.filter((_, i) => Option.isSome(kept[i]!))
        })),
      release: (address, shardId) =>
        persistence(Effect.gen(function*() {
          const current = yield* kv.get(lockKey(shardId))
          if (Option.isSome(current) && text(current.value.value) === address) {
            yield* releaseLock(lockKey(shardId), current.value.revision)
          }
        })),
      releaseAll: (address) =>
        persistence(
          Effect.flatMap(
            listAll(kv.history("lock.*").pipe(
              Stream.filter((entry) => entry.operation === "PUT" && text(entry.value) === address)
            )),
            (locks) => Effect.forEach(locks, (entry) => releaseLock(entry.key, entry.revision), { discard: true })
          )
        )
    })
  })
