import { assert, describe, it } from "@effect/vitest"
import * as Nuid from "../src/internal/nuid.ts"

describe("Nuid", () => {
  it("makes 22 base62 characters, different every time", () => {
    const seen = new Set<string>()
    for (let i = 0; i < 10_000; i++) {
      const nuid = Nuid.next()
      assert.match(nuid, /^[0-9A-Za-z]{22}$/)
      seen.add(nuid)
    }
    assert.strictEqual(seen.size, 10_000)
  })

  it("uses the whole alphabet", () => {
    const used = new Set(Array.from({ length: 200 }, Nuid.next).join(""))
    assert.strictEqual(used.size, 62)
  })
})
