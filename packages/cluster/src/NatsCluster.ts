/**
 * `NatsCluster`: Effect Cluster (`effect/cluster`: sharded entities across
 * runners, and `effect/workflow` on top) with NATS as its only
 * infrastructure. Runners call each other over `NatsRpc`; they register,
 * and lock their shards, in a KV bucket (`layerRunnerStorage`); persisted
 * messages and their replies are kept in JetStream (`layerMessageStorage`).
 *
 * ```ts
 * const Runner = Layer.mergeAll(CartEntity, CheckoutWorkflow).pipe(
 *   Layer.provide(ClusterWorkflowEngine.layer),
 *   Layer.provideMerge(NatsCluster.layer()),
 *   Layer.provide(NatsClient.layerConfig())
 * )
 * ```
 *
 * Each runner has an address (`{ host, port }`, as Effect's runners have)
 * and serves its RPCs on a subject of its own made from it,
 * `cluster.<host>.<port>`: give one with `runnerAddress`, or let `layer` make
 * a unique one per process (the host name and a random id, the process id).
 * The defaults (`defaultShardingConfig`) are such that when a runner dies,
 * another takes over its shards within 30 seconds: its shard locks expire 15
 * seconds after its last refresh (on the NATS server's clock: the bucket's
 * TTL), runners check each other every 5 seconds by a ping that a dead
 * runner's subject answers at once with no responders.
 *
 * All runners and clients of a cluster must use the same shard groups,
 * shards per group, shard lock expiration, buckets and subject prefix.
 *
 * @since 0.2.0
 * @module
 */
import type { NatsClient, NatsError } from "@nats-effect/core"
import type { KeyValueError } from "@nats-effect/kv"
import { NatsRpc } from "@nats-effect/rpc"
import { Duration, Effect, Layer, Option } from "effect"
import {
  MessageStorage,
  RunnerAddress,
  RunnerHealth,
  Runners,
  RunnerServer,
  RunnerStorage,
  type Sharding,
  ShardingConfig,
  Snowflake
} from "effect/cluster"
import { RpcSerialization } from "effect/rpc"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { token } from "./internal/keys.ts"
import * as Messages from "./internal/messageStorage.ts"
import * as Runs from "./internal/runnerStorage.ts"

/**
 * Options of `layerRunnerStorage`.
 *
 * @since 0.2.0
 * @category options
 */
export interface RunnerStorageOptions {
  /** The KV bucket. Default `cluster_runners`. */
  readonly bucket?: string | undefined
}

/**
 * Options of `layerMessageStorage`.
 *
 * @since 0.2.0
 * @category options
 */
export interface MessageStorageOptions {
  /**
   * The name of the storage: its KV bucket, kept in the JetStream stream
   * `KV_<stream>` (file storage). Default `cluster_messages`.
   */
  readonly stream?: string | undefined
}

