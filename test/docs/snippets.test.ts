// The ```ts blocks of README.md and of the JSDoc comments of the public
// modules (the API reference's examples) type-check: strict, resolved as
// `examples/` resolves the packages. A fragment names a prelude in an HTML
// comment on the line before its fence, `<!-- prelude: broker -->`, hidden on
// the rendered page; in a module, a block without one takes the module's
// prelude. The prelude gives it its imports and the names it takes as given,
// and may wrap it in `Effect.gen` (where `// snippet` stands). A block that is
// not a TypeScript program is fenced ```ts skip-check.
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import ts from "typescript"
import { describe, expect, it } from "vitest"

const root = resolve(import.meta.dirname, "../..")

const imports = `import { NatsBroker, NatsClient, NatsHeaders, NatsMessage } from "@nats-effect/core"
import { KeyValue } from "@nats-effect/kv"
import { ObjectStore } from "@nats-effect/object-store"
import { Context, Effect, FileSystem, Layer, Schema, Stream } from "effect"`

const rpcImports = `${imports}
import { NatsRpc } from "@nats-effect/rpc"
import { Rpc, RpcClient, RpcGroup, RpcSerialization, RpcServer } from "effect/rpc"`

const clusterImports = `${imports}
import { NatsCluster } from "@nats-effect/cluster"
import { ClusterSchema, ClusterWorkflowEngine, Entity } from "effect/cluster"
import { Rpc } from "effect/rpc"`

/** Inside a generator, where a fragment's `yield*` is at home. */
const inEffect = (declarations: string, start = "") => `${imports}
${declarations}
export const program = Effect.gen(function*() {
${start}// snippet
})`

