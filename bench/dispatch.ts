// Dispatch throughput: messages/s through a subscriber decoding a 256-byte
// JSON payload with a Schema, on one nats-server in one run:
//   (a) NatsBroker.subscriber on NatsClient.layer (nats.js), the handler
//       counting and returning Effect.void; the payload a flat event
//   (b) a raw nats.js subscription loop (for await) that JSON.parses it
//   (c) NatsBroker.subscriber on NatsClient.layerMemory(), the messages
//       published through the broker in the same process
// and, beside them: (a') the handler counting in an Effect.sync (the broker
// runs it), (a'')/(b'') a nested payload (an array of three objects, which
// Effect Schema decodes at a higher cost).
// For (a) and (b) the messages come from a nats.js connection in a worker
// thread (flushing every 1,000), so publishing does not share the
// subscriber's thread; the rate is counted from the first message received to
// the last, in wall-clock time and in the subscriber thread's CPU time (which
// the other processes of a shared machine disturb less). Each measurement runs
// once to warm up, then `DISPATCH_RUNS` times; the best run is reported.
//
//
// JetStream dispatch, on one nats-server with JetStream in the same run:
//   (d) a durable NatsBroker JetStream subscriber decoding the flat payload
//       with its Schema and acking after the handler (the default policy),
//       at concurrency 1 and 16
//   (e) a raw nats.js `consume` loop on a durable consumer that JSON.parses
//       each payload and acks it (nats.js's default pull settings)
//   (e') (e) on a consumer with max_ack_pending 1: the bound of a subscriber
//       of concurrency 1 (maxAckPending defaults to its concurrency), which
//       waits for each ack to reach the server before the next message comes
// The stream is filled before the subscriber starts, so that what is
// measured is consuming, not publishing; same counting as above.
//
// `node bench/dispatch.ts` runs it alone; `DISPATCH_MESSAGES`,
// `DISPATCH_JS_MESSAGES` and `DISPATCH_RUNS` override the message counts
// (200,000 core, 50,000 JetStream) and runs (3).
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { NatsBroker, NatsClient } from "@nats-effect/core"
import { NatsServer } from "@nats-effect/testing"
import { Effect, Layer, Schema } from "effect"
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"

const messages = Number(process.env["DISPATCH_MESSAGES"] ?? 200_000)
const jsMessages = Number(process.env["DISPATCH_JS_MESSAGES"] ?? 50_000)
const runs = Number(process.env["DISPATCH_RUNS"] ?? 3)
const size = 256

/** Pads `note` so that the JSON of `value` is `size` bytes. */
const padded = <A extends { note: string }>(value: A): A => {
  value.note = "x".repeat(size - JSON.stringify(value).length)
  return value
}

const OrderPlaced = Schema.Struct({
  id: Schema.String,
  customer: Schema.String,
  sku: Schema.String,
  quantity: Schema.Int,
  price: Schema.Number,
  currency: Schema.String,
  placedAt: Schema.String,
  note: Schema.String
})

const Item = Schema.Struct({ sku: Schema.String, quantity: Schema.Int, price: Schema.Number })
const Order = Schema.Struct({
  id: Schema.String,
  customer: Schema.String,
  items: Schema.Array(Item),
  note: Schema.String
})

type Kind = "flat" | "nested"

interface Payload<A> {
  readonly schema: Schema.Codec<A, any, never, never>
  readonly value: A
  readonly bytes: Uint8Array
}

const payload = <A extends { note: string }>(schema: Schema.Codec<A, any, never, never>, value: A): Payload<A> => {
  const full = padded(value)
  return { schema, value: full, bytes: new TextEncoder().encode(JSON.stringify(full)) }
}

const payloads: { readonly flat: Payload<typeof OrderPlaced.Type>; readonly nested: Payload<typeof Order.Type> } = {
  flat: payload(OrderPlaced, {
    id: "ord-000123",
    customer: "customer-42",
    sku: "sku-1",
    quantity: 3,
    price: 19.5,
    currency: "EUR",
    placedAt: "2026-01-01T12:00:00.000Z",
    note: ""
  }),
  nested: payload(Order, {
    id: "ord-000123",
    customer: "customer-42",
    items: [
      { sku: "sku-1", quantity: 1, price: 9.99 },
      { sku: "sku-2", quantity: 3, price: 19.5 },
      { sku: "sku-3", quantity: 2, price: 4.25 }
    ],
    note: ""
  })
}