/**
 * `RunnerStorage` on a NATS KV bucket: runners register there (with their
 * health and a machine id no live runner shares), and take, refresh and
 * release their shard locks by compare-and-set. The bucket's TTL is the
 * shard lock expiration (`ShardingConfig.shardLockExpiration`): a runner
 * that stops refreshing (every `shardLockRefreshInterval`, at most a third
 * of the expiration) loses its registration and its locks when the server
 * removes them, on the server's clock.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerRunnerStorage = (
  options: RunnerStorageOptions = {}
): Layer.Layer<RunnerStorage.RunnerStorage, KeyValueError.KeyValueError, NatsClient.NatsClient | ShardingConfig.ShardingConfig> =>
  Layer.effect(
    RunnerStorage.RunnerStorage,
    Effect.flatMap(
      ShardingConfig.ShardingConfig,
      (config) => Runs.make({ bucket: options.bucket, ttl: config.shardLockExpiration })
    )
  )

/**
 * `MessageStorage` on JetStream (a KV bucket, file storage): requests and
 * their acks, interrupts and replies stored durably; the unprocessed
 * messages of a shard found by a marker per request; deliver-at times;
 * primary keys deduplicated by create. Claims, replies and resets are
 * compare-and-set writes, so several runners share it safely. It passes the
 * storage tests Effect holds `SqlMessageStorage` to. There are no
 * transactions: `withTransaction` runs its effect as it is (an activity
 * annotated `WithTransaction` is saved as any other).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerMessageStorage = (
  options: MessageStorageOptions = {}
): Layer.Layer<MessageStorage.MessageStorage, KeyValueError.KeyValueError, NatsClient.NatsClient> =>
  Layer.effect(
    MessageStorage.MessageStorage,
    Effect.flatMap(Messages.make(options), MessageStorage.makeEncoded)
  ).pipe(Layer.provide(Snowflake.layerGenerator))

/**
 * What the defaults of `layer` change in Effect's `ShardingConfig.defaults`,
 * so that a dead runner's shards are taken over within 30 seconds.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultShardingConfig: Partial<ShardingConfig.ShardingConfig["Service"]> = {
  shardLockExpiration: Duration.seconds(15),
  shardLockRefreshInterval: Duration.seconds(5),
  runnerHealthCheckInterval: Duration.seconds(5)
}

/**
 * Options of `layer` and `layerClientOnly`.
 *
 * @since 0.2.0
 * @category options
 */
export interface ClusterOptions {
  /** Over `ShardingConfig.defaults` and `defaultShardingConfig`. */
  readonly shardingConfig?: Partial<ShardingConfig.ShardingConfig["Service"]> | undefined
  /**
   * This runner's address, whose subject other runners call it on. Default:
   * `shardingConfig.runnerAddress` when given, else one made for this
   * process (never Effect's shared default, `localhost:34431`).
   */
  readonly runnerAddress?: { readonly host: string; readonly port: number } | undefined
  /** The prefix of the runners' subjects (`<prefix>.<host>.<port>`). Default `cluster`. */
  readonly subjectPrefix?: string | undefined
  /** Of the runner-to-runner RPCs. Default `"json"`. */
  readonly serialization?: "json" | "binary" | undefined
  readonly runnerStorage?: RunnerStorageOptions | undefined
  readonly messageStorage?: MessageStorageOptions | undefined
  /** The RPC client's options (call timeout, pings), for calls to other runners. */
  readonly rpc?: NatsRpc.ClientOptions | undefined
}

/**
 * The subject a runner at `address` serves its RPCs on:
 * `<prefix>.<host>.<port>`, the host as one token (characters other than
 * `A-Z a-z 0-9 _ -` escaped as `=XX`).
 *
 * @since 0.2.0
 * @category utils
 */
export const runnerSubject = (
  address: { readonly host: string; readonly port: number },
  prefix = defaultSubjectPrefix
): string => `${prefix}.${token(address.host)}.${address.port}`

/**
 * The default prefix of the runners' subjects.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultSubjectPrefix = "cluster"

/** An address of its own for a runner that was given none. */
const processAddress = (): RunnerAddress.RunnerAddress =>
  RunnerAddress.make(`${hostname()}-${randomUUID().slice(0, 8)}`, process.pid)

// Made when the layer is built, so that each build of a runner has an address of its own.
const shardingConfig = (options: ClusterOptions) =>
  Layer.sync(ShardingConfig.ShardingConfig, () => ({
    ...ShardingConfig.defaults,
    ...defaultShardingConfig,
    ...options.shardingConfig,
    runnerAddress: Option.some(
      options.runnerAddress !== undefined
        ? RunnerAddress.make(options.runnerAddress.host, options.runnerAddress.port)
        : options.shardingConfig?.runnerAddress !== undefined
        ? Option.getOrElse(options.shardingConfig.runnerAddress, processAddress)
        : processAddress()
    )
  }))

