/**
 * The object store's metrics: bytes put and got per bucket, counted once per
 * transfer (not per chunk), exported by `ObjectStore`.
 */
import { Metric } from "effect"

export const BytesPutName = "nats.object_store.put.bytes"
export const BytesGotName = "nats.object_store.get.bytes"
export const BucketAttribute = "nats.object_store.bucket"

export const bytesPut = (bucket: string): Metric.Counter<number> =>
  Metric.counter(BytesPutName, {
    description: "Bytes of the objects stored by puts",
    attributes: { [BucketAttribute]: bucket },
    incremental: true
  })

export const bytesGot = (bucket: string): Metric.Counter<number> =>
  Metric.counter(BytesGotName, {
    description: "Bytes of objects read by gets",
    attributes: { [BucketAttribute]: bucket },
    incremental: true
  })
