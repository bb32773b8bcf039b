/**
 * The settlement of a JetStream message as a table: how its handling ended,
 * its delivery count and the subscriber's options, and what is done with it.
 * No server: the policy is a pure function; the suites check that the
 * subscriber carries each action out on every adapter.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Settlement from "../src/internal/broker/settlement.ts"

const policy = (overrides: Partial<Settlement.Policy> = {}): Settlement.Policy => ({
  ackPolicy: "nackOnError",
  maxDeliver: 3,
  backoff: false,
  deadLetter: true,
  ...overrides
})

const leave = { _tag: "Leave" }
const ack = { _tag: "Ack" }
const retryNow = { _tag: "Retry", after: "now" }
const retryAfterBackoff = { _tag: "Retry", after: "backoff" }
const deadLetter = { _tag: "GiveUp", deadLetter: true }
const term = { _tag: "GiveUp", deadLetter: false }

const table: ReadonlyArray<
  readonly [string, Settlement.Ending, number, boolean, Settlement.Policy, Settlement.Action | object]
> = [
  ["success is acked", "succeeded", 1, false, policy(), ack],
  ["a failure is retried at once", "failed", 1, false, policy(), retryNow],
  ["a failure is retried after the backoff entry", "failed", 2, false, policy({ backoff: true }), retryAfterBackoff],
  ["the last delivery's failure is dead-lettered", "failed", 3, false, policy(), deadLetter],
  ["past the last delivery too", "failed", 4, false, policy(), deadLetter],
  ["without a dead-letter subject, terminated", "failed", 3, false, policy({ deadLetter: false }), term],
  ["without maxDeliver, retried for ever", "failed", 99, false, policy({ maxDeliver: -1 }), retryNow],
  ["an undecodable payload is dead-lettered at once", "undecodable", 1, false, policy(), deadLetter],
  ["an undecodable payload without a dead-letter subject is terminated", "undecodable", 1, false, policy({ deadLetter: false }), term],
  ["an interrupted handler leaves the message to be redelivered", "interrupted", 1, false, policy(), leave],
  ["ack: a failure is acked", "failed", 1, false, policy({ ackPolicy: "ack" }), ack],
  ["ack: an undecodable payload is given up on", "undecodable", 1, false, policy({ ackPolicy: "ack" }), deadLetter],
  ["rejectOnError: a failure is given up on at once", "failed", 1, false, policy({ ackPolicy: "rejectOnError" }), deadLetter],
  ["rejectOnError: success is acked", "succeeded", 1, false, policy({ ackPolicy: "rejectOnError" }), ack],
  ["manual: nothing, whatever happened", "failed", 3, false, policy({ ackPolicy: "manual" }), leave],
  ["manual: not even an undecodable payload", "undecodable", 1, false, policy({ ackPolicy: "manual" }), leave],
  ["settled by the handler: left alone", "failed", 3, true, policy(), leave],
  ["ackFirst: acked before the handler, left alone after", "failed", 1, true, policy({ ackPolicy: "ackFirst" }), leave]
]

describe("the settlement of a JetStream message", () => {
  for (const [name, ending, deliveryCount, settled, given, expected] of table) {
    it(name, () => {
      assert.deepStrictEqual(Settlement.decide(ending, deliveryCount, settled, given), expected)
    })
  }
})
