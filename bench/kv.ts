// Key-value throughput: our KeyValue beside @nats-io/kv 3.4, on one
// nats-server with file storage, each on a bucket it created itself (both
// with direct gets):
//   put: one key after the other, each put awaited (its PubAck) before the next
//   get: one key after the other, each get awaited before the next
// over `KV_BENCH_KEYS` keys (1,000) with 128-byte values, `KV_BENCH_OPS`
// operations (5,000) per measurement. After a warm-up round, the rounds
// (`KV_BENCH_ROUNDS`, 3) alternate ours and theirs so that a busy moment on
// a shared machine hits both alike; the best round is reported, in ops/s of
// wall-clock time and per second of this process's CPU time.
//
// `node bench/kv.ts` runs it alone.
import { Kvm } from "@nats-io/kv"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { NatsClient } from "@nats-effect/core"
import { KeyValue } from "@nats-effect/kv"
import { NatsServer } from "@nats-effect/testing"
import { Effect, ManagedRuntime, Option } from "effect"
import { randomBytes } from "node:crypto"

const ops = Number(process.env["KV_BENCH_OPS"] ?? 5_000)
const keyCount = Number(process.env["KV_BENCH_KEYS"] ?? 1_000)
const rounds = Number(process.env["KV_BENCH_ROUNDS"] ?? 3)
const value = randomBytes(128)
const keys = Array.from({ length: keyCount }, (_, i) => `user.${i}.settings`)
const keyAt = (i: number) => keys[i % keyCount]!

interface Rate {
  /** Operations per second of wall-clock time. */
  readonly wall: number
  /** Operations per second of this process's CPU time (user + system). */
  readonly cpu: number
}

type Op = "put" | "get"

/** Times `ops` operations, `run` doing them all. */
const measure = async (run: () => Promise<void>): Promise<Rate> => {
  const start = performance.now()
  const cpuStart = process.cpuUsage()
  await run()
  const cpu = process.cpuUsage(cpuStart)
  return { wall: ops / ((performance.now() - start) / 1000), cpu: ops / ((cpu.user + cpu.system) / 1e6) }
}

type Client = Record<Op, () => Promise<Rate>> & { readonly close: () => Promise<void> }

/** Ours: the operations run in one Effect, as an app's handler would run them. */
const ours = async (url: string): Promise<Client> => {
  const runtime = ManagedRuntime.make(NatsClient.layer({ servers: url }))
  const kv = await runtime.runPromise(KeyValue.make({ bucket: "bench_ours" }))
  const run = (effect: Effect.Effect<void, unknown>) => measure(() => runtime.runPromise(effect))
  return {
    put: () =>
      run(Effect.gen(function*() {
        for (let i = 0; i < ops; i++) yield* kv.put(keyAt(i), value)
      })),
    get: () =>
      run(Effect.gen(function*() {
        for (let i = 0; i < ops; i++) {
          if (Option.isNone(yield* kv.get(keyAt(i)))) throw new Error(`ours: no value for ${keyAt(i)}`)
        }
      })),
    close: () => runtime.dispose()
  }
}

/** @nats-io/kv, on a connection of its own. */
const theirs = async (url: string): Promise<Client> => {
  const nc: NatsConnection = await connect({ servers: url })
  const kv = await new Kvm(nc).create("bench_theirs")
  return {
    put: () =>
      measure(async () => {
        for (let i = 0; i < ops; i++) await kv.put(keyAt(i), value)
      }),
    get: () =>
      measure(async () => {
        for (let i = 0; i < ops; i++) {
          if ((await kv.get(keyAt(i))) === null) throw new Error(`@nats-io/kv: no value for ${keyAt(i)}`)
        }
      }),
    close: () => nc.close()
  }
}

const best = (rates: ReadonlyArray<Rate>): Rate => ({
  wall: Math.max(...rates.map((rate) => rate.wall)),
  cpu: Math.max(...rates.map((rate) => rate.cpu))
})

const format = (rate: number) => `${Math.round(rate).toLocaleString("en-US")} ops/s`.padStart(14)

export default async function run(): Promise<void> {
  const serverRuntime = ManagedRuntime.make(NatsServer.layer())
  try {
    const server = await serverRuntime.runPromise(NatsServer.NatsServer)
    console.log(
      `nats-server at ${server.url}, file storage; ${ops.toLocaleString("en-US")} sequential operations over ` +
        `${keyCount.toLocaleString("en-US")} keys of ${value.length}-byte values, best of ${rounds} interleaved rounds; ` +
        `ops/s of wall-clock time, then per second of this process's CPU time`
    )
    const clients = { ours: await ours(server.url), theirs: await theirs(server.url) }
    try {
      const results: Record<keyof typeof clients, Record<Op, Array<Rate>>> = {
        ours: { put: [], get: [] },
        theirs: { put: [], get: [] }
      }
      for (let round = 0; round <= rounds; round++) {
        for (const op of ["put", "get"] as const) {
          for (const name of ["ours", "theirs"] as const) {
            const rate = await clients[name][op]()
            if (round > 0) results[name][op].push(rate)
          }
        }
      }
      for (const op of ["put", "get"] as const) {
        const our = best(results.ours[op])
        const their = best(results.theirs[op])
        console.log(`${op} KeyValue (ours)`.padEnd(24) + `${format(our.wall)}   ${format(our.cpu)} of CPU`)
        console.log(`${op} @nats-io/kv 3.4`.padEnd(24) + `${format(their.wall)}   ${format(their.cpu)} of CPU`)
        console.log(
          `${op} ours/@nats-io/kv`.padEnd(24) +
            `${(our.wall / their.wall).toFixed(2).padStart(14)}   ${(our.cpu / their.cpu).toFixed(2).padStart(14)} of CPU` +
            "   (target >= 1x)"
        )
      }
    } finally {
      await clients.ours.close()
      await clients.theirs.close()
    }
  } finally {
    await serverRuntime.dispose()
  }
}

if (import.meta.main) await run()
