/**
 * The nats.js adapter against a real nats-server: connecting, failing fast,
 * credentials, configuration, reconnecting across a server restart, and what
 * depends on the server's version.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { NatsClient, type NatsError } from "@nats-effect/core"
import { NatsServer } from "@nats-effect/testing"
import { deadPort, recordingLogs } from "../src/internal/fixtures.ts"
import { nkeys } from "@nats-io/nats-core"
import { Cause, Config, ConfigProvider, Context, Effect, Exit, Fiber, Layer, Logger, Option, Queue, Redacted, Scope, Stream } from "effect"

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (data: Uint8Array) => new TextDecoder().decode(data)

const failure = <A, R>(effect: Effect.Effect<A, NatsError.NatsError, R>) =>
  Effect.map(Effect.flip(effect), (error) => error.reason)

/** Connects a client in the current scope. */
const connect = (options: NatsClient.NatsClientOptions) =>
  Effect.map(Layer.build(NatsClient.layer(options)), Context.get(NatsClient.NatsClient))

/** A temporary directory, removed with the scope. */
const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

for (const binary of NatsServer.matrix()) describe(`NatsClient.layer (nats.js) (nats-server ${binary.version})`, () => {
  const startServer = (options: NatsServer.NatsServerOptions = {}) =>
    Effect.map(Layer.build(NatsServer.layer({ bin: binary.bin, ...options })), Context.get(NatsServer.NatsServer))

  layer(NatsServer.layer({ bin: binary.bin }), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("connects, reports the server, and drains on release", () =>
      Effect.gen(function*() {
        const server = yield* NatsServer.NatsServer
        const observer = yield* connect({ servers: server.url })
        const subject = "drained"
        const received = yield* observer.subscribe(subject)

        const scope = yield* Scope.make()
        const publisher = yield* Layer.buildWithScope(NatsClient.layer({ servers: server.url, name: "publisher" }), scope)
          .pipe(Effect.map(Context.get(NatsClient.NatsClient)))
        assert.strictEqual(publisher.adapter, "nats.js")
        assert.strictEqual(publisher.server.maxPayload, 1024 * 1024)
        assert.isTrue(publisher.server.jetstream)
        assert.match(publisher.server.version, /^\d+\.\d+\.\d+/)
        assert.isTrue(publisher.server.serverId.length > 0)

        const count = 500
        for (let i = 0; i < count; i++) yield* publisher.publish(subject, bytes(String(i)))
        // Closing drains: everything published before is delivered.
        yield* Scope.close(scope, Exit.void)
        const messages = yield* Stream.runCollect(Stream.take(received, count))
        assert.deepStrictEqual(messages.map((m) => Number(text(m.data))), Array.from({ length: count }, (_, i) => i))

        const closed = yield* failure(publisher.publish(subject, bytes("late")))
        assert.strictEqual(closed._tag, "ConnectionError")
      }))

    it.effect("ends a subscription's Stream when its scope closes", () =>
      Effect.gen(function*() {
        const server = yield* NatsServer.NatsServer
        const nats = yield* connect({ servers: server.url })
        const scope = yield* Scope.make()
        const messages = yield* Scope.provide(nats.subscribe("scoped"), scope)
        yield* nats.publish("scoped", bytes("1"))
        const reader = yield* Effect.forkChild(Stream.runCollect(messages))
        yield* nats.flush
        yield* Scope.close(scope, Exit.void)
        const read = yield* Fiber.await(reader)
        assert.isTrue(Exit.isSuccess(read))
      }))

    it.effect("refuses stream metadata, compression and several filters with FeatureNotSupported before 2.10", () =>
      Effect.gen(function*() {
        const server = yield* NatsServer.NatsServer
        const nats = yield* connect({ servers: server.url })
        const [major = 0, minor = 0] = nats.server.version.split(".").map(Number)
        const before210 = major === 2 && minor < 10
        const name = "VERSIONED"
        const added = yield* Effect.result(
          nats.jetstream.streams.add({ name, subjects: ["versioned.>"], metadata: { owner: "tests" } })
        )
        const ordered = yield* Effect.result(
          Stream.runCollect(
            nats.jetstream.ordered(name, { filterSubjects: ["versioned.a", "versioned.b"], untilCaughtUp: true })
          )
        )
        if (before210) {
          const refused = (reason: NatsError.NatsErrorReason, feature: string) => {
            assert.strictEqual(reason._tag, "FeatureNotSupported", reason.message)
            assert.deepInclude(reason, { feature, requiredVersion: "2.10.0", serverVersion: nats.server.version })
          }
          assert.isTrue(added._tag === "Failure")
          if (added._tag === "Failure") refused(added.failure.reason, "stream metadata")
          refused(
            yield* failure(nats.jetstream.streams.add({ name, subjects: ["versioned.>"], compression: "s2" })),
            "stream compression"
          )
          yield* nats.jetstream.streams.add({ name, subjects: ["versioned.>"] })
          assert.isTrue(ordered._tag === "Failure")
          refused(
            yield* failure(
              Stream.runCollect(nats.jetstream.ordered(name, { filterSubjects: ["versioned.a", "versioned.b"] }))
            ),
            "several filter subjects"
          )
        } else {
          assert.isTrue(added._tag === "Success")
          const info = yield* nats.jetstream.streams.info(name)
          assert.deepStrictEqual(info.config.metadata, { owner: "tests" })
          assert.isTrue(ordered._tag === "Success")
        }
        yield* nats.jetstream.streams.delete(name)
      }))
  })

  it.live("fails fast with ConnectionError when nothing listens", () =>
    Effect.gen(function*() {
      const port = yield* deadPort
      const started = Date.now()
      const reason = yield* failure(connect({ servers: `nats://127.0.0.1:${port}` }))
      assert.strictEqual(reason._tag, "ConnectionError")
      assert.strictEqual(reason.message, `cannot connect to NATS at nats://127.0.0.1:${port}: connection refused`)
      assert.isBelow(Date.now() - started, 10_000)
    }))

  it.live("keeps the user info of a server URL out of its errors", () =>
    Effect.gen(function*() {
      const port = yield* deadPort
      const reason = yield* failure(connect({ servers: [`nats://u:s3cret@127.0.0.1:${port}`, `127.0.0.1:${port}`] }))
      assert.strictEqual(
        reason.message,
        `cannot connect to NATS at nats://127.0.0.1:${port},127.0.0.1:${port}: connection refused`
      )
    }))

  it.live("says when JetStream is off on the server it connected to", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ jetstream: false })
      const [nats, lines] = yield* recordingLogs(connect({ servers: server.url }))
      assert.deepStrictEqual(lines.map((line) => line.message), [
        `connected to NATS at ${server.url} (nats-server ${nats.server.version}, JetStream off)`
      ])
    }))

  it.live("fails fast with AuthenticationError on wrong credentials, connects with the right ones", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ args: ["--user", "u", "--pass", "p"] })
      const started = Date.now()
      const wrong = yield* failure(connect({ servers: server.url, user: "u", pass: Redacted.make("wrong") }))
      assert.strictEqual(wrong._tag, "AuthenticationError")
      const missing = yield* failure(connect({ servers: server.url }))
      assert.strictEqual(missing._tag, "AuthenticationError")
      assert.isBelow(Date.now() - started, 10_000)

      const nats = yield* connect({ servers: server.url, user: "u", pass: Redacted.make("p") })
      yield* nats.flush
    }))

  it.live("fails a subscription the server's permissions deny with AuthorizationError", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("nats-effect-permissions-")
      const config = Path.join(dir, "server.conf")
      Fs.writeFileSync(
        config,
        `authorization { users = [ { user: "u", password: "p", permissions: { subscribe: { deny: ["secret.>"] } } } ] }\n`
      )
      const server = yield* startServer({ args: ["-c", config] })
      const nats = yield* connect({ servers: server.url, user: "u", pass: Redacted.make("p") })
      // Refused when subscribing, not later on the messages' Stream.
      const error = yield* Effect.flip(nats.subscribe("secret.plans"))
      assert.strictEqual(error.reason._tag, "AuthorizationError", error.message)
      assert.strictEqual((error.reason as NatsError.AuthorizationError).subject, "secret.plans")
      assert.isFalse(error.isRetryable)
      // The connection is fine: what is allowed still works.
      const allowed = yield* nats.subscribe("public.news")
      yield* nats.publish("public.news", bytes("hello"))
      const [received] = yield* Stream.runCollect(Stream.take(allowed, 1))
      assert.strictEqual(text(received!.data), "hello")
    }))

  it.live("authenticates with a token", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ args: ["--auth", "s3cret"] })
      const wrong = yield* failure(connect({ servers: server.url, token: Redacted.make("nope") }))
      assert.strictEqual(wrong._tag, "AuthenticationError")
      const nats = yield* connect({ servers: server.url, token: Redacted.make("s3cret") })
      yield* nats.flush
    }))

  it.live("authenticates with an nkey seed; an unreadable creds file is an AuthenticationError", () =>
    Effect.gen(function*() {
      const user = nkeys.createUser()
      const dir = yield* tempDir("nats-effect-nkey-")
      const config = Path.join(dir, "server.conf")
      Fs.writeFileSync(config, `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }\n`)
      const server = yield* startServer({ args: ["-c", config] })

      const seed = Redacted.make(new TextDecoder().decode(user.getSeed()))
      const nats = yield* connect({ servers: server.url, nkeySeed: seed })
      yield* nats.flush
      const other = Redacted.make(new TextDecoder().decode(nkeys.createUser().getSeed()))
      const rejected = yield* failure(connect({ servers: server.url, nkeySeed: other }))
      assert.strictEqual(rejected._tag, "AuthenticationError")

      const unreadable = yield* failure(connect({ servers: server.url, credsFile: Path.join(dir, "missing.creds") }))
      assert.strictEqual(unreadable._tag, "AuthenticationError")
      assert.include(unreadable.message, "missing.creds")
    }))

  it.live("connects over mutual TLS with a CA, a client certificate and its key", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("nats-effect-tls-")
      const file = (name: string) => Path.join(dir, name)
      const openssl = (...args: Array<string>) => ChildProcess.execFileSync("openssl", args, { stdio: "pipe" })
      openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
        "-keyout", file("ca-key.pem"), "-out", file("ca.pem"))
      const signed = (name: string, extension: string) => {
        Fs.writeFileSync(file(`${name}.ext`), extension)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`,
          "-keyout", file(`${name}-key.pem`), "-out", file(`${name}.csr`))
        openssl("x509", "-req", "-in", file(`${name}.csr`), "-CA", file("ca.pem"), "-CAkey", file("ca-key.pem"),
          "-CAcreateserial", "-days", "1", "-extfile", file(`${name}.ext`), "-out", file(`${name}.pem`))
      }
      signed("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
      signed("client", "extendedKeyUsage=clientAuth\n")
      const server = yield* startServer({
        args: ["--tls", "--tlscert", file("server.pem"), "--tlskey", file("server-key.pem"),
          "--tlscacert", file("ca.pem"), "--tlsverify"]
      })

      const nats = yield* connect({
        servers: server.url,
        tls: { caFile: file("ca.pem"), certFile: file("client.pem"), keyFile: file("client-key.pem") }
      })
      const messages = yield* nats.subscribe("tls.hello")
      yield* nats.publish("tls.hello", bytes("over TLS"))
      const [received] = yield* Stream.runCollect(Stream.take(messages, 1))
      assert.strictEqual(text(received!.data), "over TLS")

      // The server verifies clients: without a certificate the handshake never
      // completes, and the connect fails at its timeout.
      const refused = yield* failure(connect({ servers: server.url, timeout: "1 second", tls: { caFile: file("ca.pem") } }))
      assert.strictEqual(refused._tag, "ConnectionError")
    }))

  it.live("layerConfig reads NATS_URL (a comma-separated list) and the credentials", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ args: ["--user", "u", "--pass", "p"] })
      const port = yield* deadPort
      const withConfig = (config: Record<string, string>) =>
        Layer.build(
          NatsClient.layerConfig().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(config))))
        ).pipe(Effect.map(Context.get(NatsClient.NatsClient)))

      const [nats, lines] = yield* recordingLogs(withConfig({
        NATS_URL: `nats://127.0.0.1:${port}, ${server.url}`,
        NATS_USER: "u",
        NATS_PASSWORD: "p"
      }))
      yield* nats.flush
      assert.isTrue(nats.server.jetstream)
      // The server it connected to, not the first of the list.
      assert.deepStrictEqual(lines.map((line) => line.message), [
        `connected to NATS at ${server.url} (nats-server ${nats.server.version}, JetStream on)`
      ])

      const rejected = yield* Effect.flip(withConfig({ NATS_URL: server.url, NATS_USER: "u", NATS_PASSWORD: "x" }))
      assert.isTrue(rejected._tag === "NatsError" && rejected.reason._tag === "AuthenticationError")
    }))

  it.live("takes credentials out of NATS_URL, connects with them, and never prints them", () =>
    Effect.gen(function*() {
      const secret = "s3cr3t-Pa55"
      const server = yield* startServer({ args: ["--user", "u", "--pass", secret] })
      const hostPort = server.url.slice("nats://".length)
      const output: Array<string> = []
      const logs = yield* Queue.unbounded<string>()
      const capture = Logger.map(Logger.formatJson, (line) => {
        output.push(line)
        Queue.offerUnsafe(logs, line)
      })
      const fromEnv = (url: string) =>
        Layer.build(
          NatsClient.layerConfig({ servers: Config.succeed([url]), reconnectTimeWait: Config.succeed("50 millis") }).pipe(
            Layer.provide(Logger.layer([capture]))
          )
        ).pipe(Effect.map(Context.get(NatsClient.NatsClient)))

      // The right credentials connect; the connection's logs show the server without them.
      const nats = yield* fromEnv(`nats://u:${secret}@${hostPort}`)
      yield* nats.flush
      yield* server.restart
      yield* Stream.fromQueue(logs).pipe(Stream.takeUntil((line) => line.includes("NATS reconnected")), Stream.runDrain)
      yield* nats.flush
      assert.isTrue(output.some((line) => line.includes(hostPort)), output.join("\n"))

      // Wrong ones fail fast, and the error shows the server without them.
      const wrongSecret = "n0t-the-Pa55"
      const started = Date.now()
      const rejected = yield* Effect.flip(fromEnv(`nats://u:${wrongSecret}@${hostPort}`))
      assert.isBelow(Date.now() - started, 5_000)
      if (rejected._tag !== "NatsError") return assert.fail(String(rejected))
      assert.strictEqual(rejected.reason._tag, "AuthenticationError")
      assert.include(rejected.message, hostPort)
      output.push(rejected.message, JSON.stringify(rejected), Cause.pretty(Cause.fail(rejected)), rejected.stack ?? "")

      // A token in the URL.
      const tokenServer = yield* startServer({ args: ["--auth", secret] })
      const tokenHost = tokenServer.url.slice("nats://".length)
      yield* (yield* fromEnv(`nats://${secret}@${tokenHost}`)).flush
      const wrongToken = yield* Effect.flip(fromEnv(`nats://${wrongSecret}@${tokenHost}`))
      assert.isTrue(wrongToken._tag === "NatsError" && wrongToken.reason._tag === "AuthenticationError")
      output.push(wrongToken.message, JSON.stringify(wrongToken), Cause.pretty(Cause.fail(wrongToken)))

      for (const line of output) {
        assert.notInclude(line, secret)
        assert.notInclude(line, wrongSecret)
      }
    }))

  it.live("reconnects across a server restart; JetStream data persists", () =>
    Effect.gen(function*() {
      const logs = yield* Queue.unbounded<string>()
      const capture = Logger.make(({ message }) => {
        Queue.offerUnsafe(logs, (Array.isArray(message) ? message : [message]).map(String).join(" "))
      })
      const context = yield* Layer.build(
        NatsServer.layerClient({ bin: binary.bin }, { reconnectTimeWait: "50 millis" }).pipe(
          Layer.provide(Logger.layer([capture]))
        )
      )
      const server = Context.get(context, NatsServer.NatsServer)
      const nats = Context.get(context, NatsClient.NatsClient)
      const awaitLog = (fragment: string) =>
        Stream.fromQueue(logs).pipe(Stream.takeUntil((line) => line.includes(fragment)), Stream.runDrain)

      yield* nats.jetstream.streams.add({ name: "DURABLE", subjects: ["durable.>"] })
      for (const data of ["1", "2", "3"]) yield* nats.jetstream.publish("durable.a", bytes(data))

      yield* server.restart
      yield* awaitLog("NATS disconnected")
      yield* awaitLog("NATS reconnected")
      yield* nats.flush
      assert.strictEqual((yield* nats.jetstream.publish("durable.a", bytes("4"))).seq, 4)

      yield* server.kill
      yield* server.start
      yield* awaitLog("NATS reconnected")
      yield* nats.flush
      assert.strictEqual((yield* nats.jetstream.publish("durable.a", bytes("5"))).seq, 5)
      const first = yield* nats.jetstream.getMessage("DURABLE", { seq: 1 })
      assert.strictEqual(text(Option.getOrThrow(first).data), "1")
    }))

  it.live("an ordered consumer read across a server restart goes on from the next sequence at once", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.NatsServer
      const nats = yield* NatsClient.NatsClient
      yield* nats.jetstream.streams.add({ name: "ORDERED", subjects: ["ordered.>"] })
      const count = 200
      for (let i = 1; i <= count; i++) yield* nats.jetstream.publish("ordered.a", bytes(String(i)))

      const seqs: Array<number> = []
      yield* nats.jetstream.ordered("ORDERED", { bufferMessages: 8 }).pipe(
        Stream.take(count),
        Stream.runForEach((msg) => {
          seqs.push(msg.seq)
          return msg.seq === 20 ? Effect.andThen(server.kill, server.start) : Effect.void
        }),
        // Without resuming at once, nats.js waits for two missed heartbeats (30 s or more).
        Effect.timeout("15 seconds")
      )
      assert.deepStrictEqual(seqs, Array.from({ length: count }, (_, i) => i + 1))
    }).pipe(Effect.provide(NatsServer.layerClient({ bin: binary.bin }))))
})
