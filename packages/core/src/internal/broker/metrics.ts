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

/** Seconds since `start` (a `performance.now()`). */
export const secondsSince = (start: number): number => (performance.now() - start) / 1000