const preludes: Record<string, string> = {
  imports,
  broker: inEffect(`const Quote = Schema.Struct({ symbol: Schema.String, price: Schema.Number })
class Prices extends Context.Service<Prices, {
  readonly quote: (symbol: string) => Effect.Effect<typeof Quote.Type>
}>()("app/Prices") {}`),
  jetstream: `${imports}
const Job = Schema.Struct({ image: Schema.String, width: Schema.Int })
declare const resize: (job: typeof Job.Type) => Effect.Effect<void>`,
  "object-store": inEffect(`declare const bytesStream: Stream.Stream<Uint8Array>`),
  "object-store-bucket": inEffect("", "const store = yield* ObjectStore.ObjectStore\n"),
  "object-store-services": `${imports}
declare const png: Uint8Array`,
  kv: inEffect(""),
  persistence: `${imports}
import { Persistence } from "effect/persistence"`,
  asyncapi: inEffect(`const Order = Schema.Struct({ id: Schema.String, quantity: Schema.Int })
const Price = Schema.Struct({ symbol: Schema.String, price: Schema.Number })
const Shipment = Schema.Struct({ order: Schema.String })
declare const handleOrder: (order: typeof Order.Type, message: NatsMessage.Message) => Effect.Effect<void>
declare const quote: (symbol: string) => Effect.Effect<typeof Price.Type>
declare const bill: (payment: unknown) => Effect.Effect<typeof Shipment.Type>
declare const Shipments: NatsBroker.Publisher<typeof Shipment>
declare const onFlag: (on: boolean | undefined) => Effect.Effect<void>
declare const onUpload: (info: ObjectStore.ObjectInfo) => Effect.Effect<void>`,
    "const fs = yield* FileSystem.FileSystem\n"
  ),
  testing: `import { Effect, Layer, Schema } from "effect"
import type { NatsBroker } from "@nats-effect/core"
const Order = Schema.Struct({ id: Schema.String, item: Schema.String, quantity: Schema.Int })
declare const App: Layer.Layer<never, never, NatsBroker.NatsBroker>`,
  "testing-jetstream": `import { assert, it } from "@effect/vitest"
import { type NatsBroker, type NatsClient, NatsHeaders } from "@nats-effect/core"
import { KeyValue } from "@nats-effect/kv"
import { NatsTest } from "@nats-effect/testing"
import { Effect, type Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
const Stock = Schema.Struct({ available: Schema.Int })
class Inventory extends KeyValue.Service<Inventory>()("app/Inventory", { bucket: "inventory", schema: Stock }) {}
declare const App: Layer.Layer<Inventory, never, NatsClient.NatsClient | NatsBroker.NatsBroker>`,
  adapter: `import type { Layer } from "effect"
import type { NatsClient } from "@nats-effect/core"
declare const MyDriver: { readonly layer: () => Layer.Layer<NatsClient.NatsClient> }`,

  // The examples of the modules, by default their module's.
  "core/src/NatsBroker.ts": inEffect(`import { NodeRuntime } from "@effect/platform-node"
const Order = Schema.Struct({ id: Schema.String, quantity: Schema.Int })
const Quote = Schema.Struct({ symbol: Schema.String, price: Schema.Number })
declare const quote: (symbol: string) => Effect.Effect<typeof Quote.Type>
declare const Audit: NatsBroker.Middleware
declare const Created: Layer.Layer<never, never, NatsBroker.NatsBroker>
declare const Cancelled: Layer.Layer<never, never, NatsBroker.NatsBroker>
const Shipment = Schema.Struct({ id: Schema.String })
declare const order: typeof Order.Type
declare const msg: NatsClient.Msg
declare const observer: NatsBroker.Observer
declare const App: Layer.Layer<never>
declare const HandlerA: Layer.Layer<never, never, NatsBroker.NatsBroker>
declare const HandlerB: Layer.Layer<never, never, NatsBroker.NatsBroker>
declare const SendOnStart: Effect.Effect<void, never, NatsBroker.NatsBroker>`),
  "kv/src/KeyValue.ts": inEffect(`import { Persistence } from "effect/persistence"
const Flag = Schema.Struct({ on: Schema.Boolean })`),
  "object-store/src/ObjectStore.ts": inEffect(`declare const thumbnail: (chunk: Uint8Array) => Uint8Array`),
  "testing/src/NatsTest.ts": inEffect(`import { assert, it, layer } from "@effect/vitest"
import { NatsTest } from "@nats-effect/testing"
import { Exit } from "effect"
const Order = Schema.Struct({ id: Schema.String, quantity: Schema.Int })
declare const order: typeof Order.Type
declare const items: ReadonlyArray<string>
declare const bytes: Uint8Array
declare const App: Layer.Layer<never, never, NatsBroker.NatsBroker>
declare const OrderCreated: Layer.Layer<never, never, NatsBroker.NatsBroker>
declare const Confirmations: Layer.Layer<never, never, NatsBroker.NatsBroker>
declare const AppOn: (nats: Layer.Layer<NatsClient.NatsClient>) => Layer.Layer<never, never, NatsBroker.NatsBroker>`),
  rpc: rpcImports,
  "rpc/src/NatsRpc.ts": rpcImports,
  "rpc-math": `${rpcImports}
class MathRpcs extends RpcGroup.make(
  Rpc.make("Add", { payload: { a: Schema.Number, b: Schema.Number }, success: Schema.Number })
) {}`,
  cluster: clusterImports,
  "cluster/src/NatsCluster.ts": `${clusterImports}
import type { Sharding } from "effect/cluster"
import type { WorkflowEngine } from "effect/workflow"
declare const CartEntity: Layer.Layer<never, never, Sharding.Sharding>
declare const CheckoutWorkflow: Layer.Layer<never, never, WorkflowEngine.WorkflowEngine>`,
  "testing/src/NodeProcess.ts": inEffect(`import { NodeProcess } from "@nats-effect/testing"
declare const server: { readonly url: string }`),
  "testing/src/suites/index.ts": `import type { Layer } from "effect"
import type { NatsClient } from "@nats-effect/core"
declare const MyAdapter: { readonly layer: () => Layer.Layer<NatsClient.NatsClient> }`
}

interface Snippet {
  /** The file, relative to the root. */
  readonly file: string
  /** The line of the opening fence. */
  readonly line: number
  readonly code: string
  readonly prelude: string | undefined
  readonly skip: boolean
}