// ---------------------------------------------------------------------------
// The publisher, in a worker thread
// ---------------------------------------------------------------------------

interface PublishJob {
  readonly url: string
  readonly subject: string
  readonly count: number
  readonly kind: Kind
}

const publishAll = async ({ count, kind, subject, url }: PublishJob) => {
  const nc = await connect({ servers: url })
  const bytes = payloads[kind].bytes
  for (let i = 0; i < count; i++) {
    nc.publish(subject, bytes)
    if (i % 1000 === 999) await nc.flush()
  }
  await nc.flush()
  await nc.close()
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === "dispatch-publisher") {
  await publishAll(workerData as PublishJob)
  parentPort!.postMessage("done")
}

const publishFromWorker = (job: PublishJob): Promise<void> =>
  new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { ...job, role: "dispatch-publisher" } })
    worker.once("error", reject)
    worker.once("exit", (code) => code === 0 ? resolve() : reject(new Error(`publisher exited with ${code}`)))
  })

// ---------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------

let subjects = 0
const nextSubject = () => `bench.dispatch.${subjects++}`

interface Rate {
  /** Messages per second of wall-clock time. */
  readonly wall: number
  /** Messages per second of the subscriber thread's CPU time. */
  readonly cpu: number
}

/**
 * Counts handled messages from the first to the last: wall-clock time, and
 * the CPU time of this (the subscriber's) thread, which the other processes
 * of a shared machine disturb less. `done` completes at the last one.
 */
const makeCounter = (count: number) => {
  let received = 0
  let first = 0
  let last = 0
  let cpuFirst: NodeJS.CpuUsage = { user: 0, system: 0 }
  let cpu: NodeJS.CpuUsage = { user: 0, system: 0 }
  let resolve: () => void = () => {}
  const done = new Promise<void>((r) => {
    resolve = r
  })
  return {
    done,
    hit: () => {
      if (received === 0) {
        first = performance.now()
        cpuFirst = process.threadCpuUsage()
      }
      if (++received === count) {
        last = performance.now()
        cpu = process.threadCpuUsage(cpuFirst)
        resolve()
      }
    },
    rate: (): Rate => ({
      wall: count / ((last - first) / 1000),
      cpu: count / ((cpu.user + cpu.system) / 1e6)
    })
  }
}

/** (b) A raw nats.js subscription loop that parses each payload. */
const rawNatsJs = async (url: string, kind: Kind): Promise<Rate> => {
  const nc = await connect({ servers: url })
  const subject = nextSubject()
  const counter = makeCounter(messages)
  const sub = nc.subscribe(subject)
  const loop = (async () => {
    for await (const msg of sub) {
      const value = JSON.parse(msg.string()) as { readonly id: string }
      if (value.id.length > 0) counter.hit()
    }
  })()
  await nc.flush()
  await publishFromWorker({ url, subject, count: messages, kind })
  await counter.done
  sub.unsubscribe()
  await loop
  await nc.close()
  return counter.rate()
}

type IdSchema = Schema.Codec<{ readonly id: string }, any, never, never>

/**
 * A subscriber decoding the payload with its Schema, counting. `inEffect`:
 * the handler counts in an `Effect.sync` rather than before returning
 * `Effect.void`, so the broker has to run the handler's Effect.
 */
const countingSubscriber = <A extends { readonly id: string }>(
  subject: string,
  schema: Schema.Codec<A, any, never, never>,
  counter: ReturnType<typeof makeCounter>,
  inEffect: boolean
) =>
  // The whole burst comes faster than any handler takes it: the pending buffer holds all of it, so
  // that what is measured is the rate of dispatch, not of drops.
  NatsBroker.subscriber(subject, { schema, pendingLimits: { messages } }, (decoded) => {
    if (inEffect) return Effect.sync(() => decoded.id.length > 0 && counter.hit())
    if (decoded.id.length > 0) counter.hit()
    return Effect.void
  })

/** (a) NatsBroker.subscriber with a Schema, on nats.js. */
const brokerNatsJs = (url: string, kind: Kind, inEffect = false): Promise<Rate> =>
  Effect.gen(function*() {
    const subject = nextSubject()
    const counter = makeCounter(messages)
    yield* Layer.build(
      countingSubscriber(subject, payloads[kind].schema as IdSchema, counter, inEffect).pipe(
        Layer.provide(NatsBroker.layer),
        Layer.provide(NatsClient.layer({ servers: url }))
      )
    )
    yield* Effect.promise(() => publishFromWorker({ url, subject, count: messages, kind }))
    yield* Effect.promise(() => counter.done)
    return counter.rate()
  }).pipe(Effect.scoped, Effect.runPromise)

