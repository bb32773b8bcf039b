/**
 * Subscriber subjects: NATS wildcards and FastStream's `{param}` templates.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Subject from "../src/internal/broker/subject.ts"

const parsed = (template: string): Subject.SubjectTemplate => {
  const result = Subject.parse(template)
  if (typeof result === "string") assert.fail(`"${template}" should parse: ${result}`)
  return result
}

describe("NatsBroker subject templates", () => {
  it("subscribes to plain subjects and wildcards as they are", () => {
    for (const subject of ["orders", "orders.created", "orders.*", "orders.>", "*.*.x", ">"]) {
      const template = parsed(subject)
      assert.strictEqual(template.subject, subject)
      assert.deepStrictEqual(template.names, [])
    }
  })

  it("subscribes to a {param} token as '*'", () => {
    const template = parsed("logs.{level}.{source}.>")
    assert.strictEqual(template.subject, "logs.*.*.>")
    assert.deepStrictEqual(template.names, ["level", "source"])
    assert.deepStrictEqual(template.positions, [1, 2])
  })

  it("extracts the params of a received subject", () => {
    const template = parsed("logs.{level}.{source}.>")
    assert.deepStrictEqual(Subject.extract(template, "logs.info.api.a.b"), { level: "info", source: "api" })
  })

  it("shares one empty params object for subjects without params", () => {
    const template = parsed("orders.*")
    assert.strictEqual(Subject.extract(template, "orders.x"), Subject.noParams)
    assert.deepStrictEqual(Subject.noParams, {})
  })

  it("refuses malformed subjects with a reason", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["", "empty"],
      ["a..b", "empty token"],
      ["a b", "whitespace"],
      ["a.>.b", "last token"],
      ["a.b*", "whole token"],
      ["a.{level", "whole token"],
      ["a.x{level}", "whole token"],
      ["a.{1x}", "whole token"],
      ["a.{x}.{x}", "repeats the parameter {x}"]
    ]
    for (const [subject, reason] of cases) {
      const result = Subject.parse(subject)
      assert.strictEqual(typeof result, "string", `"${subject}" should be refused`)
      assert.include(result as string, reason, `"${subject}"`)
    }
  })
})
