/**
 * A subscriber's series of the `NatsMetrics` metrics, as cells registered in
 * the registry it is built with: counting a message is an addition. Two
 * subscribers with the same name, subject and group share their series.
 */
import type { Context } from "effect"
import * as NatsMetrics from "../../NatsMetrics.ts"
import { type CounterCell, counterCell, type HistogramCell, histogramCell } from "../metrics.ts"

export interface SubscriberIdentity {
  readonly name: string
  /** The subject as declared. */
  readonly subject: string
  /** The queue group, or the durable consumer. */
  readonly consumerGroup: string | undefined
}

export class SubscriberMetrics {
  readonly received: CounterCell
  readonly handled: CounterCell
  readonly duration: HistogramCell
  readonly #attributes: Record<string, string>
  readonly #failures = new Map<string, { readonly failed: CounterCell; readonly duration: HistogramCell }>()
  readonly #context: Context.Context<never>

  constructor(context: Context.Context<never>, identity: SubscriberIdentity) {
    this.#context = context
    this.#attributes = NatsMetrics.subscriberAttributes(identity)
    this.received = counterCell(NatsMetrics.consumedMessages(this.#attributes), context)
    this.handled = counterCell(NatsMetrics.handledMessages(this.#attributes), context)
    this.duration = histogramCell(NatsMetrics.processDuration(this.#attributes), context)
  }

  /** A message handled by a handler that was done when it returned: timed with its run. */
  succeededAtOnce(run: RunTimer): void {
    this.handled.count++
    run.add(this.duration)
  }

  /** A message that failed at once (did not decode, or its handler returned a failure): timed with its run. */
  failedAtOnce(errorType: string, run: RunTimer): void {
    const series = this.#failure(errorType)
    series.failed.count++
    run.add(series.duration)
  }

  /** `count` messages handled, in `seconds`. */
  succeeded(count: number, seconds: number): void {
    this.handled.count += count
    this.duration.observe(seconds)
  }

  /** `count` messages failed with `errorType`, in `seconds`: series with `error.type`, made on the first. */
  failed(errorType: string, count: number, seconds: number): void {
    const series = this.#failure(errorType)
    series.failed.count += count
    series.duration.observe(seconds)
  }

  #failure(errorType: string): { readonly failed: CounterCell; readonly duration: HistogramCell } {
    let series = this.#failures.get(errorType)
    if (series === undefined) {
      const attributes = { ...this.#attributes, [NatsMetrics.ErrorTypeAttribute]: errorType }
      series = {
        failed: counterCell(NatsMetrics.failedMessages(attributes), this.#context),
        duration: histogramCell(NatsMetrics.processDuration(attributes), this.#context)
      }
      this.#failures.set(errorType, series)
    }
    return series
  }

  /** The counter of the messages given up on (dead-lettered, terminated). */
  deadLettered(): CounterCell {
    return counterCell(NatsMetrics.deadLetteredMessages(this.#attributes), this.#context)
  }

  /** The counter of the messages dropped past the pending limits. */
  dropped(): CounterCell {
    return counterCell(NatsMetrics.droppedMessages(this.#attributes), this.#context)
  }
}

/**
 * A worker's clock for the handlers that are done when they return (an
 * `Exit`). Reading the clock is what a handling's duration costs (40 to 80 ns
 * a read, more than the rest of the metrics together), so such messages a
 * worker handles back to back in one run are timed together: the run reads
 * the clock when it starts and when it ends (`end`, before the worker waits
 * or yields), and each of its messages is observed with the run's average.
 * Under load a run is a whole buffer of messages, so the clock costs next to
 * nothing per message. A handler that runs later (an Effect) is timed on its
 * own.
 */
export class RunTimer {
  private start = -1
  private readonly cells: Array<HistogramCell> = []

  /** A message's handling starts: the run's start, when it is the first. */
  begin(): void {
    if (this.start < 0) this.start = performance.now()
  }

  /** A message of the run is done: observed with the run's average when it ends. */
  add(cell: HistogramCell): void {
    this.cells.push(cell)
  }

  /**
   * Ends the current run, if any: its messages observed with the run's
   * average duration. Returns the time it read, or -1 when there was no run.
   */
  end(): number {
    if (this.start < 0) return -1
    const now = performance.now()
    const seconds = (now - this.start) / 1000 / Math.max(this.cells.length, 1)
    for (let i = 0; i < this.cells.length; i++) this.cells[i]!.observe(seconds)
    this.cells.length = 0
    this.start = -1
    return now
  }
}

/** Seconds since `start` (a `performance.now()`). */
export const secondsSince = (start: number): number => (performance.now() - start) / 1000
