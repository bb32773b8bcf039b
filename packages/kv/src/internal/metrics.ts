/** KV's metric: the operations on each bucket, by operation, exported by `KeyValue`. */
import { Metric } from "effect"

export const OperationsName = "nats.kv.operations"
export const BucketAttribute = "nats.kv.bucket"
export const OperationAttribute = "nats.kv.operation"

export type Operation = "get" | "put" | "create" | "update" | "delete" | "purge" | "keys" | "history" | "watch"

export const operations = (bucket: string, operation: Operation): Metric.Counter<number> =>
  Metric.counter(OperationsName, {
    description: "Operations on a key-value bucket",
    attributes: { [BucketAttribute]: bucket, [OperationAttribute]: operation },
    incremental: true
  })
