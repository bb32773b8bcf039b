/**
 * Small helpers shared by the conformance suites.
 */
import type { NatsError } from "@nats-effect/core"
import { Effect } from "effect"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export const bytes = (text: string): Uint8Array => encoder.encode(text)
export const text = (data: Uint8Array): string => decoder.decode(data)

let counter = 0
/**
 * A name no other test uses, valid as a subject token, a stream name and a
 * bucket name: suites share one server per adapter.
 */
export const unique = (prefix: string): string => `${prefix}_${Date.now().toString(36)}_${counter++}`

/** The reason an effect failed with. */
export const failure = <A, R>(
  effect: Effect.Effect<A, NatsError.NatsError, R>
): Effect.Effect<NatsError.NatsErrorReason, A, R> => Effect.map(Effect.flip(effect), (error) => error.reason)