/** (c) NatsBroker.subscriber with a Schema on the in-memory NATS, publishing through the broker. */
const brokerMemory = (): Promise<Rate> =>
  Effect.gen(function*() {
    const { schema, value } = payloads.flat
    const subject = nextSubject()
    const counter = makeCounter(messages)
    const context = yield* Layer.build(
      countingSubscriber(subject, schema, counter, false).pipe(
        Layer.provideMerge(NatsBroker.layer),
        Layer.provide(NatsClient.layerMemory())
      )
    )
    const start = performance.now()
    const cpuStart = process.threadCpuUsage()
    yield* Effect.gen(function*() {
      for (let i = 0; i < messages; i++) yield* NatsBroker.publish(subject, value, { schema })
    }).pipe(Effect.provideContext(context))
    yield* Effect.promise(() => counter.done)
    const cpu = process.threadCpuUsage(cpuStart)
    return {
      wall: messages / ((performance.now() - start) / 1000),
      cpu: messages / ((cpu.user + cpu.system) / 1e6)
    }
  }).pipe(Effect.scoped, Effect.runPromise)

// ---------------------------------------------------------------------------
// JetStream
// ---------------------------------------------------------------------------

let streams = 0

/** A new stream on one subject holding `jsMessages` flat payloads; deleted by `release`. */
const filledStream = async (url: string) => {
  const nc = await connect({ servers: url })
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  const name = `BENCH_${streams++}`
  const subject = `bench.js.${name}`
  await jsm.streams.add({ name, subjects: [subject] })
  const bytes = payloads.flat.bytes
  for (let sent = 0; sent < jsMessages; sent += 1000) {
    const acks: Array<Promise<unknown>> = []
    for (let i = sent; i < Math.min(sent + 1000, jsMessages); i++) acks.push(js.publish(subject, bytes))
    await Promise.all(acks)
  }
  return {
    name,
    subject,
    release: async () => {
      await jsm.streams.delete(name)
      await nc.close()
    }
  }
}

/** (d) A durable NatsBroker JetStream subscriber with a Schema, acking after the handler. */
const brokerJetStream = async (url: string, concurrency: number): Promise<Rate> => {
  const stream = await filledStream(url)
  const rate = await Effect.gen(function*() {
    const counter = makeCounter(jsMessages)
    yield* Layer.build(
      NatsBroker.subscriber(
        stream.subject,
        { stream: stream.name, durable: "bench", schema: payloads.flat.schema, concurrency },
        (decoded) => {
          if (decoded.id.length > 0) counter.hit()
          return Effect.void
        }
      ).pipe(Layer.provide(NatsBroker.layer), Layer.provide(NatsClient.layer({ servers: url })))
    )
    yield* Effect.promise(() => counter.done)
    return counter.rate()
  }).pipe(Effect.scoped, Effect.runPromise)
  await stream.release()
  return rate
}

/**
 * (e) A raw nats.js `consume` loop on a durable consumer that parses and acks
 * each message; (e') with the server's `max_ack_pending` given.
 */
const rawJetStream = async (url: string, maxAckPending?: number): Promise<Rate> => {
  const stream = await filledStream(url)
  const nc = await connect({ servers: url })
  const jsm = await jetstreamManager(nc)
  await jsm.consumers.add(stream.name, {
    durable_name: "bench",
    ack_policy: AckPolicy.Explicit,
    ...(maxAckPending === undefined ? {} : { max_ack_pending: maxAckPending })
  })
  const consumer = await jetstream(nc).consumers.get(stream.name, "bench")
  const counter = makeCounter(jsMessages)
  const messages = await consumer.consume()
  let received = 0
  for await (const msg of messages) {
    const value = JSON.parse(msg.string()) as { readonly id: string }
    msg.ack()
    if (value.id.length > 0) counter.hit()
    if (++received === jsMessages) break
  }
  await counter.done
  await nc.flush()
  await nc.close()
  await stream.release()
  return counter.rate()
}

const best = (rates: ReadonlyArray<Rate>): Rate => ({
  wall: Math.max(...rates.map((rate) => rate.wall)),
  cpu: Math.max(...rates.map((rate) => rate.cpu))
})

