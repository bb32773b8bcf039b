/**
 * The object store's spans, one per operation, made only when a tracer that
 * records them is installed (`OtlpTracer.layer`, `NodeSdk`, ...), as the
 * broker's: with Effect's built-in tracer nobody reads them, and without
 * our span an annotation would land on the caller's.
 */
import { Effect, type Fiber, References, Stream, Tracer } from "effect"

/** Checked on every operation: a tracer can be installed for one call (`Effect.withTracer`). */
const recording = (fiber: Fiber.Fiber<unknown, unknown>): boolean =>
  fiber.getRef(References.TracerEnabled) && fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer

/** Runs an effect in the span `name` when spans are recorded; `options` is only computed then. */
export const withSpan = (name: string, options: () => Tracer.SpanOptionsNoTrace) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => recording(fiber) ? Effect.withSpan(effect, name, options()) : effect)

/** Runs a stream in the span `name` when spans are recorded; `options` is only computed then. */
export const streamWithSpan = (name: string, options: () => Tracer.SpanOptionsNoTrace) =>
<A, E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  Stream.unwrap(
    Effect.withFiber((fiber) => Effect.succeed(recording(fiber) ? Stream.withSpan(stream, name, options()) : stream))
  )

/** Sets attributes on the operation's span, when there is one. */
export const annotateSpan = (attributes: Record<string, unknown>): Effect.Effect<void> =>
  Effect.withFiber((fiber) => recording(fiber) ? Effect.annotateCurrentSpan(attributes) : Effect.void)
