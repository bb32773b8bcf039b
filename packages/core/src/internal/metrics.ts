/**
 * The metrics' constructors, and the series the per-message paths update.
 *
 * A series on a per-message path is a plain cell (a number, a few arrays)
 * registered once in the metrics registry with `Metric.registerUnsafe`: an
 * update is an addition, and the state is built only when someone reads it
 * (`Metric.value`, `Metric.snapshot`, an exporter). `Metric.update` would look
 * the series up in the registry on every update, and `Metric.withAttributes`
 * would also copy the fiber's context.
 */
import { Context, Metric } from "effect"

/** Seconds, the buckets OpenTelemetry advises for messaging durations. */
const durationBoundaries: ReadonlyArray<number> = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10
]

export const counter =
  (name: string, description: string) => (attributes?: Metric.Metric.AttributeSet): Metric.Counter<number> =>
    Metric.counter(name, { description, attributes, incremental: true })

export const seconds =
  (name: string, description: string) => (attributes?: Metric.Metric.AttributeSet): Metric.Histogram<number> =>
    Metric.histogram(name, { description, attributes, boundaries: durationBoundaries })

/** A counter's series: add to `count`. */
export class CounterCell {
  count = 0
}

/** A duration histogram's series, in seconds: `observe` a value. */
export class HistogramCell {
  readonly counts = new Float64Array(durationBoundaries.length + 1)
  count = 0
  sum = 0
  min = Number.MAX_VALUE
  max = -Number.MAX_VALUE
  observe(value: number): void {
    let bucket = 0
    while (bucket < durationBoundaries.length && value > durationBoundaries[bucket]!) bucket++
    this.counts[bucket]!++
    this.count++
    this.sum += value
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
  }
  state(): Metric.HistogramState {
    let cumulated = 0
    const buckets = durationBoundaries.map((boundary, index): [number, number] => {
      cumulated += this.counts[index]!
      return [boundary, cumulated]
    })
    return { buckets, count: this.count, min: this.min, max: this.max, sum: this.sum }
  }
}

// The cells of each registry, by series: subscribers with the same attributes
// (or one rebuilt) add to the same series, as `Metric.update` would.
const cellsByRegistry = new WeakMap<object, Map<string, CounterCell | HistogramCell>>()

const cellOf = <C extends CounterCell | HistogramCell, S>(
  metric: Metric.Metric<number, S>,
  context: Context.Context<never>,
  make: () => C,
  state: (cell: C) => S
): C => {
  const registry = Context.get(context, Metric.MetricRegistry)
  let cells = cellsByRegistry.get(registry)
  if (cells === undefined) {
    cells = new Map()
    cellsByRegistry.set(registry, cells)
  }
  const key = JSON.stringify([metric.id, metric.attributes, Context.get(context, Metric.CurrentMetricAttributes)])
  const existing = cells.get(key)
  if (existing !== undefined) return existing as C
  const cell = make()
  cells.set(key, cell)
  Metric.registerUnsafe(metric, context, { get: () => state(cell), update: () => {}, modify: () => {} })
  return cell
}

/** The cell of a counter's series in the registry of `context`. */
export const counterCell = (metric: Metric.Counter<number>, context: Context.Context<never>): CounterCell =>
  cellOf(metric, context, () => new CounterCell(), (cell) => ({ count: cell.count, incremental: true }))

/** The cell of a duration histogram's series (made by `seconds`) in the registry of `context`. */
export const histogramCell = (metric: Metric.Histogram<number>, context: Context.Context<never>): HistogramCell =>
  cellOf(metric, context, () => new HistogramCell(), (cell) => cell.state())
