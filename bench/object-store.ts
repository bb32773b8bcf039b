// Object store throughput: our put/get beside @nats-io/obj (default pure-JS
// SHA-256 and the native backend) and raw JetStream (pipelined publish,
// ordered consume), on one nats-server with file storage, 128 MiB and 1 GiB.
// Then the memory check (`object-store-rss.ts`), in processes of their own.
//
// `node bench/object-store.ts` runs it alone; `OBJ_BENCH_SIZES`
// (MiB, comma-separated; 0 for none, the memory check alone) overrides the sizes, `OBJ_BENCH_WINDOWS` and
// `OBJ_BENCH_READ_AHEAD` add sweeps of our `publishWindow` and `readAhead`,
// `OBJ_BENCH_ROUNDS` sets the rounds (default 3), `OBJ_BENCH_RSS=0` skips the
// memory check, `OBJ_BENCH_PROGRESS=1` gives our put and get an `onProgress`.
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { Objm, setSha256Backend } from "@nats-io/obj"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { NatsClient } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { NatsServer } from "@nats-effect/testing"
import { Effect, Layer, ManagedRuntime, Stream } from "effect"
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { fileURLToPath } from "node:url"

export const MiB = 1024 * 1024
const chunkSize = 128 * 1024
const rawWindow = 32
// The source hands over 1 MiB pieces of random bytes, the same to every writer.
const piece = randomBytes(MiB)

const pieces = function*(sizeMiB: number) {
  for (let i = 0; i < sizeMiB; i++) yield piece
}

const readable = (sizeMiB: number) => {
  const it = pieces(sizeMiB)
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = it.next()
      if (next.done) controller.close()
      else controller.enqueue(next.value)
    }
  })
}

const drainReadable = async (stream: ReadableStream<Uint8Array>) => {
  let bytes = 0
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return bytes
    bytes += value.length
  }
}

export interface Result {
  readonly what: string
  readonly sizeMiB: number
  readonly seconds: number
  /** CPU time of this process (user + system): steadier than wall time on a busy machine. */
  readonly cpuMillisPerMiB: number
}

export const mibps = (r: Result) => r.sizeMiB / r.seconds

// Warm-up runs (to get the JIT going) are timed but not printed.
let quiet = false

/** Runs `warmUp` without printing its timings. */
export const quietly = async (warmUp: () => Promise<unknown>) => {
  quiet = true
  try {
    await warmUp()
  } finally {
    quiet = false
  }
}

export const report = (result: Result) => {
  if (!quiet) {
    console.log(
      `  ${result.what.padEnd(34)} ${result.sizeMiB} MiB in ${result.seconds.toFixed(2)} s: ${
        mibps(result).toFixed(0).padStart(4)
      } MiB/s, client CPU ${result.cpuMillisPerMiB.toFixed(2)} ms/MiB`
    )
  }
  return result
}

export const timed = async (what: string, sizeMiB: number, run: () => Promise<unknown>): Promise<Result> => {
  const start = process.hrtime.bigint()
  const cpu = process.cpuUsage()
  await run()
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const used = process.cpuUsage(cpu)
  return report({ what, sizeMiB, seconds, cpuMillisPerMiB: (used.user + used.system) / 1000 / sizeMiB })
}

const expectSize = (got: number, sizeMiB: number) => {
  if (got !== sizeMiB * MiB) throw new Error(`read ${got} bytes, expected ${sizeMiB * MiB}`)
}

// --- ours -------------------------------------------------------------------

interface Tuning {
  readonly publishWindow?: number
  readonly readAhead?: number
}

/** `OBJ_BENCH_PROGRESS=1`: our put and get with an `onProgress` that does nothing, to see what progress costs. */
const transferOptions: ObjectStore.TransferOptions = process.env["OBJ_BENCH_PROGRESS"] === "1"
  ? { onProgress: () => Effect.void }
  : {}

