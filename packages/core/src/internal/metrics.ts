/**
 * The metrics' constructors, shared by `NatsMetrics` (which exports each one
 * without attributes, for reading) and the code that updates them, which
 * builds each series once with its attributes: an update is then a registry
 * look-up and an addition, where `Metric.withAttributes` would copy the
 * fiber's context on every update.
 */
import { Metric } from "effect"

/** Seconds, the buckets OpenTelemetry advises for messaging durations. */
const durationBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]

export const counter = (name: string, description: string) => (attributes?: Metric.Metric.AttributeSet): Metric.Counter<number> =>
  Metric.counter(name, { description, attributes, incremental: true })

export const seconds = (name: string, description: string) => (attributes?: Metric.Metric.AttributeSet): Metric.Histogram<number> =>
  Metric.histogram(name, { description, attributes, boundaries: durationBoundaries })
