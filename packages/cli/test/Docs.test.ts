/**
 * `nats-effect docs gen | serve` on the fixture app modules: the document is
 * valid AsyncAPI 3.0 (the JSON Schema of `@asyncapi/specs`), YAML reads back
 * the same, and the served page renders the channels in headless Chromium
 * with nothing fetched from elsewhere than the command's server.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import specs from "@asyncapi/specs"
import { assert, describe, it } from "@effect/vitest"
import { NatsClient } from "@nats-effect/core"
import { Ajv, type SchemaObject } from "ajv"
import { Effect, Exit, Fiber } from "effect"
import { chromium } from "playwright-core"
import * as Yaml from "yaml"
import { runCli, started } from "./runCli.ts"

// As in AsyncApi.test.ts: the schema bundles its draft-07 meta-schema; formats are not checked.
const validate = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false, validateFormats: false })
  .compile(specs.schemas["3.0.0"] as SchemaObject)

const fixtures = Path.join(import.meta.dirname, "fixtures")
const shop = Path.join(fixtures, "shop", "app.ts")

/** The fixture's channels, by address (the reply channel has none). */
const addresses = ["orders.{region}", "prices.get", "shipments.created"]

const channelAddresses = (document: any) =>
  Object.values(document.channels).map((channel: any) => channel.address).filter((address) => address !== null).sort()

const temp = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "nats-effect-docs-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const succeeded = (exit: Exit.Exit<unknown, unknown>, stderr: string) =>
  assert.isTrue(Exit.isSuccess(exit), `failed: ${stderr}`)

/** `docs serve` of the fixture on a free port, until the scope closes; its URL. */
const serving = (args: ReadonlyArray<string> = []) =>
  Effect.map(
    started(["docs", "serve", shop, "--port", "0", ...args], "serving the AsyncAPI document"),
    ({ fiber, readyLine }) => ({ fiber, url: /on (http:\/\/\S+)$/.exec(readyLine)![1]! })
  )

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, type: response.headers.get("content-type"), body: await response.text() }
  })

