/**
 * The real binary against a real nats-server from the harness: in a terminal
 * (`script` gives it a pty), where the progress bar is read from what the
 * terminal received, and as scripts run it, by its output and exit code.
 */
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { NatsServer } from "@nats-effect/testing"
import { Context, Effect, Exit, Layer, Stream } from "effect"
import { Prices } from "./fixtures/prices.ts"
import { runCli } from "./runCli.ts"

const bin = Path.join(import.meta.dirname, "..", "src", "bin.ts")

interface Ran {
  readonly code: number | null
  readonly output: string
}

/** Runs `command` to completion with `env` added; stdout and stderr together. */
const run = (command: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.callback<Ran>((resume) => {
    const child = ChildProcess.execFile(
      command,
      args,
      { env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (_, stdout, stderr) => resume(Effect.succeed({ code: child.exitCode, output: `${stdout}${stderr}` }))
    )
  })

/** The binary in a pseudo-terminal: `script` runs it and copies what the terminal shows. */
const inTerminal = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  run("script", ["-q", "-e", "-c", [process.execPath, bin, ...args].join(" "), "/dev/null"], env)

/** The bar's frames: what was drawn between carriage returns, with a percentage. */
const frames = (output: string) =>
  output.split("\r").filter((frame) => /\d+% /.test(frame)).map((frame) => frame.replace("\x1b[K", ""))

const percentOf = (frame: string) => Number(/(\d+)% /.exec(frame)![1])

const temp = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "nats-effect-bin-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

describe("nats-effect docs, the binary", () => {
  it.effect("docs gen loads a TypeScript app module as Node strips its types", () =>
    Effect.gen(function*() {
      const app = Path.join(import.meta.dirname, "fixtures", "shop", "app.ts")
      const ran = yield* run(process.execPath, [bin, "docs", "gen", app])
      assert.strictEqual(ran.code, 0, ran.output)
      const document = JSON.parse(ran.output)
      assert.deepStrictEqual(document.info, { title: "shop", version: "1.2.0" })
      assert.includeMembers(Object.values(document.channels).map((channel: any) => channel.address), ["orders.{region}"])
    }))
})

for (const server of NatsServer.matrix()) describe(`nats-effect, the binary (nats-server ${server.version})`, () => {
  layer(NatsServer.layer({ bin: server.bin }), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("draws the progress bar of a put and a get in a terminal", () =>
      Effect.gen(function*() {
        const server = yield* NatsServer.NatsServer
        const dir = yield* temp
        const file = Path.join(dir, "big.bin")
        // Large enough for the transfer to take a few hundred milliseconds: several frames.
        Fs.writeFileSync(file, Crypto.randomBytes(48 * 1024 * 1024))

        // The server from NATS_URL, as NatsClient.layerConfig reads it.
        const put = yield* inTerminal(["object", "put", "films", file], { NATS_URL: server.url })
        assert.strictEqual(put.code, 0, put.output)
        const drawn = frames(put.output)
        assert.isAtLeast(drawn.length, 2, put.output)
        for (const frame of drawn) {
          assert.match(frame, /^big\.bin \[[#-]{20}\] +\d+% [\d.]+ (B|KiB|MiB) \/ 48\.0 MiB [\d.-]+ MiB\/s (\d+:\d\d|--:--) left$/)
        }
        const percents = drawn.map(percentOf)
        assert.deepStrictEqual(percents, [...percents].sort((a, b) => a - b))
        assert.match(put.output, /put big\.bin \(films\): 48\.0 MiB in 384 chunks, SHA-256=[\w-]+=*, [\d.]+ s, [\d.]+ MiB\/s/)

        // The server from --server, after the command's name.
        const copy = Path.join(dir, "copy.bin")
        const get = yield* inTerminal(["object", "get", "films", "big.bin", copy, "--server", server.url])
        assert.strictEqual(get.code, 0, get.output)
        assert.isAtLeast(frames(get.output).length, 1, get.output)
        assert.match(get.output, /got big\.bin \(films\): 48\.0 MiB in 384 chunks/)
        assert.isTrue(Fs.readFileSync(copy).equals(Fs.readFileSync(file)))
      }).pipe(Effect.scoped))

    it.effect("req and pub --header as a script runs them; stream and consumer ls and info", () =>
      Effect.gen(function*() {
        const server = yield* NatsServer.NatsServer
        const cli = (...args: ReadonlyArray<string>) => run(process.execPath, [bin, ...args, "--server", server.url])
        // The app the commands talk to, and a client of the test's own.
        const app = yield* Layer.build(Layer.provideMerge(Prices, NatsClient.layer({ servers: server.url })))
        const client = Context.get(app, NatsClient.NatsClient)

        // A text payload reaches the Schema.String handler; its error reply is one line and exit code 1.
        const price = yield* cli("req", "prices.get", "ACME")
        assert.deepStrictEqual([price.code, price.output], [0, "12.5\n"])
        const unknown = yield* cli("req", "prices.get", "NOPE")
        assert.deepStrictEqual([unknown.code, unknown.output], [1, "nats-effect: UnknownSymbol: no price for NOPE\n"])

        const greetings = yield* client.subscribe("greetings")
        const published = yield* cli("pub", "greetings", "hi", "--header", "x-id=7", "--header", "x-id=8")
        assert.strictEqual(published.code, 0, published.output)
        const [greeting] = yield* Stream.runCollect(Stream.take(greetings, 1))
        assert.deepStrictEqual(greeting!.headers, { "x-id": ["7", "8"], "content-type": ["text/plain"] })

        // A consumer with one message delivered and not acknowledged, two to go.
        yield* client.jetstream.streams.add({ name: "ORDERS", subjects: ["orders.>"] })
        for (const id of [1, 2, 3]) yield* client.jetstream.publish("orders.eu", new TextEncoder().encode(`{"id":${id}}`))
        yield* client.jetstream.consumers.add("ORDERS", { name: "billing", maxAckPending: 1 })
        yield* client.jetstream.consumers.consume("ORDERS", "billing").pipe(Stream.take(1), Stream.runDrain)

        // In the process (a binary's start-up is seconds on a busy machine): the same commands on nats.js.
        const inProcess = (...args: ReadonlyArray<string>) =>
          Effect.map(runCli(args).pipe(Effect.provideService(NatsClient.NatsClient, client)), (ran) => {
            assert.isTrue(Exit.isSuccess(ran.exit), ran.stderr)
            return ran.output
          })
        assert.match(yield* inProcess("stream", "ls"), /^ORDERS\t3 messages\t\d+ B\t1 consumer\torders\.>$/m)
        const stream = JSON.parse(yield* inProcess("stream", "info", "ORDERS", "--json"))
        assert.deepInclude(stream, { name: "ORDERS", messages: 3, lastSeq: 3, consumers: 1 })
        assert.strictEqual(yield* inProcess("consumer", "ls", "ORDERS"), "billing\t2 pending\t1 ack pending\t0 redelivered\n")
        const consumer = yield* inProcess("consumer", "info", "ORDERS", "billing")
        assert.includeMembers(consumer.split("\n"), ["name: billing", "pending: 2", "ackPending: 1", "maxAckPending: 1"])
      }).pipe(Effect.scoped))

    it.effect("a failure is one line on stderr and exit code 1", () =>
      Effect.gen(function*() {
        const server = yield* NatsServer.NatsServer
        const missing = yield* run(process.execPath, [bin, "object", "info", "nothing", "x", "--server", server.url])
        assert.strictEqual(missing.code, 1)
        assert.strictEqual(missing.output, "nats-effect: BucketNotFound: no object store bucket nothing\n")
      }))
  })

  layer(NatsServer.layer({ bin: server.bin, args: ["--user", "ada", "--pass", "s3cret"] }), { excludeTestServices: true, timeout: "60 seconds" })(
    (it) => {
      it.effect("the credential flags stand in for NATS_USER and NATS_PASSWORD, and win over them", () =>
        Effect.gen(function*() {
          const server = yield* NatsServer.NatsServer
          const refused = yield* run(process.execPath, [bin, "pub", "greetings", "hi", "--server", server.url])
          assert.strictEqual(refused.code, 1)
          assert.match(refused.output, /^nats-effect: AuthenticationError: [^\n]*\n$/)

          const flags = yield* run(process.execPath, [
            bin, "pub", "greetings", "hi", "--json", "--server", server.url, "--user", "ada", "--password", "s3cret"
          ])
          assert.strictEqual(flags.code, 0, flags.output)
          assert.deepStrictEqual(JSON.parse(flags.output), { subject: "greetings", count: 1, bytes: 2 })

          const environment = { NATS_URL: server.url, NATS_USER: "ada", NATS_PASSWORD: "s3cret" }
          const fromEnvironment = yield* run(process.execPath, [bin, "pub", "greetings", "hi"], environment)
          assert.strictEqual(fromEnvironment.code, 0, fromEnvironment.output)
          const overridden = yield* run(process.execPath, [bin, "pub", "greetings", "hi", "--password", "wrong"], environment)
          assert.strictEqual(overridden.code, 1)
        }))
    }
  )
})
