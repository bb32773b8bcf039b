import { assert, describe, it } from "@effect/vitest"
import { NatsHeaders } from "@nats-effect/core"

describe("NatsHeaders", () => {
  it("gets a header by exact key, then ignoring case", () => {
    const headers = { "content-type": ["application/json"], "X-Trace": ["a", "b"] }
    assert.strictEqual(NatsHeaders.get(headers, "content-type"), "application/json")
    assert.strictEqual(NatsHeaders.get(headers, "Content-Type"), "application/json")
    assert.deepStrictEqual(NatsHeaders.getAll(headers, "x-trace"), ["a", "b"])
    assert.strictEqual(NatsHeaders.get(headers, "missing"), undefined)
    assert.strictEqual(NatsHeaders.get(undefined, "x"), undefined)
  })

  it("normalises publish headers to arrays", () => {
    assert.deepStrictEqual(NatsHeaders.fromInput({ a: "1", b: ["2", "3"] }), { a: ["1"], b: ["2", "3"] })
  })
})