const serialization = (options: ClusterOptions) =>
  options.serialization === "binary" ? RpcSerialization.layerSchemaBinary() : RpcSerialization.layerJson

/** Calls to other runners, each on its subject. */
const clientProtocol = (options: ClusterOptions) =>
  Layer.effect(
    Runners.RpcClientProtocol,
    Effect.gen(function*() {
      const context = yield* Effect.context<NatsClient.NatsClient | RpcSerialization.RpcSerialization>()
      const { codecFor } = yield* RpcSerialization.RpcSerialization
      return {
        codecFor,
        make: (address) =>
          NatsRpc.makeProtocolClient(runnerSubject(address, options.subjectPrefix), options.rpc).pipe(
            Effect.provideContext(context)
          )
      }
    })
  )

/**
 * The app's own `MessageStorage` and `RunnerStorage` when it provides them
 * (to this layer), else ours.
 */
const storage = (options: ClusterOptions, role: "runner" | "client") =>
  Layer.unwrap(Effect.gen(function*() {
    const messages = yield* Effect.serviceOption(MessageStorage.MessageStorage)
    const runners = yield* Effect.serviceOption(RunnerStorage.RunnerStorage)
    return Layer.merge(
      Option.match(messages, {
        onNone: () => layerMessageStorage(options.messageStorage),
        onSome: (own) => Layer.succeed(MessageStorage.MessageStorage, own)
      }),
      Option.match(runners, {
        onNone: () =>
          role === "runner"
            ? layerRunnerStorage(options.runnerStorage)
            : Layer.effect(RunnerStorage.RunnerStorage, Runs.make({ bucket: options.runnerStorage?.bucket, ttl: undefined })),
        onSome: (own) => Layer.succeed(RunnerStorage.RunnerStorage, own)
      })
    )
  }))

/**
 * A runner: provides `Sharding` and `Runners` (and the `MessageStorage`, for
 * `ClusterWorkflowEngine.layer`), serves the runner-to-runner RPCs on its
 * subject, and checks the other runners by ping. Storage is
 * `layerRunnerStorage` and `layerMessageStorage` unless the app provides its
 * own to this layer (`Layer.provide(NatsCluster.layer(), MyStorage)`).
 * Needs a `NatsClient`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: ClusterOptions = {}
): Layer.Layer<
  Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage,
  KeyValueError.KeyValueError | NatsError.NatsError,
  NatsClient.NatsClient
> =>
  Layer.unwrap(Effect.map(ShardingConfig.ShardingConfig, (config) => {
    const address = Option.getOrThrow(config.runnerAddress)
    const health = RunnerHealth.layerPing.pipe(Layer.provide(Runners.layerRpc), Layer.provide(clientProtocol(options)))
    return RunnerServer.layerWithClients.pipe(
      Layer.provide([
        NatsRpc.layerProtocolServer({ subject: runnerSubject(address, options.subjectPrefix) }),
        clientProtocol(options),
        health
      ]),
      Layer.provideMerge(storage(options, "runner"))
    )
  })).pipe(
    Layer.provide(serialization(options)),
    Layer.provide(shardingConfig(options))
  )

/**
 * A process that only sends to entities and workflows: provides `Sharding`
 * and `Runners` (and the `MessageStorage`), registers no runner and takes no
 * shards. Same storage as `layer`; it opens the runners' bucket without
 * changing its TTL. Needs a `NatsClient`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerClientOnly = (
  options: Omit<ClusterOptions, "runnerAddress"> = {}
): Layer.Layer<
  Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage,
  KeyValueError.KeyValueError,
  NatsClient.NatsClient
> =>
  RunnerServer.layerClientOnly.pipe(
    Layer.provide(clientProtocol(options)),
    Layer.provideMerge(storage(options, "client")),
    Layer.provide(serialization(options)),
    Layer.provide(ShardingConfig.layer({ ...defaultShardingConfig, ...options.shardingConfig }))
  )