export const ours = async (url: string, sizeMiB: number, tuning: Tuning = {}) => {
  const runtime = ManagedRuntime.make(
    ObjectStore.layer({ bucket: "ours", ...tuning }).pipe(Layer.provideMerge(NatsClient.layer({ servers: url })))
  )
  try {
    const label = Object.entries(tuning).map(([key, value]) => ` ${key} ${value}`).join("") +
      (transferOptions.onProgress === undefined ? "" : " progress")
    const put = await timed(`nats-effect put${label}`, sizeMiB, () =>
      runtime.runPromise(ObjectStore.ObjectStore.use((store) =>
        store.put("bench", Stream.fromIterable(pieces(sizeMiB), { chunkSize: 1 }), transferOptions))))
    const get = await timed(`nats-effect get${label}`, sizeMiB, () =>
      runtime.runPromise(ObjectStore.ObjectStore.use((store) =>
        store.get("bench", transferOptions).pipe(
          Stream.runFold(() => 0, (n, bytes) => n + bytes.length),
          Effect.map((n) => expectSize(n, sizeMiB))
        ))))
    await runtime.runPromise(ObjectStore.ObjectStore.use((store) => store.destroy()))
    return { put, get }
  } finally {
    await runtime.dispose()
  }
}

// --- @nats-io/obj -------------------------------------------------------------

export const natsJsObj = async (nc: NatsConnection, sizeMiB: number, backend: "js" | "native") => {
  setSha256Backend(backend)
  const objm = new Objm(nc)
  const store = await objm.create(`obj_${backend}`, { storage: "file" as never })
  const put = await timed(`@nats-io/obj put (${backend} sha)`, sizeMiB, () =>
    store.put({ name: "bench" }, readable(sizeMiB)))
  const get = await timed(`@nats-io/obj get (${backend} sha)`, sizeMiB, async () => {
    const result = await store.get("bench")
    if (result === null) throw new Error("@nats-io/obj: object not found")
    expectSize(await drainReadable(result.data), sizeMiB)
    const error = await result.error
    if (error) throw error
  })
  await store.destroy()
  return { put, get }
}

// --- raw JetStream ----------------------------------------------------------

export const raw = async (nc: NatsConnection, sizeMiB: number) => {
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  await jsm.streams.add({ name: "RAW", subjects: ["raw.>"], storage: "file" as never })
  const chunks = sizeMiB * (MiB / chunkSize)
  const put = await timed(`raw publish (${rawWindow} in flight)`, sizeMiB, async () => {
    const inFlight = new Set<Promise<unknown>>()
    for (let i = 0; i < chunks; i++) {
      const offset = (i % (MiB / chunkSize)) * chunkSize
      const ack = js.publish("raw.chunks", piece.subarray(offset, offset + chunkSize))
      inFlight.add(ack)
      void ack.finally(() => inFlight.delete(ack))
      if (inFlight.size >= rawWindow) await Promise.race(inFlight)
    }
    await Promise.all(inFlight)
  })
  const get = await timed("raw ordered consume", sizeMiB, async () => {
    const consumer = await js.consumers.get("RAW", { filter_subjects: "raw.chunks" })
    const messages = await consumer.consume({ max_messages: 64 })
    let bytes = 0
    for await (const msg of messages) {
      bytes += msg.data.length
      if (msg.info.pending === 0) break
    }
    messages.stop()
    expectSize(bytes, sizeMiB)
  })
  await jsm.streams.delete("RAW")
  return { put, get }
}

// --- the run -------------------------------------------------------------------

const numbers = (list: string | undefined) => (list ?? "").split(",").map(Number).filter((n) => n > 0)

const ratio = (a: Result, b: Result) => `${(mibps(a) / mibps(b)).toFixed(2)}x`

/** The fastest of several runs: on a shared machine the others measure the neighbours. */
const best = (results: ReadonlyArray<Result>) => results.reduce((a, b) => (mibps(b) > mibps(a) ? b : a))

const rssPhase = (url: string, phase: string) =>
  new Promise<void>((resolve, reject) => {
    const script = fileURLToPath(new URL("./object-store-rss.ts", import.meta.url))
    const child = spawn(process.execPath, ["--expose-gc", script, phase], {
      env: { ...process.env, NATS_URL: url },
      stdio: "inherit"
    })
    child.once("error", reject)
    child.once("exit", (code) => code === 0 ? resolve() : reject(new Error(`object-store-rss ${phase} exited with ${code}`)))
  })

