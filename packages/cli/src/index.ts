/**
 * @nats-effect/cli: the `nats-effect` command, as a program to run or embed.
 *
 * @module @nats-effect/cli
 */
export * as Cli from "./Cli.ts"
