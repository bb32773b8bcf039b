/**
 * Credentials in server URLs: taken out into `Redacted` options, the URLs
 * kept without them (what is shown in logs and errors).
 */
import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import * as Servers from "../src/internal/natsjs/servers.ts"

const secret = (value: Redacted.Redacted<string> | undefined) => value === undefined ? undefined : Redacted.value(value)

describe("server URLs with credentials", () => {
  it("takes a user and password out, percent-decoded, and keeps the URL without them", () => {
    const servers = Servers.parse("nats://al%40ice:p%3Ass@w@db.example:4222")
    assert.deepStrictEqual(servers.urls, ["nats://db.example:4222"])
    assert.strictEqual(servers.user, "al@ice")
    assert.strictEqual(secret(servers.pass), "p:ss@w")
    assert.isUndefined(servers.token)
    // Printed, the options show no secret.
    assert.notInclude(String(servers.pass), "p:ss")
  })

  it("takes a token out of a URL without a password", () => {
    const servers = Servers.parse(["tls://s3cr3t@a:4222", "b:4222"])
    assert.deepStrictEqual(servers.urls, ["tls://a:4222", "b:4222"])
    assert.strictEqual(secret(servers.token), "s3cr3t")
    assert.isUndefined(servers.user)
  })

  it("takes the credentials of the first URL that has some, and strips them from every URL", () => {
    const servers = Servers.parse(["nats://a:4222", "nats://u:one@b:4222", "u:two@c:4222"])
    assert.deepStrictEqual(servers.urls, ["nats://a:4222", "nats://b:4222", "c:4222"])
    assert.strictEqual(servers.user, "u")
    assert.strictEqual(secret(servers.pass), "one")
  })

  it("leaves URLs without user info as they are", () => {
    const servers = Servers.parse("nats://127.0.0.1:4222")
    assert.deepStrictEqual(servers, { urls: ["nats://127.0.0.1:4222"], user: undefined, pass: undefined, token: undefined })
  })
})
