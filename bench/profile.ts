// CPU profiles of the object store's transfers, summarised: where a putFile,
// getFile, put or get of one object spends the client's time. On its own
// nats-server, after a 32 MiB warm-up, each operation runs under V8's sampling
// profiler (the one `node --cpu-prof` uses, started through the inspector so
// that the profile covers the transfer alone), then prints its self time by
// area (file IO, hashing, socket, nats.js, the port, the object store,
// Effect's runtime, GC, idle) and the functions with the most self time.
//
// `node bench/profile.ts [putFile] [getFile] [put] [get]` (default putFile
// getFile); `PROFILE_MIB` sets the size (default 256), `PROFILE_TOP` the
// functions listed (default 25), `PROFILE_DIR` keeps the .cpuprofile files
// there (for Chrome DevTools or speedscope).
import { NodeFileSystem } from "@effect/platform-node"
import { NatsClient } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { NatsServer } from "@nats-effect/testing"
import { Effect, Layer, ManagedRuntime, Stream } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { Session } from "node:inspector/promises"
import * as os from "node:os"
import * as path from "node:path"

const MiB = 1024 * 1024

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}

interface Profile {
  readonly nodes: ReadonlyArray<
    { readonly id: number; readonly callFrame: CallFrame; readonly children?: ReadonlyArray<number> | undefined }
  >
  readonly samples?: ReadonlyArray<number> | undefined
  readonly timeDeltas?: ReadonlyArray<number> | undefined
}

/** The area a function belongs to, by where it is defined; the first match wins. */
const areas: ReadonlyArray<readonly [string, (frame: CallFrame) => boolean]> = [
  ["idle (waiting for IO)", (f) => f.functionName === "(idle)"],
  ["garbage collection", (f) => f.functionName === "(garbage collector)"],
  ["V8/native outside JS", (f) => f.functionName === "(program)"],
  ["hashing (SHA-256)", (f) => f.url.includes("internal/crypto/hash")],
  ["file IO (node:fs, fs streams)", (f) => /node:(fs|internal\/fs)/.test(f.url)],
  ["node streams (file and socket)", (f) => /node:(internal\/streams|stream)/.test(f.url)],
  ["socket (node:net)", (f) => /node:(net|internal\/stream_base_commons|internal\/net)/.test(f.url)],
  ["platform-node stream/sink adapters", (f) => f.url.includes("@effect/platform-node")],
  ["object store: rechunking", (f) => f.url.includes("object-store/src/internal/rechunk")],
  ["object store", (f) => f.url.includes("object-store/src")],
  ["port (@nats-effect/core)", (f) => f.url.includes("core/src")],
  ["nats.js JetStream", (f) => f.url.includes("@nats-io/jetstream")],
  ["nats.js core (parser, headers, protocol)", (f) => /@nats-io\/(nats-core|transport-node)/.test(f.url)],
  ["Effect runtime and streams", (f) => f.url.includes("/effect/")],
  ["node internals (buffers, timers, ...)", (f) => f.url.startsWith("node:")],
]

const areaOf = (frame: CallFrame) => areas.find(([, matches]) => matches(frame))?.[0] ?? "other"

const shortUrl = (url: string) =>
  url.replace(/^file:\/\/.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, "").replace(/^file:\/\/.*\/packages\//, "")

const describe = (frame: CallFrame) => `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`

const summarise = (what: string, profile: Profile, top: number) => {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
  const parents = new Map(profile.nodes.flatMap((node) => (node.children ?? []).map((child) => [child, node.id] as const)))
  const ancestors = function*(id: number) {
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) yield frames.get(at)!
  }
  const byArea = new Map<string, number>()
  const byFunction = new Map<string, number>()
  let total = 0
  const samples = profile.samples ?? []
  samples.forEach((id, i) => {
    const stack = [...ancestors(id)]
    // The profiler's own start and stop.
    if (stack.some((frame) => frame.url === "node:inspector")) return
    const micros = profile.timeDeltas?.[i] ?? 0
    total += micros
    const frame = stack[0]!
    // A native function (hash update, socket or file write) counts in the area of the JS that called it.
    const caller = frame.url === "" && !frame.functionName.startsWith("(")
      ? stack.find((f) => f.url !== "")
      : undefined
    const area = areaOf(caller ?? frame)
    byArea.set(area, (byArea.get(area) ?? 0) + micros)
    const name = caller === undefined ? describe(frame) : `${frame.functionName} (native) from ${describe(caller)}`
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros)
  })
  const share = (micros: number) => `${(micros / 1000).toFixed(0).padStart(6)} ms ${(100 * micros / total).toFixed(1).padStart(5)}%`
  const descending = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1])
  console.log(`\n${what}: ${(total / 1e6).toFixed(2)} s sampled`)
  console.log("  self time by area")
  for (const [area, micros] of descending(byArea)) console.log(`    ${share(micros)}  ${area}`)
  console.log(`  top ${top} functions by self time`)
  for (const [name, micros] of descending(byFunction).slice(0, top)) console.log(`    ${share(micros)}  ${name}`)
}

