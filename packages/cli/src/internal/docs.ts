/**
 * `nats-effect docs gen | serve`: the AsyncAPI document of an app module, as
 * a file or as a page rendered by `@asyncapi/react-component`.
 *
 * The module's default export (or its `App` export) is the app's layer with
 * everything provided but the broker and the client; `NatsBroker.asyncApi`
 * builds it on the in-memory NATS, connecting nowhere and running nothing.
 */
import * as Http from "node:http"
import { createRequire } from "node:module"
import { pathToFileURL } from "node:url"
import { NatsBroker, type NatsClient } from "@nats-effect/core"
import { Effect, FileSystem, Layer, Option, Path, type PlatformError, Predicate, Schema, type Stdio } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Yaml from "yaml"
import * as Output from "./output.ts"

/** Loading the module, building its document or serving it failed; the message says why. */
export class DocsError extends Schema.TaggedError<DocsError>("@nats-effect/cli/DocsError")(
  "DocsError",
  { message: Schema.String }
) {}

const module = Argument.File("module", { mustExist: true }).pipe(
  Argument.withDescription("the app's module: its default export, or its App export, is the app's layer")
)
const title = Flag.String("title").pipe(
  Flag.withDescription("the document's title (default: the name in the module's package.json, else the file's name)"),
  Flag.optional
)
// `--version` is the command's own version flag.
const appVersion = Flag.String("app-version").pipe(
  Flag.withDescription("the app's version (default: the version in the module's package.json, else 0.0.0)"),
  Flag.optional
)
const host = Flag.String("host").pipe(
  Flag.withDescription("the NATS server the app connects to (host:port), listed as the document's server"),
  Flag.optional
)

const firstLine = (text: string) => text.split("\n")[0]!

/** The app's layer: the module's default export, else its `App` export. */
const loadApp = (file: string) =>
  Effect.gen(function*() {
    const exports = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(file).href) as Promise<Record<string, unknown>>,
      catch: (cause) => new DocsError({ message: `cannot load ${file}: ${firstLine(String(cause))}` })
    })
    const app = [exports["default"], exports["App"]].find(Layer.isLayer)
    if (app === undefined) {
      return yield* new DocsError({ message: `${file} exports no layer: export the app's layer as default or as App` })
    }
    // What it requires besides the broker and the client is not known until it is built.
    return app as Layer.Layer<unknown, unknown, NatsBroker.NatsBroker | NatsClient.NatsClient>
  })

/** The nearest package.json above `file`, if any. */
const packageOf = (file: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    for (let dir = path.dirname(file);; dir = path.dirname(dir)) {
      const candidate = path.join(dir, "package.json")
      if (yield* fs.exists(candidate)) {
        const text = yield* fs.readFileString(candidate)
        const json: unknown = yield* Effect.try({
          try: () => JSON.parse(text),
          catch: () => new DocsError({ message: `${candidate} is not JSON` })
        })
        return {
          name: Predicate.hasProperty(json, "name") && typeof json.name === "string" ? json.name : undefined,
          version: Predicate.hasProperty(json, "version") && typeof json.version === "string" ? json.version : undefined
        }
      }
      if (path.dirname(dir) === dir) return { name: undefined, version: undefined }
    }
  })

interface DocumentFlags {
  readonly module: string
  readonly title: Option.Option<string>
  readonly appVersion: Option.Option<string>
  readonly host: Option.Option<string>
}

const didNotBuild = (file: string) => (error: unknown) =>
  new DocsError({
    message: `${file}: the app's layer did not build: ${
      firstLine(Predicate.hasProperty(error, "message") ? String(error.message) : String(error))
    }`
  })

/** The module's AsyncAPI document; a failure to load or build it is one `DocsError`. */
const documentOf = (flags: DocumentFlags) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const file = path.resolve(flags.module)
    const app = yield* loadApp(file)
    const pkg = yield* packageOf(file)
    const fileName = path.basename(file, path.extname(file))
    return yield* NatsBroker.asyncApi(app, {
      title: Option.getOrElse(flags.title, () => pkg.name ?? fileName),
      version: Option.getOrElse(flags.appVersion, () => pkg.version ?? "0.0.0"),
      servers: Option.match(flags.host, { onNone: () => undefined, onSome: (host) => ({ nats: { host } }) })
    }).pipe(
      // A service the app needs and was not given is a defect of its build: reported the same way.
      Effect.mapError(didNotBuild(file)),
      Effect.catchDefect((defect) => Effect.fail(didNotBuild(file)(defect)))
    )
  })

const json = (document: NatsBroker.AsyncApiDocument) => JSON.stringify(document, null, 2)

const yaml = (document: NatsBroker.AsyncApiDocument) => Yaml.stringify(document, { aliasDuplicateObjects: false })

/** How `--out` writes the document, by the file's extension. */
const formats: Readonly<Record<string, ((document: NatsBroker.AsyncApiDocument) => string) | undefined>> = {
  ".json": (document) => `${json(document)}\n`,
  ".yaml": yaml,
  ".yml": yaml
}

const summary = (document: NatsBroker.AsyncApiDocument) =>
  `${Object.keys(document.channels).length} channels, ${Object.keys(document.operations).length} operations`

const printJson = (document: NatsBroker.AsyncApiDocument) => Output.print(json(document))

