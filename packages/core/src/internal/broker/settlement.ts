/**
 * What a JetStream subscriber does with a message once its handler is done:
 * a pure function of how the handling ended, the message's delivery count
 * and the subscriber's options, tested as a table; the subscriber carries
 * the action out.
 */
import type { AckPolicy } from "./jetstream.ts"

/** How the handling of a message ended. */
export type Ending =
  /** The handler succeeded. */
  | "succeeded"
  /** The handler failed (or died). */
  | "failed"
  /** The payload did not decode: the handler was not called. */
  | "undecodable"
  /** The handler was interrupted (shutdown): it is not done with the message. */
  | "interrupted"

/** What the subscriber does with the message. */
export type Action =
  /** Nothing: the handler settled it, or it is to be redelivered after its ack wait. */
  | { readonly _tag: "Leave" }
  | { readonly _tag: "Ack" }
  /**
   * Redelivered: at once (a nak) or, with a backoff, after the entry for its
   * delivery count (the server's timer restarted by a progress report).
   */
  | { readonly _tag: "Retry"; readonly after: "now" | "backoff" }
  /** Not to be retried: sent to the dead-letter subject when there is one, then terminated. */
  | { readonly _tag: "GiveUp"; readonly deadLetter: boolean }

export interface Policy {
  readonly ackPolicy: AckPolicy
  /** -1: unlimited. */
  readonly maxDeliver: number
  readonly backoff: boolean
  readonly deadLetter: boolean
}

const leave: Action = { _tag: "Leave" }
const ack: Action = { _tag: "Ack" }

/**
 * The action for a message: `settledByHandler` when the handler acked,
 * nak'ed or terminated it itself (or `ackFirst` did), which is then left
 * alone, as everything is under `"manual"`.
 */
export const decide = (ending: Ending, deliveryCount: number, settledByHandler: boolean, policy: Policy): Action => {
  const { ackPolicy } = policy
  if (ackPolicy === "manual" || settledByHandler) return leave
  // Interrupted, so not done with: left unacknowledged, to be redelivered.
  if (ending === "interrupted") return leave
  if (ending === "succeeded") return ack
  const giveUp: Action = { _tag: "GiveUp", deadLetter: policy.deadLetter }
  // A payload that does not decode will not decode the next time either.
  if (ending === "undecodable") return giveUp
  if (ackPolicy === "ack") return ack
  if (ackPolicy === "rejectOnError") return giveUp
  const last = policy.maxDeliver > 0 && deliveryCount >= policy.maxDeliver
  return last ? giveUp : { _tag: "Retry", after: policy.backoff ? "backoff" : "now" }
}
