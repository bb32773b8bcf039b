/**
 * @nats-effect/cli: the `nats-effect` command, as a program to run or embed.
 */
export * as Cli from "./Cli.ts"
