// Memory of the object store: the peak RSS growth of one operation over the
// RSS before it, each operation in a process of its own (started by
// `object-store.ts` with NATS_URL set) so that one's high-water mark does not
// hide the next one's. `node object-store-rss.ts <phase>`:
// - cold:     put then get 1 GiB in a process with no warm-up, both against
//             the RSS once connected (what a one-shot upload or download costs);
// - obj-cold: the same with @nats-io/obj (native SHA-256);
// - put:      put 1 GiB (source generated lazily), then (not measured) the
//             object the slow readers read;
// - get:      get the 1 GiB object (sink discarding);
// - slow:     get with a reader that spends 5 ms per chunk;
// - obj-slow: the same with @nats-io/obj's get;
// - floor:    no NATS at all: a fresh 128 KiB buffer per chunk of 1 GiB,
//             filled, hashed and dropped at once, in a cold process. What
//             any client that allocates a buffer per chunk pays before it
//             sends a byte: V8 frees such buffers only at its collections.
// All but the cold phases warm up first (16 MiB put and get), so their
// baseline includes the code and the connection's buffers.
// The bucket `rss` (with every object the phases put) is left for the next
// phase; the caller deletes it.
import { Objm, setSha256Backend } from "@nats-io/obj"
import { connect } from "@nats-io/transport-node"
import { NatsClient } from "@nats-effect/core"
import { ObjectStore } from "@nats-effect/object-store"
import { Effect, Layer, ManagedRuntime, Stream } from "effect"
import { createHash } from "node:crypto"

const MiB = 1024 * 1024
const url = process.env["NATS_URL"]
if (url === undefined) throw new Error("object-store-rss: set NATS_URL")
const bigMiB = Number(process.env["OBJ_RSS_MIB"] ?? 1024)
const slowMiB = Number(process.env["OBJ_RSS_SLOW_MIB"] ?? 128)
const slowMillisPerChunk = 5

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

/**
 * Runs `work` and reports the highest RSS above `baseline` (by default the
 * memory after a collection, just before), sampled every 5 ms, and how much
 * of that growth was V8's heap and ArrayBuffers (chunks) at the peak.
 */
const peakGrowth = async (
  what: string,
  work: () => Promise<unknown>,
  baseline: NodeJS.MemoryUsage = (gc(), process.memoryUsage())
) => {
  let peak = baseline
  const sample = () => {
    const now = process.memoryUsage()
    if (now.rss > peak.rss) peak = now
  }
  const sampler = setInterval(sample, 5)
  const start = performance.now()
  try {
    await work()
  } finally {
    clearInterval(sampler)
  }
  sample()
  const seconds = (performance.now() - start) / 1000
  const growth = (field: "rss" | "heapTotal" | "arrayBuffers") => ((peak[field] - baseline[field]) / MiB).toFixed(1)
  console.log(
    `  ${what.padEnd(48)} peak RSS +${growth("rss").padStart(5)} MiB over ${(baseline.rss / MiB).toFixed(0)} MiB (${
      seconds.toFixed(1)
    } s); at the peak V8 heap +${growth("heapTotal")}, ArrayBuffers +${growth("arrayBuffers")} MiB`
  )
}

const freshPiece = (i: number) => Buffer.allocUnsafe(MiB).fill(i & 0xff)

/** Fresh 1 MiB pieces, made as they are pulled. */
const source = (sizeMiB: number) => Stream.range(1, sizeMiB, 1).pipe(Stream.map(freshPiece))

/** `source` as the ReadableStream @nats-io/obj puts from. */
const readableSource = (sizeMiB: number) => {
  let made = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (made === sizeMiB) controller.close()
      else controller.enqueue(freshPiece(++made))
    }
  })
}

const drain = async (data: ReadableStream<Uint8Array>) => {
  const reader = data.getReader()
  while (!(await reader.read()).done) { /* discarded */ }
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const runtime = ManagedRuntime.make(
  ObjectStore.layer({ bucket: "rss" }).pipe(Layer.provideMerge(NatsClient.layer({ servers: url })))
)
const store = await runtime.runPromise(ObjectStore.ObjectStore)
const run = <A, E>(effect: Effect.Effect<A, E>) => runtime.runPromise(effect)

const phase = process.argv[2]
if (phase !== "cold" && phase !== "obj-cold" && phase !== "floor") {
  await run(store.put("warm-up", source(16)))
  await run(Stream.runDrain(store.get("warm-up")))
}

switch (phase) {
  case "cold": {
    const connected = process.memoryUsage()
    await peakGrowth(`nats-effect put ${bigMiB} MiB, cold`, () => run(store.put("cold", source(bigMiB))), connected)
    await peakGrowth(`nats-effect then get ${bigMiB} MiB, cold`, () => run(Stream.runDrain(store.get("cold"))), connected)
    break
  }
  case "obj-cold": {
    setSha256Backend("native")
    const nc = await connect({ servers: url })
    const theirs = await new Objm(nc).open("rss")
    const connected = process.memoryUsage()
    await peakGrowth(
      `@nats-io/obj put ${bigMiB} MiB, cold`,
      () => theirs.put({ name: "obj-cold" }, readableSource(bigMiB)),
      connected
    )
    await peakGrowth(`@nats-io/obj then get ${bigMiB} MiB, cold`, async () => {
      const result = await theirs.get("obj-cold")
      if (result === null) throw new Error("@nats-io/obj: object not found")
      await drain(result.data)
      const error = await result.error
      if (error) throw error
    }, connected)
    await nc.close()
    break
  }
  case "put":
    await peakGrowth(`nats-effect put ${bigMiB} MiB`, () => run(store.put("big", source(bigMiB))))
    await run(store.put("slow", source(slowMiB)))
    break
  case "get":
    await peakGrowth(`nats-effect get ${bigMiB} MiB`, () =>
      run(Stream.runFold(store.get("big"), () => 0, (n, bytes) => n + bytes.length)))
    break
  case "slow":
    await peakGrowth(`nats-effect get ${slowMiB} MiB, reader 5 ms/chunk`, () =>
      run(Stream.runForEach(store.get("slow"), () => Effect.promise(() => sleep(slowMillisPerChunk)))))
    break
  case "obj-slow": {
    setSha256Backend("native")
    const nc = await connect({ servers: url })
    const theirs = await new Objm(nc).open("rss")
    await peakGrowth(`@nats-io/obj get ${slowMiB} MiB, reader 5 ms/chunk`, async () => {
      const result = await theirs.get("slow")
      if (result === null) throw new Error("@nats-io/obj: object not found")
      const reader = result.data.getReader()
      while (!(await reader.read()).done) await sleep(slowMillisPerChunk)
    })
    await nc.close()
    break
  }
  case "floor": {
    const chunk = 128 * 1024
    await peakGrowth(`a buffer per 128 KiB chunk of ${bigMiB} MiB, cold`, async () => {
      const hash = createHash("sha256")
      for (let i = 0; i < (bigMiB * MiB) / chunk; i++) {
        hash.update(Buffer.allocUnsafe(chunk).fill(i & 0xff))
        // Let the sampler and the collector's tasks run, as a transfer's IO would.
        if (i % 64 === 63) await new Promise((resolve) => setImmediate(resolve))
      }
      hash.digest()
    }, process.memoryUsage())
    break
  }
  default:
    throw new Error(`object-store-rss: unknown phase ${phase}`)
}
await runtime.dispose()