/** Each phase in a fresh process, so that one's high-water mark does not hide the next one's. */
const memoryCheck = async (url: string, nc: NatsConnection) => {
  try {
    for (const phase of ["floor", "cold", "obj-cold", "put", "get", "slow", "obj-slow"]) await rssPhase(url, phase)
  } finally {
    const jsm = await jetstreamManager(nc)
    await jsm.streams.delete("OBJ_rss").catch(() => false)
  }
  console.log("  targets: a cold process puts and gets 1 GiB with peak RSS growth <= 64 MiB; the 5 ms/chunk reader <= 32 MiB")
}

export default async function run() {
  const serverRuntime = ManagedRuntime.make(NatsServer.layer())
  try {
    const server = await serverRuntime.runPromise(NatsServer.NatsServer)
    console.log(`nats-server at ${server.url}, file storage in ${server.storeDir}`)
    const nc = await connect({ servers: server.url })
    try {
      const sizesSetting = process.env["OBJ_BENCH_SIZES"]
      const sizes = sizesSetting === "0" ? [] : numbers(sizesSetting).length > 0 ? numbers(sizesSetting) : [128, 1024]
      if (sizes.length > 0) {
        await quietly(async () => {
          await ours(server.url, 32)
          await natsJsObj(nc, 32, "native")
          await raw(nc, 32)
        })
      }
      const windows = numbers(process.env["OBJ_BENCH_WINDOWS"])
      const readAheads = numbers(process.env["OBJ_BENCH_READ_AHEAD"])
      const rounds = numbers(process.env["OBJ_BENCH_ROUNDS"])[0] ?? 3
      for (const sizeMiB of sizes) {
        console.log(`\n${sizeMiB} MiB (${chunkSize / 1024} KiB chunks)`)
        for (const publishWindow of windows) await ours(server.url, sizeMiB, { publishWindow })
        for (const readAhead of readAheads) await ours(server.url, sizeMiB, { readAhead })
        // Rounds interleave the writers so that a busy moment does not hit one alone.
        const runs: Record<"ours" | "native" | "raw", Array<{ put: Result; get: Result }>> = { ours: [], native: [], raw: [] }
        const objJs = await natsJsObj(nc, sizeMiB, "js")
        for (let round = 0; round < rounds; round++) {
          runs.ours.push(await ours(server.url, sizeMiB))
          runs.native.push(await natsJsObj(nc, sizeMiB, "native"))
          runs.raw.push(await raw(nc, sizeMiB))
        }
        const fastest = (which: keyof typeof runs, op: "put" | "get") => best(runs[which].map((r) => r[op]))
        console.log(`  best of ${rounds} rounds (MiB/s): put ours ${mibps(fastest("ours", "put")).toFixed(0)}, obj-native ${mibps(fastest("native", "put")).toFixed(0)}, obj-js ${mibps(objJs.put).toFixed(0)}, raw ${mibps(fastest("raw", "put")).toFixed(0)}; get ours ${mibps(fastest("ours", "get")).toFixed(0)}, obj-native ${mibps(fastest("native", "get")).toFixed(0)}, obj-js ${mibps(objJs.get).toFixed(0)}, raw ${mibps(fastest("raw", "get")).toFixed(0)}`)
        const leastCpu = (which: keyof typeof runs, op: "put" | "get") =>
          Math.min(...runs[which].map((r) => r[op].cpuMillisPerMiB)).toFixed(2)
        console.log(`  client CPU ms/MiB (least of ${rounds}): put ours ${leastCpu("ours", "put")}, obj-native ${leastCpu("native", "put")}, obj-js ${objJs.put.cpuMillisPerMiB.toFixed(2)}, raw ${leastCpu("raw", "put")}; get ours ${leastCpu("ours", "get")}, obj-native ${leastCpu("native", "get")}, obj-js ${objJs.get.cpuMillisPerMiB.toFixed(2)}, raw ${leastCpu("raw", "get")}`)
        for (const op of ["put", "get"] as const) {
          const our = fastest("ours", op)
          console.log(`  ${op}: ours/obj-native ${ratio(our, fastest("native", op))} (target >= ${op === "put" ? 2 : 1}x), ours/obj-js ${ratio(our, objJs[op])}, ours/raw ${ratio(our, fastest("raw", op))} (target >= 0.85x)`)
        }
      }
      if (process.env["OBJ_BENCH_RSS"] !== "0") {
        console.log("\nmemory (a process per operation)")
        await memoryCheck(server.url, nc)
      }
    } finally {
      await nc.close()
    }
  } finally {
    await serverRuntime.dispose()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
