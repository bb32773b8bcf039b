// File transfers against nats.go, the reference object store: on one
// nats-server (file storage), a random file (256 MiB) into the store and back
// to a file with our putFile/getFile and nats.go's PutFile/GetFile; beside
// them the same size from and to memory with our put/get, nats.go's Put/Get,
// @nats-io/obj (native SHA-256) and raw JetStream. Rounds interleave them
// (who goes first alternates) and every ratio is taken within one round, so a
// busy moment on the shared machine hits one round rather than one writer.
// nats.go is the one go/go.mod requires, built by go/natsgo.ts; skipped, with
// the reason, when Go is missing or the build fails.
//
// `node bench/files.ts` runs it alone; `FILES_BENCH_MIB` sets the size
// (default 256), `FILES_BENCH_ROUNDS` the rounds (default 3).
import { NodeFileSystem } from "@effect/platform-node"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { NatsClient } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { NatsServer } from "@nats-effect/testing"
import { Layer, ManagedRuntime } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { buildObjbench, type GoObjbench } from "./go.ts"
import { MiB, mibps, natsJsObj, ours, quietly, raw, report, type Result, timed } from "./object-store.ts"

const numberFrom = (name: string, fallback: number) => {
  const value = Number(process.env[name])
  return value > 0 ? value : fallback
}

/** A file of `sizeMiB` random MiB, written a MiB at a time. */
const randomFile = async (file: string, sizeMiB: number) => {
  await writeFile(file, "")
  for (let i = 0; i < sizeMiB; i++) await writeFile(file, randomBytes(MiB), { flag: "a" })
}

const expectFile = async (file: string, sizeMiB: number) => {
  const { size } = await stat(file)
  if (size !== sizeMiB * MiB) throw new Error(`${file} holds ${size} bytes, expected ${sizeMiB * MiB}`)
  await rm(file)
}

type Transfer = { readonly put: Result; readonly get: Result }

/** Our putFile then getFile, the object named `file` in the bucket `files`. */
const oursFiles = (url: string) => {
  // The platform's FileSystem is provided for when the store reads files through it.
  const runtime = ManagedRuntime.make(
    ObjectStore.layer({ bucket: "files" }).pipe(
      Layer.provideMerge(NatsClient.layer({ servers: url })),
      Layer.provideMerge(NodeFileSystem.layer)
    )
  )
  const transfer = async (input: string, output: string, sizeMiB: number): Promise<Transfer> => {
    const put = await timed("nats-effect putFile", sizeMiB, () =>
      runtime.runPromise(ObjectStore.ObjectStore.use((store) => store.putFile("file", input))))
    const get = await timed("nats-effect getFile", sizeMiB, () =>
      runtime.runPromise(ObjectStore.ObjectStore.use((store) => store.getFile("file", output))))
    await expectFile(output, sizeMiB)
    return { put, get }
  }
  return { transfer, dispose: () => runtime.dispose() }
}

const goTimed = async (go: GoObjbench, what: string, sizeMiB: number, args: ReadonlyArray<string>) => {
  const result = await go.run(args)
  if (result.bytes !== sizeMiB * MiB) throw new Error(`${what}: moved ${result.bytes} bytes, expected ${sizeMiB * MiB}`)
  return report({ what, sizeMiB, seconds: result.seconds, cpuMillisPerMiB: result.cpuMillisPerMiB })
}

/** nats.go's PutFile then GetFile (the object is named after the input's path), bucket `gofiles`. */
const goFiles = async (go: GoObjbench, url: string, input: string, output: string, sizeMiB: number) => {
  const common = ["-server", url, "-bucket", "gofiles"]
  const put = await goTimed(go, "nats.go PutFile", sizeMiB, [...common, "-op", "put-file", "-file", input])
  const get = await goTimed(go, "nats.go GetFile", sizeMiB, [...common, "-op", "get-file", "-file", input, "-out", output])
  await expectFile(output, sizeMiB)
  return { put, get }
}

/** nats.go's Put from memory then Get into a discarding writer, bucket `gomem`. */
const goMemory = async (go: GoObjbench, url: string, sizeMiB: number) => {
  const common = ["-server", url, "-bucket", "gomem", "-name", "bench"]
  const put = await goTimed(go, "nats.go Put (memory)", sizeMiB, [...common, "-op", "put", "-mib", String(sizeMiB)])
  const get = await goTimed(go, "nats.go Get (memory)", sizeMiB, [...common, "-op", "get"])
  return { put, get }
}

const contenders = ["putFile", "nats.go file", "put", "nats.go memory", "obj-native", "raw"] as const
type Contender = typeof contenders[number]
const labels: Record<Contender, Record<"put" | "get", string>> = {
  putFile: { put: "putFile", get: "getFile" },
  "nats.go file": { put: "nats.go PutFile", get: "nats.go GetFile" },
  put: { put: "put (memory)", get: "get (memory)" },
  "nats.go memory": { put: "nats.go Put (memory)", get: "nats.go Get (memory)" },
  "obj-native": { put: "@nats-io/obj put", get: "@nats-io/obj get" },
  raw: { put: "raw publish", get: "raw consume" }
}
type Round = Record<Contender, Transfer>

