/**
 * Middleware around handlers and outgoing messages (FastStream's
 * `BaseMiddleware` and `ExceptionMiddleware`), given to the broker, to a
 * router and to a subscriber, applied in that order, outermost first. A
 * middleware is kept with the context its requirements were met in (that of
 * the layer it was given to), and runs in it, the handler's own context
 * still in force for the handler.
 *
 * Routers put the subscribers and publishers built inside them under a
 * subject prefix; the route (prefix and middleware) is a reference the
 * layers built inside a router read.
 */
import { Context, Effect } from "effect"
import type { Message } from "../../NatsMessage.ts"

/** A message about to be sent: its subject and headers, which a middleware may change. */
export interface Outgoing {
  readonly subject: string
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string>>>
}

export interface Middleware<R = never> {
  /** Wraps a handler's Effect for one message (a batch's: its first). */
  readonly handle?: ((handled: Effect.Effect<unknown, unknown>, message: Message) => Effect.Effect<unknown, unknown, R>) | undefined
  /** Wraps every message sent: what it returns is sent. */
  readonly publish?: ((outgoing: Outgoing) => Effect.Effect<Outgoing, never, R>) | undefined
}

/** Middleware with the context it runs in, outermost first. */
export type Chain = ReadonlyArray<{ readonly middleware: Middleware<unknown>; readonly context: Context.Context<never> }>

/** The middleware of a layer, with its context. */
export const chainOf = <R>(middlewares: ReadonlyArray<Middleware<R>> | undefined): Effect.Effect<Chain, never, R> =>
  middlewares === undefined || middlewares.length === 0
    ? Effect.succeed([])
    : Effect.map(Effect.context<R>(), (context) =>
      middlewares.map((middleware) => ({
        middleware: middleware as Middleware<unknown>,
        context: context as Context.Context<never>
      })))

/** Runs `effect` with the middleware's context under the current one. */
const within = <A, E>(effect: Effect.Effect<A, E, unknown>, context: Context.Context<never>): Effect.Effect<A, E> =>
  Effect.updateContext(effect as Effect.Effect<A, E>, (current: Context.Context<never>) => Context.merge(context, current))

/** The handler's Effect wrapped by the chain's `handle`s, outermost first. */
export const handle = (
  chain: Chain,
  handled: Effect.Effect<unknown, unknown, unknown>,
  message: Message
): Effect.Effect<unknown, unknown, unknown> => {
  // The handler's requirements are met by the subscriber's context.
  let effect = handled as Effect.Effect<unknown, unknown>
  for (let i = chain.length - 1; i >= 0; i--) {
    const { context, middleware } = chain[i]!
    if (middleware.handle !== undefined) effect = within(middleware.handle(effect, message), context)
  }
  return effect
}

/** An outgoing message through the chain's `publish`es: the innermost first, the outermost has the last word. */
export const publish = (chain: Chain, outgoing: Outgoing): Effect.Effect<Outgoing> => {
  let effect: Effect.Effect<Outgoing> = Effect.succeed(outgoing)
  for (let i = chain.length - 1; i >= 0; i--) {
    const { context, middleware } = chain[i]!
    const wrap = middleware.publish
    if (wrap !== undefined) effect = Effect.flatMap(effect, (current) => within(wrap(current), context))
  }
  return effect
}

/** Where the layers being built are: under a router's prefix, with its middleware. */
export interface Route {
  readonly prefix: string
  readonly chain: Chain
}

export const CurrentRoute = Context.Reference<Route>("@nats-effect/core/NatsBroker/Route", {
  defaultValue: () => ({ prefix: "", chain: [] })
})

/**
 * The middleware of the message being handled (its router's and its
 * subscriber's), for what its handler publishes.
 */
export const CurrentChain = Context.Reference<Chain>("@nats-effect/core/NatsBroker/Chain", {
  defaultValue: () => []
})
