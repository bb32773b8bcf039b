/**
 * The progress of a put or a get, counted as the bytes pass through the
 * transfer's Stream. The bar (bytes, percent when the size is known, MiB/s,
 * time left) is drawn on stderr only when stderr is a terminal, at most 10
 * times a second; the summary line is printed in every case.
 */
import { Clock, Effect, Stdio, Stream, Terminal } from "effect"
import * as Format from "./format.ts"
import * as Output from "./output.ts"

const redrawEvery = 100
const barWidth = 20
/** When the terminal's width is unknown (stdout is not the terminal stderr is). */
const defaultColumns = 80

export interface Progress {
  /** The stream, with its bytes counted as they are pulled. */
  readonly count: <E, R>(stream: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Uint8Array, E, R>
  /** Bytes counted so far. */
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
    let drawnAt: number | undefined
    // A bar that cannot be drawn must not fail the transfer.
    const draw = (line: string) => Effect.ignore(Output.noteRaw(`\r${line}\x1b[K`)).pipe(Effect.provideService(Stdio.Stdio, stdio))

    const tick = (chunk: Uint8Array) =>
      Effect.gen(function*() {
        bytes += chunk.length
        if (!terminal) return
        const now = yield* Clock.currentTimeMillis
        if (drawnAt !== undefined && now - drawnAt < redrawEvery) return
        drawnAt = now
        yield* draw(render(label, bytes, total, now - start, columns))
      })

    const elapsed = Effect.map(Clock.currentTimeMillis, (now) => now - start)

    return {
      count: <E, R>(stream: Stream.Stream<Uint8Array, E, R>) => Stream.tap(stream, tick),
      bytes: () => bytes,
      elapsed,
      done: (summary) =>
        Effect.gen(function*() {
          if (drawnAt !== undefined) yield* Effect.ignore(Output.noteRaw("\r\x1b[K"))
          yield* Effect.ignore(Output.note(summary))
        }).pipe(Effect.provideService(Stdio.Stdio, stdio))
    }
  })
