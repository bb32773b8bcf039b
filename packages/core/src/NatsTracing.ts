/**
 * Spans of the packages built on `NatsClient` (the broker, the object store,
 * KV), one per operation, made only when a tracer that records them is
 * installed (`OtlpTracer.layer`, `NodeSdk`, ...): with Effect's built-in
 * tracer nobody reads them, and they cost on every message and chunk.
 *
 * @since 0.1.0
 * @module
 */
import { Effect, type Fiber, References, Stream, Tracer } from "effect"

/** Checked per operation: a tracer can be installed for one call (`Effect.withTracer`). */
const recording = (fiber: Fiber.Fiber<unknown, unknown>): boolean =>
  fiber.getRef(References.TracerEnabled) && fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer

/**
 * Whether spans are recorded here: a tracer other than Effect's built-in one, and tracing enabled.
 *
 * @since 0.1.0
 * @category observability
 */
export const isRecording: Effect.Effect<boolean> = Effect.withFiber((fiber) => Effect.succeed(recording(fiber)))

// A captured stack trace would point inside the library, never at the
// caller, and capturing it costs about a third of a span.
const withoutStackTrace = (options: Tracer.SpanOptionsNoTrace): Tracer.SpanOptions => ({
  captureStackTrace: false,
  ...options
})

/**
 * Runs an effect in the span `name` when spans are recorded; `options` is only computed then.
 *
 * @since 0.1.0
 * @category observability
 */
export const withSpan = (name: string, options: () => Tracer.SpanOptionsNoTrace) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => recording(fiber) ? Effect.withSpan(effect, name, withoutStackTrace(options())) : effect)

/**
 * Runs a stream in the span `name` when spans are recorded; `options` is only computed then.
 *
 * @since 0.1.0
 * @category observability
 */
export const streamWithSpan = (name: string, options: () => Tracer.SpanOptionsNoTrace) =>
<A, E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  Stream.unwrap(
    Effect.withFiber((fiber) =>
      Effect.succeed(recording(fiber) ? Stream.withSpan(stream, name, withoutStackTrace(options())) : stream)
    )
  )

/**
 * Sets attributes on the operation's span, when there is one.
 *
 * @since 0.1.0
 * @category observability
 */
export const annotateSpan = (attributes: Record<string, unknown>): Effect.Effect<void> =>
  Effect.withFiber((fiber) => recording(fiber) ? Effect.annotateCurrentSpan(attributes) : Effect.void)

/**
 * A span as a W3C `traceparent` header value (`00-<trace id>-<span id>-<flags>`),
 * the trace context a message carries to the services that handle it.
 *
 * @since 0.2.0
 * @category observability
 */
export const formatTraceparent = (span: Tracer.Span | Tracer.ExternalSpan): string =>
  `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`

/**
 * A W3C `traceparent` header value as the parent of the spans made when the
 * message is handled; `undefined` when absent or malformed.
 *
 * @since 0.2.0
 * @category observability
 */
export const parseTraceparent = (value: string | undefined): Tracer.ExternalSpan | undefined => {
  if (value === undefined) return undefined
  const parts = value.split("-")
  if (parts.length < 4 || parts[1]!.length !== 32 || parts[2]!.length !== 16) return undefined
  return Tracer.externalSpan({ traceId: parts[1]!, spanId: parts[2]!, sampled: (parseInt(parts[3]!, 16) & 1) === 1 })
}