describe("nats-effect docs gen", () => {
  it.effect("prints the app module's document on stdout: valid AsyncAPI 3.0, named after its package.json", () =>
    Effect.gen(function*() {
      const ran = yield* runCli(["docs", "gen", shop])
      succeeded(ran.exit, ran.stderr)
      assert.strictEqual(ran.stderr, "")
      const document = JSON.parse(ran.output)
      assert.isTrue(validate(document), JSON.stringify(validate.errors, null, 2))
      assert.deepStrictEqual(document.info, { title: "shop", version: "1.2.0" })
      assert.deepStrictEqual(channelAddresses(document), addresses)
      const [ordersKey] = Object.entries(document.channels).find(([, channel]: any) => channel.address === "orders.{region}")!
      const receiveOrders: any = Object.values(document.operations).find((operation: any) =>
        operation.channel.$ref === `#/channels/${ordersKey}`
      )
      assert.deepStrictEqual(receiveOrders.bindings, { nats: { queue: "workers", bindingVersion: "0.1.0" } })
      assert.strictEqual(receiveOrders.description, "Takes new orders")
    }).pipe(Effect.provide(NatsClient.layerMemory())))

  it.effect("--out writes JSON or YAML by the file's extension; the YAML reads back as the same document", () =>
    Effect.gen(function*() {
      const dir = yield* temp
      const flags = ["--title", "Shop", "--app-version", "2.0.0", "--host", "nats.example.com:4222"]
      const json = Path.join(dir, "asyncapi.json")
      const yaml = Path.join(dir, "asyncapi.yaml")
      const toJson = yield* runCli(["docs", "gen", shop, "--out", json, ...flags])
      succeeded(toJson.exit, toJson.stderr)
      assert.strictEqual(toJson.output, "")
      assert.strictEqual(toJson.stderr, `wrote ${json}: 4 channels, 3 operations\n`)
      const toYaml = yield* runCli(["docs", "gen", shop, "--out", yaml, ...flags])
      succeeded(toYaml.exit, toYaml.stderr)

      const document = JSON.parse(Fs.readFileSync(json, "utf8"))
      assert.isTrue(validate(document), JSON.stringify(validate.errors, null, 2))
      assert.deepStrictEqual(document.info, { title: "Shop", version: "2.0.0" })
      assert.deepStrictEqual(document.servers, { nats: { host: "nats.example.com:4222", protocol: "nats" } })
      const yamlText = Fs.readFileSync(yaml, "utf8")
      assert.match(yamlText, /^asyncapi: 3\.0\.0\n/)
      assert.deepStrictEqual(Yaml.parse(yamlText), document)

      const other = yield* runCli(["docs", "gen", shop, "--out", Path.join(dir, "asyncapi.txt")])
      assert.isTrue(Exit.isFailure(other.exit))
      assert.match(other.stderr, /^nats-effect: --out .*asyncapi\.txt: the file's name must end in \.json, \.yaml or \.yml\n$/)
    }).pipe(Effect.scoped, Effect.provide(NatsClient.layerMemory())))

  it.effect("a module without a layer, or whose layer needs a service it lacks, is one line and a failure", () =>
    Effect.gen(function*() {
      const notAnApp = yield* runCli(["docs", "gen", Path.join(fixtures, "not-an-app.ts")])
      assert.isTrue(Exit.isFailure(notAnApp.exit))
      assert.strictEqual(notAnApp.output, "")
      assert.strictEqual(
        notAnApp.stderr,
        `nats-effect: ${Path.join(fixtures, "not-an-app.ts")} exports no layer: export the app's layer as default or as App\n`
      )

      const needsAService = yield* runCli(["docs", "gen", Path.join(fixtures, "needs-a-service.ts")])
      assert.isTrue(Exit.isFailure(needsAService.exit))
      assert.strictEqual(
        needsAService.stderr,
        `nats-effect: ${Path.join(fixtures, "needs-a-service.ts")}: the app's layer did not build: Service not found: Database\n`
      )
    }).pipe(Effect.provide(NatsClient.layerMemory())))
})

describe("nats-effect docs serve", () => {
  it.effect("answers / with the page and /asyncapi.json (and .yaml) with the document, and stops when interrupted; a port in use is one line", () =>
    Effect.gen(function*() {
      const { fiber, url } = yield* serving()

      const page = yield* get(url)
      assert.strictEqual(page.status, 200)
      assert.strictEqual(page.type, "text/html; charset=utf-8")
      assert.include(page.body, "<title>shop 1.2.0</title>")
      assert.include(page.body, `<script src="/asyncapi-react/standalone.js"></script>`)
      assert.include(page.body, "AsyncApiStandalone.render(")

      const document = yield* get(`${url}asyncapi.json`)
      assert.strictEqual(document.status, 200)
      assert.strictEqual(document.type, "application/json")
      const generated = yield* runCli(["docs", "gen", shop])
      assert.deepStrictEqual(JSON.parse(document.body), JSON.parse(generated.output))
      const yaml = yield* get(`${url}asyncapi.yaml`)
      assert.strictEqual(yaml.type, "application/yaml")
      assert.deepStrictEqual(Yaml.parse(yaml.body), JSON.parse(generated.output))

      const bundle = yield* get(`${url}asyncapi-react/standalone.js`)
      assert.strictEqual(bundle.status, 200)
      assert.include(bundle.body, "AsyncApiStandalone")
      assert.strictEqual((yield* get(`${url}elsewhere`)).status, 404)

      const port = new URL(url).port
      const taken = yield* runCli(["docs", "serve", shop, "--port", port])
      assert.isTrue(Exit.isFailure(taken.exit))
      assert.match(taken.stderr, new RegExp(`^nats-effect: cannot listen on port ${port}: .*EADDRINUSE.*\n$`))

      yield* Fiber.interrupt(fiber)
      const refused = yield* Effect.promise(() => fetch(url).then(() => "answered", () => "refused"))
      assert.strictEqual(refused, "refused")
    }).pipe(Effect.scoped, Effect.provide(NatsClient.layerMemory())))

  it.effect("the page renders the channels in headless Chromium, fetching only from the server", () =>
    Effect.gen(function*() {
      const { url } = yield* serving()
      const browser = yield* Effect.acquireRelease(
        Effect.promise(() =>
          chromium.launch({
            executablePath: "/usr/bin/chromium",
            // Playwright adds --headless, --no-sandbox (it runs as root here) and a new profile.
            args: [
              "--disable-gpu",
              "--disable-quic",
              "--no-first-run",
              "--disable-background-networking",
              "--disable-component-update",
              "--disable-sync"
            ]
          })
        ),
        (browser) => Effect.promise(() => browser.close())
      )
      const page = yield* Effect.promise(() => browser.newPage())
      const requested: Array<string> = []
      const errors: Array<string> = []
      page.on("request", (request) => requested.push(request.url()))
      page.on("pageerror", (error) => errors.push(error.message))

      yield* Effect.promise(async () => {
        await page.goto(url)
        // Rendered once the renderer has fetched and parsed the document.
        await page.getByText("orders.{region}").first().waitFor()
      })
      const text = yield* Effect.promise(() => page.locator("body").innerText())
      for (const address of addresses) assert.include(text, address)
      assert.include(text, "Takes new orders")
      assert.deepStrictEqual(errors, [])
      assert.isTrue(requested.every((requestedUrl) => requestedUrl.startsWith(url)), requested.join(", "))
      assert.include(requested, `${url}asyncapi.json`)
    }).pipe(Effect.scoped, Effect.provide(NatsClient.layerMemory())), { timeout: 60_000 })
})
