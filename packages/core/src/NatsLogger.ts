/**
 * `NatsLogger`: Effect's own logger, set up for a NATS service. Handlers log
 * with `Effect.log*`; every line written while a subscriber handles a message
 * carries the annotations `subject`, `correlation_id` and `subscriber` (the
 * broker adds them), and this layer picks how lines are written and which
 * level passes.
 *
 * @since 0.1.0
 * @module
 */
import type { LogLevel } from "effect"
import { Config, Effect, Layer, Logger, References, Schema, SchemaTransformation } from "effect"

/**
 * `pretty`: human-readable (colours on a TTY); `json`: one JSON object a line; `logfmt`: `key=value` pairs.
 *
 * @since 0.1.0
 * @category models
 */
export type Format = "pretty" | "json" | "logfmt"

/**
 * Options of the logger: its level and format.
 *
 * @since 0.1.0
 * @category options
 */
export interface Options {
  /** Lines below this level are dropped. Default `Info`. */
  readonly level?: LogLevel.LogLevel | undefined
  /** Default `pretty`. */
  readonly format?: Format | undefined
}

const loggerFor = (format: Format): Logger.Logger<unknown, void> => {
  switch (format) {
    case "json":
      return Logger.consoleJson
    case "logfmt":
      return Logger.consoleLogFmt
    case "pretty":
      return Logger.consolePretty()
  }
}

/**
 * Replaces the loggers with one writing `format`, and sets the minimum level.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<never> =>
  Layer.merge(
    Logger.layer([loggerFor(options.format ?? "pretty")]),
    Layer.succeed(References.MinimumLogLevel, options.level ?? "Info")
  )

const levels: Readonly<Record<string, LogLevel.LogLevel>> = {
  all: "All",
  fatal: "Fatal",
  error: "Error",
  warn: "Warn",
  warning: "Warn",
  info: "Info",
  debug: "Debug",
  trace: "Trace",
  none: "None",
  off: "None"
}

/** A log level in any case (`info`, `INFO`, `Info`), `warning` for `Warn`, `off` for `None`. */
const LogLevelFromString = Schema.String.pipe(
  Schema.decodeTo(
    Schema.Literals(["All", "Fatal", "Error", "Warn", "Info", "Debug", "Trace", "None"]),
    SchemaTransformation.transform<LogLevel.LogLevel, string>({
      // An unknown name passes through unchanged and is rejected by the literals.
      decode: (input: string) => (levels[input.trim().toLowerCase()] ?? input) as LogLevel.LogLevel,
      encode: (level) => level
    })
  )
)

const FormatFromString = Schema.String.pipe(
  Schema.decodeTo(
    Schema.Literals(["pretty", "json", "logfmt"]),
    SchemaTransformation.transform<Format, string>({
      decode: (input: string) => input.trim().toLowerCase() as Format,
      encode: (format) => format
    })
  )
)

const defaultConfig: Config.Wrap<Options> = {
  level: Config.schema(LogLevelFromString, "LOG_LEVEL").pipe(Config.withDefault("Info" as const)),
  format: Config.schema(FormatFromString, "LOG_FORMAT").pipe(Config.withDefault("pretty" as const))
}

/**
 * `layer` with options read from `Config`. Without an argument it reads the
 * environment: `LOG_LEVEL` (`trace`, `debug`, `info`, `warn`, `error`,
 * `fatal`, `none`, any case; default `info`) and `LOG_FORMAT` (`pretty`,
 * `json`, `logfmt`; default `pretty`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (config: Config.Wrap<Options> = defaultConfig): Layer.Layer<never, Config.ConfigError> =>
  Layer.unwrap(Effect.map(Config.unwrap(config), layer))
