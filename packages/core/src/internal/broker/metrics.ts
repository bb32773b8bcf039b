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

  /** `count` messages handled, in `seconds`. */
  succeeded(count: number, seconds: number): void {
    this.handled.count += count
    this.duration.observe(seconds)
  }

  /** `count` messages failed with `errorType`, in `seconds`: series with `error.type`, made on the first. */
  failed(errorType: string, count: number, seconds: number): void {
    let series = this.#failures.get(errorType)
    if (series === undefined) {
      const attributes = { ...this.#attributes, [NatsMetrics.ErrorTypeAttribute]: errorType }
      series = {
        failed: counterCell(NatsMetrics.failedMessages(attributes), this.#context),
        duration: histogramCell(NatsMetrics.processDuration(attributes), this.#context)
      }
      this.#failures.set(errorType, series)
    }
    series.failed.count += count
    series.duration.observe(seconds)
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

// The clock is what a handling's duration costs (40 to 80 ns a read, more
// than the rest of the metrics together). Messages a worker handles back to
// back, each done when its handler returns, read it once each: the next one
// starts when the one before ended. The worker forgets that end
// (`forgetLastEnd`) whenever it waits or yields, so that other work or idle
// time is never counted.
let lastEnd = -1

/** The next message's start is not the last one's end. */
export const forgetLastEnd = (): void => {
  lastEnd = -1
}

/** When a message's handling starts (a `performance.now()`). */
export const startTime = (): number => lastEnd >= 0 ? lastEnd : performance.now()

/** Seconds since `start`, ending the handling of a message. */
export const secondsSince = (start: number): number => {
  lastEnd = performance.now()
  return (lastEnd - start) / 1000
}
