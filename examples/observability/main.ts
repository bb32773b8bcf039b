// `node examples/observability/main.ts`: the two services of the example
// (`orders`, `checkout`) on the NATS at NATS_URL when it is set, else on the
// in-memory NATS, exporting traces, metrics and logs over OTLP/HTTP JSON to
// OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318, a collector,
// Jaeger or Grafana's otel-lgtm image). Exits 0 once the checkout is done and
// the exporters have flushed.
import { NodeRuntime } from "@effect/platform-node"
import { Config, Effect } from "effect"
import { Nats } from "../nats.ts"
import { run } from "./src/app.ts"

Effect.gen(function*() {
  const collector = yield* Config.String("OTEL_EXPORTER_OTLP_ENDPOINT").pipe(Config.withDefault("http://localhost:4318"))
  const result = yield* run(Nats, collector)
  yield* Effect.log(`checkout done: ${JSON.stringify(result)}; traces and metrics exported to ${collector}`)
}).pipe(NodeRuntime.runMain)