const operations = ["putFile", "getFile", "put", "get"] as const
type Operation = typeof operations[number]

export default async function run() {
  const wanted = process.argv.slice(2).filter((arg): arg is Operation => (operations as ReadonlyArray<string>).includes(arg))
  const selected: ReadonlyArray<Operation> = wanted.length > 0 ? wanted : ["putFile", "getFile"]
  const sizeMiB = Number(process.env["PROFILE_MIB"] ?? 256)
  const top = Number(process.env["PROFILE_TOP"] ?? 25)
  const keepIn = process.env["PROFILE_DIR"]
  const dir = await mkdtemp(path.join(os.tmpdir(), "profile-"))
  const piece = randomBytes(MiB)
  const inputOf = (mib: number) => path.join(dir, `input-${mib}.bin`)
  for (const mib of [32, sizeMiB]) {
    await writeFile(inputOf(mib), "")
    for (let i = 0; i < mib; i++) await writeFile(inputOf(mib), piece, { flag: "a" })
  }

  const serverRuntime = ManagedRuntime.make(NatsServer.layer())
  const server = await serverRuntime.runPromise(NatsServer.NatsServer)
  const runtime = ManagedRuntime.make(
    ObjectStore.layer({ bucket: "profile" }).pipe(
      Layer.provideMerge(NatsClient.layer({ servers: server.url })),
      Layer.provideMerge(NodeFileSystem.layer)
    )
  )
  const store = await runtime.runPromise(ObjectStore.ObjectStore)
  const pieces = (count: number) => Stream.fromIterable(Array.from({ length: count }, () => piece))
  const work: Record<Operation, (mib: number) => Effect.Effect<unknown, unknown>> = {
    putFile: (mib) => store.putFile(`file-${mib}`, inputOf(mib)),
    getFile: (mib) => store.getFile(`file-${mib}`, path.join(dir, "output.bin")),
    put: (mib) => store.put(`memory-${mib}`, pieces(mib)),
    get: (mib) => Stream.runDrain(store.get(`memory-${mib}`))
  }
  const session = new Session()
  session.connect()
  try {
    // Warm-up: every operation on a 32 MiB object.
    for (const op of ["putFile", "getFile", "put", "get"] as const) await runtime.runPromise(work[op](32))
    // The gets read what the puts stored.
    if (selected.includes("getFile") && !selected.includes("putFile")) await runtime.runPromise(work.putFile(sizeMiB))
    if (selected.includes("get") && !selected.includes("put")) await runtime.runPromise(work.put(sizeMiB))
    await session.post("Profiler.enable")
    await session.post("Profiler.setSamplingInterval", { interval: 200 })
    for (const op of operations.filter((op) => selected.includes(op))) {
      await session.post("Profiler.start")
      const started = performance.now()
      await runtime.runPromise(work[op](sizeMiB))
      const seconds = (performance.now() - started) / 1000
      const { profile } = await session.post("Profiler.stop")
      summarise(`${op} ${sizeMiB} MiB in ${seconds.toFixed(2)} s (${(sizeMiB / seconds).toFixed(0)} MiB/s, profiled)`, profile, top)
      if (keepIn !== undefined) await writeFile(path.join(keepIn, `${op}.cpuprofile`), JSON.stringify(profile))
    }
  } finally {
    session.disconnect()
    await runtime.dispose()
    await serverRuntime.dispose()
    await rm(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
