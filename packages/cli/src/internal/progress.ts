/**
 * The progress of a put or a get, as the object store reports it
 * (`onProgress`: bytes acknowledged on a put, handed over on a get, at most
 * every 100 ms and at the end). The bar (bytes, percent when the size is
 * known, MiB/s, time left) is drawn on stderr only when stderr is a
 * terminal; the summary line is printed in every case.
 */
import type { ObjectStore } from "@nats-effect/object-store"
import { Clock, Effect, Stdio, Terminal } from "effect"
import * as Format from "./format.ts"
import * as Output from "./output.ts"

const barWidth = 20
/** When the terminal's width is unknown (stdout is not the terminal stderr is). */
const defaultColumns = 80

export interface Progress {
  /** The transfer's `onProgress`. */
  readonly report: (progress: ObjectStore.Progress) => Effect.Effect<void>
  /** Bytes reported so far. */
  readonly bytes: () => number
  /** Milliseconds since the transfer started. */
  readonly elapsed: Effect.Effect<number>
  /** Clears the bar and prints the summary line. */
  readonly done: (summary: string) => Effect.Effect<void>
}

/**
 * The bar's line for `bytes` of `total` (when known) after `millis`, within
 * `columns - 1` characters: a line that wraps is not overwritten by the next
 * frame's \r. The label gives way first.
 */
export const render = (
  label: string,
  bytes: number,
  total: number | undefined,
  millis: number,
  columns: number
): string => {
  const speed = Format.rate(bytes, millis)
  let stats = `${Format.bytes(bytes)} ${speed}`
  if (total !== undefined && total > 0) {
    const fraction = Math.min(1, bytes / total)
    const filled = Math.round(fraction * barWidth)
    const bar = `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}]`
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4)
    const left = bytes > 0 && millis > 0 ? `${Format.clock(((total - bytes) * millis) / bytes)} left` : "--:-- left"
    stats = `${bar} ${percent} ${Format.bytes(bytes)} / ${Format.bytes(total)} ${speed} ${left}`
  }
  const room = columns - 1 - stats.length - 1
  const name = label.length <= room ? label : `${label.slice(0, Math.max(0, room - 1))}…`
  return `${name} ${stats}`.slice(0, columns - 1)
}

export const make = (
  label: string,
  total: number | undefined
): Effect.Effect<Progress, never, Stdio.Stdio | Terminal.Terminal> =>
  Effect.gen(function*() {
    const stdio = yield* Stdio.Stdio
    const terminal = yield* stdio.stderrIsTerminal
    const columns = (yield* (yield* Terminal.Terminal).columns) || defaultColumns
    const start = yield* Clock.currentTimeMillis
    let bytes = 0
    let drawn = false
    // A bar that cannot be drawn must not fail the transfer.
    const draw = (line: string) => Effect.ignore(Output.noteRaw(`\r${line}\x1b[K`)).pipe(Effect.provideService(Stdio.Stdio, stdio))

    const report = (progress: ObjectStore.Progress) =>
      Effect.gen(function*() {
        bytes = progress.bytes
        if (!terminal) return
        const now = yield* Clock.currentTimeMillis
        drawn = true
        yield* draw(render(label, bytes, progress.total ?? total, now - start, columns))
      })

    const elapsed = Effect.map(Clock.currentTimeMillis, (now) => now - start)

    return {
      report,
      bytes: () => bytes,
      elapsed,
      done: (summary) =>
        Effect.gen(function*() {
          if (drawn) yield* Effect.ignore(Output.noteRaw("\r\x1b[K"))
          yield* Effect.ignore(Output.note(summary))
        }).pipe(Effect.provideService(Stdio.Stdio, stdio))
    }
  })
