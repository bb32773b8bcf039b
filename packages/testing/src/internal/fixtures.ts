/**
 * Small helpers shared by the conformance suites.
 */
import * as Net from "node:net"
import { NatsClient, type NatsError } from "@nats-effect/core"
import { Effect, Logger, References, type Scope } from "effect"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export const bytes = (text: string): Uint8Array => encoder.encode(text)
export const text = (data: Uint8Array): string => decoder.decode(data)

let counter = 0
/**
 * A name no other test uses, valid as a subject token, a stream name and a
 * bucket name: suites share one server per adapter.
 */
export const unique = (prefix: string): string => `${prefix}_${Date.now().toString(36)}_${counter++}`

/** The reason an effect failed with. */
export const failure = <A, R>(
  effect: Effect.Effect<A, NatsError.NatsError, R>
): Effect.Effect<NatsError.NatsErrorReason, A, R> => Effect.map(Effect.flip(effect), (error) => error.reason)

/** Runs `use` with a stream on `<name>.>`, deleted when the test's scope closes. */
export const withStream = <A, E, R>(
  config: Omit<NatsClient.StreamConfig, "name" | "subjects">,
  use: (name: string) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | NatsError.NatsError, R | NatsClient.NatsClient | Scope.Scope> =>
  Effect.gen(function*() {
    const nats = yield* NatsClient.NatsClient
    const name = unique("S")
    yield* Effect.acquireRelease(
      nats.jetstream.streams.add({ ...config, name, subjects: [`${name}.>`] }),
      () => Effect.ignore(nats.jetstream.streams.delete(name))
    )
    return yield* use(name)
  })

export interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** Runs `effect` with a logger that records its lines instead of writing them; returns them with its result. */
export const recordingLogs = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<readonly [A, ReadonlyArray<LogLine>], E, R> =>
  Effect.suspend(() => {
    const lines: Array<LogLine> = []
    const recorder = Logger.make((options) => {
      lines.push({
        level: options.logLevel,
        message: (Array.isArray(options.message) ? options.message : [options.message]).map(String).join(" "),
        annotations: options.fiber.getRef(References.CurrentLogAnnotations)
      })
    })
    return Effect.map(Effect.provide(effect, Logger.layer([recorder])), (value) => [value, lines] as const)
  })

/** A loopback port nothing listens on. */
export const deadPort: Effect.Effect<number> = Effect.callback<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(address.port)))
  })
})