/** Writes the document to `out`, in the format its extension says. */
const writerTo = (out: string) =>
  Effect.gen(function*() {
    const format = formats[(yield* Path.Path).extname(out).toLowerCase()]
    if (format === undefined) {
      return yield* new DocsError({ message: `--out ${out}: the file's name must end in .json, .yaml or .yml` })
    }
    const fs = yield* FileSystem.FileSystem
    return (document: NatsBroker.AsyncApiDocument) =>
      Effect.andThen(fs.writeFileString(out, format(document)), Output.note(`wrote ${out}: ${summary(document)}`))
  })

const gen = Command.make(
  "gen",
  {
    module,
    title,
    appVersion,
    host,
    out: Flag.String("out").pipe(
      Flag.withDescription("write the document to this file, as YAML when it ends in .yaml or .yml (default: JSON on stdout)"),
      Flag.optional
    )
  },
  (input) =>
    Effect.gen(function*() {
      // Before the app is built: a name it cannot write fails at once.
      const write = yield* Option.match(input.out, { onNone: () => Effect.succeed(printJson), onSome: writerTo })
      yield* write(yield* documentOf(input))
    })
).pipe(Command.withDescription("Write the AsyncAPI 3.0 document of an app module"))

const require = createRequire(import.meta.url)

/** What draws the page: an optional peer dependency (it brings React along), so only `docs serve` needs it. */
const renderer = "@asyncapi/react-component"

/**
 * The renderer's standalone bundle and stylesheet, served from node_modules
 * (the page fetches nothing elsewhere), or a one-line `DocsError` naming
 * what to install when the renderer is missing.
 */
const resolveAssets = Effect.try({
  try: () => ({
    "/asyncapi-react/standalone.js": {
      file: require.resolve(`${renderer}/browser/standalone/index.js`),
      type: "text/javascript; charset=utf-8"
    },
    "/asyncapi-react/default.min.css": {
      file: require.resolve(`${renderer}/styles/default.min.css`),
      type: "text/css; charset=utf-8"
    }
  }),
  catch: () =>
    new DocsError({ message: `docs serve draws the page with ${renderer}, which is not installed: npm install ${renderer}@3` })
})

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

/** The page: the standalone renderer, given the document's URL (it fetches it from this server). */
const page = (document: NatsBroker.AsyncApiDocument) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(`${document.info.title} ${document.info.version}`)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/asyncapi-react/default.min.css">
</head>
<body>
<div id="asyncapi"></div>
<script src="/asyncapi-react/standalone.js"></script>
<script>
AsyncApiStandalone.render(
  { schema: { url: "/asyncapi.json" }, config: { show: { sidebar: true } } },
  document.getElementById("asyncapi")
)
</script>
</body>
</html>
`

type Routes = Readonly<Record<string, { readonly body: string | Uint8Array; readonly type: string }>>

/** An HTTP server answering GETs of `routes` (404 otherwise), closed with the scope. */
const listen = (port: number, routes: Routes) =>
  Effect.acquireRelease(
    Effect.callback<Http.Server, DocsError>((resume) => {
      const server = Http.createServer((request, response) => {
        const route = request.method === "GET" || request.method === "HEAD"
          ? routes[new URL(request.url ?? "/", "http://localhost").pathname]
          : undefined
        if (route === undefined) {
          response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n")
          return
        }
        response.writeHead(200, { "content-type": route.type, "cache-control": "no-cache" })
        response.end(request.method === "HEAD" ? undefined : route.body)
      })
      server.once("error", (error) => resume(Effect.fail(new DocsError({ message: `cannot listen on port ${port}: ${error.message}` }))))
      server.listen(port, () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        // Browsers keep connections open: close them rather than wait for them.
        server.closeAllConnections()
      })
  )

const serve = Command.make(
  "serve",
  {
    module,
    title,
    appVersion,
    host,
    port: Flag.Int("port").pipe(Flag.withDescription("the port to listen on (0: any free port)"), Flag.withDefault(8080))
  },
  (input) =>
    Effect.gen(function*() {
      // Before the app is built: a missing renderer fails at once.
      const assets = yield* resolveAssets
      const document = yield* documentOf(input)
      const fs = yield* FileSystem.FileSystem
      const routes: Routes = {
        "/": { body: page(document), type: "text/html; charset=utf-8" },
        "/asyncapi.json": { body: json(document), type: "application/json" },
        "/asyncapi.yaml": { body: yaml(document), type: "application/yaml" },
        ...Object.fromEntries(
          yield* Effect.forEach(
            Object.entries(assets),
            ([route, asset]) => Effect.map(fs.readFile(asset.file), (body) => [route, { body, type: asset.type }] as const)
          )
        )
      }
      const server = yield* listen(input.port, routes)
      const address = server.address()
      const port = address !== null && typeof address === "object" ? address.port : input.port
      yield* Output.note(`serving the AsyncAPI document of ${document.info.title} (${summary(document)}) on http://localhost:${port}/`)
      return yield* Effect.never
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Serve the AsyncAPI document of an app module as a page, until interrupted"))

type Typed<Name extends string> = Command.Command<
  Name,
  any, // the command's own input: only its handler reads it
  {},
  DocsError | PlatformError.PlatformError,
  FileSystem.FileSystem | Path.Path | Stdio.Stdio
>

/** Typed by hand: the inferred type names modules of other packages. */
const subcommands: readonly [Typed<"gen">, Typed<"serve">] = [gen, serve]

export const command: Command.Command<
  "docs",
  {},
  {},
  DocsError | PlatformError.PlatformError,
  FileSystem.FileSystem | Path.Path | Stdio.Stdio
> = Command.make("docs").pipe(
  Command.withDescription("The AsyncAPI document of an app: write it, or serve it as a page"),
  Command.withSubcommands(subcommands)
)
