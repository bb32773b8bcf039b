import { assert, describe, it } from "@effect/vitest"
import * as StoreKey from "../src/internal/storeKey.ts"
import * as Wire from "../src/internal/wire.ts"

const roundTrips = (key: string) => {
  const encoded = StoreKey.encode(key)
  assert.isUndefined(Wire.keyProblem("store", encoded, 4096), `${JSON.stringify(key)} encodes to ${encoded}`)
  assert.strictEqual(StoreKey.decode(encoded), key)
}

describe("KeyValueStore keys", () => {
  it("every UTF-16 code unit alone, lone surrogates included, is a valid NATS key and round-trips", () => {
    for (let unit = 0; unit <= 0xffff; unit++) roundTrips(String.fromCharCode(unit))
  })

  it("keys with separators, spaces, unicode, surrogate pairs and empty segments round-trip", () => {
    for (
      const key of [
        "",
        ":",
        "::",
        "a:",
        ":a",
        "a::b",
        "PersistedCache%3Ausers:user 42/profile",
        "a.b",
        ".",
        "..",
        "=",
        "=3D",
        "*",
        ">",
        "a b\tc\n",
        "héllo wörld",
        "日本語:キー",
        "emoji 😀:👍🏽",
        "\ud83d",
        "\ude00\ud83d",
        "\ud83d:\ude00"
      ]
    ) roundTrips(key)
  })

  it("keeps plain keys readable and maps : to the token separator", () => {
    assert.strictEqual(StoreKey.encode("users:42"), "users.42")
    assert.strictEqual(StoreKey.encode("a_b-c/d"), "a_b-c/d")
    assert.strictEqual(StoreKey.encode(""), "=")
    assert.strictEqual(StoreKey.encode("users:"), "users.=")
    assert.strictEqual(StoreKey.encode("a b.c=é"), "a=20b=2Ec=3D=C3=A9")
    assert.strictEqual(StoreKey.filterUnder([]), ">")
    assert.strictEqual(StoreKey.filterUnder(["users", ""]), "users.=.>")
  })

  it("decodes only what encode writes, so two NATS keys never stand for one Effect key", () => {
    for (
      const natsKey of [
        "=61", // "a", escaped needlessly
        "=c3=a9", // lower-case hex
        "=C3", // a byte sequence cut short
        "=ED=A0=BD=ED=B8=80", // a surrogate pair written as two lone surrogates
        "=F0=80=80=80", // an overlong encoding
        "a=", // an escape without its digits
        "a=G1"
      ]
    ) assert.isUndefined(StoreKey.decode(natsKey), natsKey)
    assert.strictEqual(StoreKey.decode("plain.key"), "plain:key")
  })
})
