/**
 * `NatsLogger`: the log level and format from options and from `Config`.
 */
import { assert, describe, it } from "@effect/vitest"
import { NatsLogger } from "@nats-effect/core"
import { ConfigProvider, Effect, Layer, Logger, References } from "effect"

/** The minimum level and the number of loggers a layer sets. */
const settings = <E>(layer: Layer.Layer<never, E>) =>
  Effect.gen(function*() {
    const level = yield* References.MinimumLogLevel
    const loggers = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(Logger.CurrentLoggers)))
    return { level, loggers: loggers.size }
  }).pipe(Effect.provide(layer))

const withEnv = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromUnknown(env))

describe("NatsLogger", () => {
  it.effect("sets the level and one logger", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* settings(NatsLogger.layer({ level: "Debug", format: "json" })), {
        level: "Debug",
        loggers: 1
      })
      assert.deepStrictEqual(yield* settings(NatsLogger.layer()), { level: "Info", loggers: 1 })
    }))

  it.effect("reads LOG_LEVEL in any case, and LOG_FORMAT", () =>
    Effect.gen(function*() {
      const fromEnv = (env: Record<string, string>) => settings(NatsLogger.layerConfig().pipe(Layer.provide(withEnv(env))))
      assert.strictEqual((yield* fromEnv({ LOG_LEVEL: "debug", LOG_FORMAT: "logfmt" })).level, "Debug")
      assert.strictEqual((yield* fromEnv({ LOG_LEVEL: "WARNING" })).level, "Warn")
      assert.strictEqual((yield* fromEnv({ LOG_LEVEL: "Error", LOG_FORMAT: "JSON" })).level, "Error")
      assert.strictEqual((yield* fromEnv({})).level, "Info")
    }))

  it.effect("refuses an unknown level or format with a ConfigError", () =>
    Effect.gen(function*() {
      const fromEnv = (env: Record<string, string>) =>
        Effect.flip(settings(NatsLogger.layerConfig().pipe(Layer.provide(withEnv(env)))))
      const level = yield* fromEnv({ LOG_LEVEL: "loud" })
      assert.strictEqual(level._tag, "ConfigError")
      // Names the variable and the accepted values.
      assert.include(level.message, "LOG_LEVEL")
      assert.include(level.message, `"Debug"`)
      const format = yield* fromEnv({ LOG_FORMAT: "xml" })
      assert.strictEqual(format._tag, "ConfigError")
    }))
})