const format = (rate: number) => `${Math.round(rate).toLocaleString("en-US")} msg/s`.padStart(15)
const line = (label: string, rate: Rate, note = "") =>
  console.log(`${label.padEnd(48)} ${format(rate.wall)}   ${format(rate.cpu)} of CPU${note}`)
const ratio = (label: string, a: Rate, b: Rate, note = "") =>
  console.log(
    `${label.padEnd(48)} ${(a.wall / b.wall).toFixed(2).padStart(15)}   ${(a.cpu / b.cpu).toFixed(2).padStart(15)}` +
      ` of CPU${note}`
  )

export default async function run(): Promise<void> {
  console.log(
    `${messages.toLocaleString("en-US")} messages of ${size} bytes (JSON), best of ${runs} runs; ` +
      `msg/s of wall-clock time, then per second of the subscriber thread's CPU time`
  )
  await Effect.gen(function*() {
    const { url } = yield* NatsServer.NatsServer
    const variants = {
      a: () => brokerNatsJs(url, "flat"),
      b: () => rawNatsJs(url, "flat"),
      aEffect: () => brokerNatsJs(url, "flat", true),
      aNested: () => brokerNatsJs(url, "nested"),
      bNested: () => rawNatsJs(url, "nested")
    }
    const results: Record<keyof typeof variants, Array<Rate>> = { a: [], b: [], aEffect: [], aNested: [], bNested: [] }
    // A warm-up round, then rounds in which the variants alternate, so that noise hits them alike.
    for (let round = 0; round <= runs; round++) {
      for (const name of Object.keys(variants) as Array<keyof typeof variants>) {
        const rate = yield* Effect.promise(variants[name])
        if (round > 0) results[name].push(rate)
      }
    }
    const a = best(results.a)
    const b = best(results.b)
    line("(a) NatsBroker.subscriber + Schema, nats.js", a)
    line("(b) raw nats.js loop + JSON.parse", b)
    ratio("(a)/(b)", a, b, "   (target >= 0.70)")
    line("(a') (a) with the handler in an Effect.sync", best(results.aEffect))
    ratio("(a')/(b)", best(results.aEffect), b)
    line("(a'') (a) with a nested payload", best(results.aNested))
    line("(b'') (b) with a nested payload", best(results.bNested))
    ratio("(a'')/(b'')", best(results.aNested), best(results.bNested))
  }).pipe(Effect.provide(NatsServer.layer({ jetstream: false })), Effect.runPromise)

  console.log(
    `\nJetStream: ${jsMessages.toLocaleString("en-US")} stored messages of ${size} bytes, durable consumer, ` +
      `ack after each; best of ${runs} runs`
  )
  await Effect.gen(function*() {
    const { url } = yield* NatsServer.NatsServer
    const variants = {
      d1: () => brokerJetStream(url, 1),
      d16: () => brokerJetStream(url, 16),
      e: () => rawJetStream(url),
      e1: () => rawJetStream(url, 1)
    }
    const results: Record<keyof typeof variants, Array<Rate>> = { d1: [], d16: [], e: [], e1: [] }
    for (let round = 0; round <= runs; round++) {
      for (const name of Object.keys(variants) as Array<keyof typeof variants>) {
        const rate = yield* Effect.promise(variants[name])
        if (round > 0) results[name].push(rate)
      }
    }
    const e = best(results.e)
    line("(d) NatsBroker JetStream subscriber, concurrency 1", best(results.d1))
    line("(d) NatsBroker JetStream subscriber, concurrency 16", best(results.d16))
    line("(e) raw nats.js consume loop + JSON.parse + ack", e)
    ratio("(d, concurrency 1)/(e)", best(results.d1), e, "   (target >= 0.70)")
    ratio("(d, concurrency 16)/(e)", best(results.d16), e, "   (target >= 0.70)")
    line("(e') (e) with max_ack_pending 1", best(results.e1))
    ratio("(d, concurrency 1)/(e')", best(results.d1), best(results.e1))
  }).pipe(Effect.provide(NatsServer.layer({ jetstream: true })), Effect.runPromise)

  await brokerMemory()
  const memory: Array<Rate> = []
  for (let i = 0; i < runs; i++) memory.push(await brokerMemory())
  line("(c) NatsBroker.subscriber + Schema, memory", best(memory), "   (target >= 200,000)")
}

if (isMainThread && import.meta.main) await run()