/** The ```ts blocks of a markdown text, or of the comments of a module (their `*` taken off). */
const snippets = (file: string, defaultPrelude?: string): ReadonlyArray<Snippet> => {
  const text = readFileSync(join(root, file), "utf8")
  const lines = defaultPrelude === undefined ? text.split("\n") : text.split("\n").map((line) => line.replace(/^\s*\* ?/, ""))
  const found: Array<Snippet> = []
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```ts(?:\s+(skip-check))?\s*$/.exec(lines[i]!)
    if (fence === null) continue
    const end = lines.findIndex((text, j) => j > i && text.startsWith("```"))
    if (end === -1) throw new Error(`${file}:${i + 1}: the ts block is not closed`)
    const marker = /^<!-- prelude: ([\w-]+) -->$/.exec(lines[i - 1] ?? "")
    found.push({
      file,
      line: i + 1,
      code: lines.slice(i + 1, end).join("\n"),
      prelude: marker?.[1] ?? defaultPrelude,
      skip: fence[1] !== undefined
    })
    i = end
  }
  return found
}

/** The public modules: those of `src/` and `src/suites/`; `internal/` is not documented. */
const modules = readdirSync(join(root, "packages")).flatMap((name) =>
  [`packages/${name}/src`, `packages/${name}/src/suites`]
    .filter((dir) => existsSync(join(root, dir)))
    .flatMap((dir) => readdirSync(join(root, dir)).filter((file) => file.endsWith(".ts")).map((file) => `${dir}/${file}`))
)

const all = [
  ...snippets("README.md"),
  ...modules.flatMap((file) => {
    const prelude = relative(join(root, "packages"), join(root, file))
    return snippets(file, prelude in preludes ? prelude : "imports")
  })
]
const checked = all.filter((snippet) => !snippet.skip)

/** Each snippet as a module of `examples/`, so it resolves the packages as an example does. */
const files = new Map(checked.map((snippet) => {
  const prelude = snippet.prelude === undefined ? "// snippet" : preludes[snippet.prelude]
  if (prelude === undefined) throw new Error(`${snippet.file}:${snippet.line}: no prelude named ${snippet.prelude}`)
  const before = prelude.slice(0, prelude.indexOf("// snippet"))
  const source = prelude.replace("// snippet", () => snippet.code) + "\nexport {}\n"
  const fileName = join(root, "examples", `${snippet.file.replaceAll("/", "_")}-${snippet.line}.ts`)
  return [fileName, { snippet, source, offset: before.split("\n").length - 1 }] as const
}))

const { config } = ts.readConfigFile(join(root, "tsconfig.json"), ts.sys.readFile)
const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root)
// Strict as the workspace, but a snippet may show a value without using it.
const compilerOptions = { ...options, noEmit: true, noUnusedLocals: false, noUnusedParameters: false }
const host = ts.createCompilerHost(compilerOptions)
const { fileExists, readFile, getSourceFile } = host
host.fileExists = (fileName) => files.has(fileName) || fileExists.call(host, fileName)
host.readFile = (fileName) => files.get(fileName)?.source ?? readFile.call(host, fileName)
host.getSourceFile = (fileName, languageVersion, ...rest) => {
  const file = files.get(fileName)
  return file === undefined
    ? getSourceFile.call(host, fileName, languageVersion, ...rest)
    : ts.createSourceFile(fileName, file.source, languageVersion, true)
}
// One program for every snippet.
const program = ts.createProgram([...files.keys()], compilerOptions, host)

/** The errors of one snippet, each at its line in its file. */
const errorsOf = (fileName: string): ReadonlyArray<string> => {
  const { snippet, offset } = files.get(fileName)!
  const sourceFile = program.getSourceFile(fileName)!
  return [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)].map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")
    if (diagnostic.start === undefined) return message
    const line = sourceFile.getLineAndCharacterOfPosition(diagnostic.start).line - offset
    const codeLines = snippet.code.split("\n").length
    return line >= 0 && line < codeLines
      ? `${snippet.file}:${snippet.line + 1 + line}: ${message}`
      : `${snippet.file}:${snippet.line} (prelude ${snippet.prelude}): ${message}`
  })
}

describe("snippets", () => {
  it("README.md and the modules' comments have ts blocks, each checked unless marked skip-check", () => {
    expect(checked.filter((snippet) => snippet.file === "README.md").length).toBeGreaterThan(10)
    expect(checked.filter((snippet) => snippet.file !== "README.md").length).toBeGreaterThan(20)
  })

  for (const [fileName, { snippet }] of files) {
    it(`the ts block at ${snippet.file}:${snippet.line} type-checks`, () => {
      expect(errorsOf(fileName)).toEqual([])
    })
  }
})
