/**
 * Credentials in server URLs: taken out into `Redacted` options, the URLs
 * kept without them (what is shown in logs and errors). URLs of schemes NATS
 * does not speak are refused before connecting.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsClient, NatsError } from "@nats-effect/core"
import { ConfigProvider, Effect, Layer, Redacted, Result } from "effect"
import * as Servers from "../src/internal/natsjs/servers.ts"

const secret = (value: Redacted.Redacted<string> | undefined) => value === undefined ? undefined : Redacted.value(value)

const parse = (servers: string | ReadonlyArray<string>) => Result.getOrThrow(Servers.parse(servers))

describe("server URLs with credentials", () => {
  it("takes a user and password out, percent-decoded, and keeps the URL without them", () => {
    const servers = parse("nats://al%40ice:p%3Ass@w@db.example:4222")
    assert.deepStrictEqual(servers.urls, ["nats://db.example:4222"])
    assert.strictEqual(servers.user, "al@ice")
    assert.strictEqual(secret(servers.pass), "p:ss@w")
    assert.isUndefined(servers.token)
    // Printed, the options show no secret.
    assert.notInclude(String(servers.pass), "p:ss")
  })

  it("takes a token out of a URL without a password", () => {
    const servers = parse(["tls://s3cr3t@a:4222", "b:4222"])
    assert.deepStrictEqual(servers.urls, ["tls://a:4222", "b:4222"])
    assert.strictEqual(secret(servers.token), "s3cr3t")
    assert.isUndefined(servers.user)
  })

  it("takes the credentials of the first URL that has some, and strips them from every URL", () => {
    const servers = parse(["nats://a:4222", "nats://u:one@b:4222", "u:two@c:4222"])
    assert.deepStrictEqual(servers.urls, ["nats://a:4222", "nats://b:4222", "c:4222"])
    assert.strictEqual(servers.user, "u")
    assert.strictEqual(secret(servers.pass), "one")
  })

  it("leaves URLs without user info as they are", () => {
    const servers = parse("nats://127.0.0.1:4222")
    assert.deepStrictEqual(servers, { urls: ["nats://127.0.0.1:4222"], user: undefined, pass: undefined, token: undefined })
  })

  it("accepts nats, tls, ws and wss URLs, in any case, and URLs without a scheme", () => {
    const urls = ["nats://a:4222", "TLS://b:4222", "ws://c:8080", "wss://d", "e:4222", "f"]
    assert.deepStrictEqual(parse(urls).urls, urls)
  })
})

describe("server URLs of other schemes", () => {
  const refused = (layer: Layer.Layer<NatsClient.NatsClient, unknown>) =>
    Effect.flip(Effect.scoped(Layer.build(layer))).pipe(
      Effect.map((error) => {
        assert.isTrue(NatsError.isNatsError(error), String(error))
        return (error as NatsError.NatsError).reason
      })
    )

  it.effect("NatsClient.layer refuses http:// with InvalidUrl before connecting, the URL without its password", () =>
    Effect.gen(function*() {
      const reason = yield* refused(NatsClient.layer({ servers: ["nats://a:4222", "http://ada:s3cret@127.0.0.1:4222"] }))
      assert.strictEqual(reason._tag, "InvalidUrl")
      assert.strictEqual(
        reason.message,
        "the server URL http://127.0.0.1:4222 is not a NATS URL: its scheme must be nats://, tls://, ws:// or wss://"
      )
      assert.notInclude(JSON.stringify(reason), "s3cret")
      assert.notInclude(String(NatsError.fromReason(reason)), "s3cret")
    }))

  it.effect("NatsClient.layerConfig refuses NATS_URL=foo://… with InvalidUrl", () =>
    Effect.gen(function*() {
      const reason = yield* refused(
        NatsClient.layerConfig().pipe(
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ NATS_URL: "foo://token@127.0.0.1:4222" })))
        )
      )
      assert.strictEqual(reason._tag, "InvalidUrl")
      assert.strictEqual((reason as NatsError.InvalidUrl).url, "foo://127.0.0.1:4222")
      assert.notInclude(reason.message, "token")
    }))
})
