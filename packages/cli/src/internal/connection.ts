/**
 * The connection flags every command takes, and how they become a
 * `NatsClient`: each flag stands in for its environment variable, and
 * `NatsClient.layerConfig` reads the rest from the environment as it does
 * for any application (`NATS_URL`, `NATS_USER`, ...; `NATS_CA` for
 * `--tls-ca`).
 */
import { NatsClient, type NatsError } from "@nats-effect/core"
import { Config, ConfigProvider, Context, Effect, Layer, Option, Redacted } from "effect"
import { Flag } from "effect/cli"

export const flags = {
  server: Flag.String("server").pipe(
    Flag.withAlias("s"),
    Flag.withDescription("NATS server URLs, comma-separated (default: $NATS_URL, else nats://127.0.0.1:4222)"),
    Flag.optional
  ),
  user: Flag.String("user").pipe(Flag.withDescription("user name (default: $NATS_USER)"), Flag.optional),
  password: Flag.Redacted("password").pipe(Flag.withDescription("password (default: $NATS_PASSWORD)"), Flag.optional),
  token: Flag.Redacted("token").pipe(Flag.withDescription("authentication token (default: $NATS_TOKEN)"), Flag.optional),
  creds: Flag.String("creds").pipe(Flag.withDescription("credentials file (default: $NATS_CREDS)"), Flag.optional),
  tlsCa: Flag.String("tls-ca").pipe(
    Flag.withDescription("CA certificate (PEM) to verify the server with (default: $NATS_CA)"),
    Flag.optional
  )
}

export interface Flags {
  readonly server: Option.Option<string>
  readonly user: Option.Option<string>
  readonly password: Option.Option<Redacted.Redacted<string>>
  readonly token: Option.Option<Redacted.Redacted<string>>
  readonly creds: Option.Option<string>
  readonly tlsCa: Option.Option<string>
}

export type Connect = (flags: Flags) => Layer.Layer<NatsClient.NatsClient, NatsError.NatsError | Config.ConfigError>

const config = {
  ...NatsClient.defaultConfig,
  tls: Config.String("NATS_CA").pipe(
    Config.option,
    Config.map(Option.match({ onNone: () => undefined, onSome: (caFile) => ({ caFile }) }))
  )
}

/** The flags given, under the names of the environment variables they stand in for. */
const asEnvironment = (flags: Flags): Record<string, string | undefined> => ({
  NATS_URL: Option.getOrUndefined(flags.server),
  NATS_USER: Option.getOrUndefined(flags.user),
  NATS_PASSWORD: Option.getOrUndefined(Option.map(flags.password, Redacted.value)),
  NATS_TOKEN: Option.getOrUndefined(Option.map(flags.token, Redacted.value)),
  NATS_CREDS: Option.getOrUndefined(flags.creds),
  NATS_CA: Option.getOrUndefined(flags.tlsCa)
})

const connectWithNatsJs: Connect = (flags) =>
  NatsClient.layerConfig(config).pipe(
    Layer.provide(ConfigProvider.layerAdd(ConfigProvider.fromEnvRecord(asEnvironment(flags)), { asPrimary: true }))
  )

/**
 * How the commands get their `NatsClient`: nats.js with the connection flags
 * by default. Tests and embedders replace it (for example with a client on
 * the in-memory NATS) by providing this reference.
 */
export const Connector = Context.Reference<Connect>("@nats-effect/cli/Connector", {
  defaultValue: () => connectWithNatsJs
})

/** Runs `effect` with a client connected as `flags` say, closed when it ends. */
export const connected = (flags: Flags) =>
<A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const connect = yield* Connector
    return yield* Effect.provide(effect, connect(flags))
  })
