import { assert, describe, it } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { Deferred, Effect } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { run } from "../src/app.ts"

interface OtlpAttribute {
  readonly key: string
  readonly value: { readonly stringValue?: string; readonly intValue?: string | number; readonly doubleValue?: number }
}
interface OtlpResource {
  readonly resource: { readonly attributes: ReadonlyArray<OtlpAttribute> }
}
interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
}
interface ExportedSpan extends OtlpSpan {
  readonly service: string
}
interface OtlpDataPoint {
  readonly attributes: ReadonlyArray<OtlpAttribute>
  readonly asInt?: string | number
  readonly asDouble?: number
}
interface ExportedMetric {
  readonly service: string
  readonly name: string
  readonly dataPoints: ReadonlyArray<OtlpDataPoint>
}

const serviceOf = (resource: OtlpResource) =>
  resource.resource.attributes.find((attribute) => attribute.key === "service.name")?.value.stringValue ?? ""

/**
 * An OTLP/HTTP JSON collector on a free loopback port: it keeps the spans and
 * metrics it receives, and resolves `traced` once spans of both services have
 * arrived, `measured` once both have exported their metrics.
 */
const collector = Effect.gen(function*() {
  const spans: Array<ExportedSpan> = []
  const metrics: Array<ExportedMetric> = []
  const metricExporters: Array<string> = []
  const traced = yield* Deferred.make<void>()
  const measured = yield* Deferred.make<void>()
  const both = (services: ReadonlyArray<string>) => services.includes("orders") && services.includes("checkout")
  const receive = (path: string, body: any) => {
    if (path === "/v1/traces") {
      for (const resource of body.resourceSpans ?? []) {
        for (const scope of resource.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) spans.push({ ...span, service: serviceOf(resource) })
        }
      }
      if (both(spans.map((span) => span.service))) Deferred.doneUnsafe(traced, Effect.void)
    } else if (path === "/v1/metrics") {
      for (const resource of body.resourceMetrics ?? []) {
        metricExporters.push(serviceOf(resource))
        for (const scope of resource.scopeMetrics ?? []) {
          for (const metric of scope.metrics ?? []) {
            const dataPoints = metric.sum?.dataPoints ?? metric.histogram?.dataPoints ?? metric.gauge?.dataPoints ?? []
            metrics.push({ service: serviceOf(resource), name: metric.name, dataPoints })
          }
        }
      }
      if (both(metricExporters)) Deferred.doneUnsafe(measured, Effect.void)
    }
  }
  const server = yield* Effect.acquireRelease(
    Effect.callback<Http.Server>((resume) => {
      const server = Http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          receive(request.url ?? "", JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"))
          response.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, spans, metrics, traced, measured }
})

/** The value of the data points of `name` that `service` exported, whose attributes include `attributes`. */
const sum = (
  metrics: ReadonlyArray<ExportedMetric>,
  service: string,
  name: string,
  attributes: Record<string, string>
) =>
  metrics
    .filter((metric) => metric.service === service && metric.name === name)
    .flatMap((metric) => metric.dataPoints)
    .filter((point) =>
      Object.entries(attributes).every(([key, value]) =>
        point.attributes.some((attribute) => attribute.key === key && attribute.value.stringValue === value)
      )
    )
    .reduce((total, point) => Math.max(total, Number(point.asInt ?? point.asDouble ?? 0)), 0)

describe("observability example", () => {
  it.live("exports one trace across both services and their metrics over OTLP", () =>
    Effect.gen(function*() {
      const otlp = yield* collector
      const result = yield* run(NatsClient.layerMemory(), otlp.url)
      assert.deepStrictEqual(result.quote, { symbol: "ACME", price: 12.5 })

      // The exporters flush when the services stop: both have exported by now.
      yield* Deferred.await(otlp.traced).pipe(Effect.timeout("10 seconds"))
      const find = (service: string, name: string) => {
        const span = otlp.spans.find((span) => span.service === service && span.name === name)
        assert.isDefined(span, `${service} exported the span ${name}`)
        return span!
      }
      const checkout = find("checkout", "checkout o-1")
      const request = find("checkout", "request prices.quote")
      const publish = find("checkout", "publish orders.created")
      const quoted = find("orders", "process prices.quote")
      const ordered = find("orders", "process orders.created")
      // One trace: checkout's spans and the handlers' spans in the other service.
      for (const span of [request, publish, quoted, ordered]) assert.strictEqual(span.traceId, checkout.traceId)
      assert.strictEqual(request.parentSpanId, checkout.spanId)
      assert.strictEqual(quoted.parentSpanId, request.spanId)
      assert.strictEqual(ordered.parentSpanId, publish.spanId)

      yield* Deferred.await(otlp.measured).pipe(Effect.timeout("10 seconds"))
      // Each service exports its own series: what checkout sent, not what orders did.
      const sent = { "messaging.destination.name": "prices.quote", "messaging.operation.name": "request" }
      assert.strictEqual(sum(otlp.metrics, "checkout", "messaging.client.sent.messages", sent), 1)
      assert.strictEqual(sum(otlp.metrics, "orders", "messaging.client.sent.messages", sent), 0)
      assert.isAbove(
        sum(otlp.metrics, "checkout", "messaging.client.sent.bytes", { "messaging.destination.name": "orders.created" }),
        0
      )
      // ... and orders' subscribers what they received and handled.
      for (const name of ["messaging.client.consumed.messages", "messaging.process.handled.messages"]) {
        for (const subject of ["orders.created", "prices.quote"]) {
          assert.strictEqual(sum(otlp.metrics, "orders", name, { "messaging.destination.name": subject }), 1, name)
        }
      }
      assert.strictEqual(
        sum(otlp.metrics, "checkout", "messaging.client.consumed.messages", { "messaging.destination.name": "prices.quote" }),
        0
      )
    }))
})
