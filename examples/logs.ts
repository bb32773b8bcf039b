// What the examples' tests share: the messages an effect logs.
import { Effect, Logger } from "effect"

/** Runs `effect`, recording the messages it logs. */
export const recordingLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const lines: Array<string> = []
    const recorder = Logger.make(({ message }) => {
      lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
    return Effect.map(Effect.provide(effect, Logger.layer([recorder])), (value) => [value, lines] as const)
  })