const range = (values: ReadonlyArray<number>, digits: number) => {
  const low = Math.min(...values).toFixed(digits)
  const high = Math.max(...values).toFixed(digits)
  return low === high ? low : `${low}-${high}`
}

const summarise = (rounds: ReadonlyArray<Round>) => {
  console.log(`\n  MiB/s over ${rounds.length} rounds (min-max), client CPU ms/MiB (min-max):`)
  for (const op of ["put", "get"] as const) {
    for (const who of contenders) {
      const results = rounds.map((round) => round[who][op])
      console.log(
        `    ${labels[who][op].padEnd(22)} ${range(results.map(mibps), 0).padStart(9)} MiB/s, CPU ${
          range(results.map((r) => r.cpuMillisPerMiB), 2)
        }`
      )
    }
  }
  const ratio = (op: "put" | "get", a: Contender, b: Contender, target: number | undefined) => {
    const ratios = rounds.map((round) => mibps(round[a][op]) / mibps(round[b][op]))
    const verdict = target === undefined
      ? ""
      : ` (target >= ${target}x: ${ratios.every((r) => r >= target) ? "met" : ratios.some((r) => r >= target) ? "met in some rounds" : "missed"})`
    console.log(`    ${labels[a][op]} / ${labels[b][op]}: ${range(ratios, 2)}x${verdict}`)
  }
  console.log("  ratios within each round (min-max over rounds):")
  ratio("put", "putFile", "nats.go file", 1)
  ratio("get", "putFile", "nats.go file", 1)
  ratio("put", "put", "obj-native", 2)
  ratio("get", "put", "obj-native", 1)
  ratio("put", "put", "raw", 0.85)
  ratio("get", "put", "raw", 0.85)
  ratio("put", "putFile", "put", undefined)
  ratio("get", "putFile", "put", undefined)
}

const deleteBuckets = async (nc: NatsConnection) => {
  const jsm = await jetstreamManager(nc)
  for (const stream of ["OBJ_files", "OBJ_gofiles", "OBJ_gomem"]) await jsm.streams.delete(stream).catch(() => false)
}

export default async function run() {
  const go = await buildObjbench()
  if (typeof go === "string") {
    console.log(`skipped: file transfers against nats.go need nats.go built: ${go}`)
    return
  }
  const sizeMiB = numberFrom("FILES_BENCH_MIB", 256)
  const roundCount = numberFrom("FILES_BENCH_ROUNDS", 3)
  const dir = await mkdtemp(path.join(os.tmpdir(), "files-bench-"))
  const serverRuntime = ManagedRuntime.make(NatsServer.layer())
  try {
    const input = path.join(dir, "input.bin")
    const warmUpInput = path.join(dir, "warm-up.bin")
    await randomFile(input, sizeMiB)
    await randomFile(warmUpInput, 32)
    const server = await serverRuntime.runPromise(NatsServer.NatsServer)
    console.log(`nats-server at ${server.url}, file storage; ${go.versions}; ${sizeMiB} MiB, ${roundCount} rounds`)
    const nc = await connect({ servers: server.url })
    const ourFiles = oursFiles(server.url)
    try {
      const output = (who: string) => path.join(dir, `output-${who}.bin`)
      await quietly(async () => {
        await ourFiles.transfer(warmUpInput, output("ours"), 32)
        await goFiles(go, server.url, warmUpInput, output("go"), 32)
        await ours(server.url, 32)
        await natsJsObj(nc, 32, "native")
        await raw(nc, 32)
      })
      const rounds: Array<Round> = []
      for (let round = 0; round < roundCount; round++) {
        console.log(`\n  round ${round + 1}`)
        // Ours and nats.go take turns at going first.
        const oursFirst = round % 2 === 0
        const pair = async <A, B>(ourSide: () => Promise<A>, goSide: () => Promise<B>): Promise<[A, B]> => {
          if (oursFirst) {
            const a = await ourSide()
            return [a, await goSide()]
          }
          const b = await goSide()
          return [await ourSide(), b]
        }
        const [putFile, goFile] = await pair(
          () => ourFiles.transfer(input, output("ours"), sizeMiB),
          () => goFiles(go, server.url, input, output("go"), sizeMiB)
        )
        const [put, goMem] = await pair(() => ours(server.url, sizeMiB), () => goMemory(go, server.url, sizeMiB))
        const objNative = await natsJsObj(nc, sizeMiB, "native")
        const rawJs = await raw(nc, sizeMiB)
        rounds.push({
          putFile,
          "nats.go file": goFile,
          put,
          "nats.go memory": goMem,
          "obj-native": objNative,
          raw: rawJs
        })
      }
      summarise(rounds)
    } finally {
      await ourFiles.dispose()
      await deleteBuckets(nc)
      await nc.close()
    }
  } finally {
    await serverRuntime.dispose()
    await rm(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
