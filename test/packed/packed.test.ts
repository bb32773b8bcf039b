/**
 * The packages as a user gets them, set up as README.md's "Use it in your
 * project" says, word for word: its blocks marked `<!-- packed: ... -->` are
 * the commands this test runs and the files it writes. The packages are
 * built and packed with `pnpm pack`, and installed with npm into a new
 * project outside the workspace, with the newest `effect` from the registry;
 * the app is `./app` (its `src/app.ts` and `test/app.test.ts`). The project
 * type-checks, runs its app with Node's type stripping and from a build,
 * passes its test once, and runs the `nats-effect` command.
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

const root = fileURLToPath(new URL("../..", import.meta.url))
const packages = ["core", "object-store", "kv", "testing", "cli", "rpc", "cluster"]

/** The README's block after `<!-- packed: name -->`. */
const readmeBlock = (name: string): string => {
  const readme = Fs.readFileSync(Path.join(root, "README.md"), "utf8")
  const found = new RegExp(`<!-- packed: ${name.replace(/\./g, "\\.")} -->\\n\`\`\`[^\\n]*\\n([\\s\\S]*?)\`\`\`\\n`).exec(readme)
  if (found === null) throw new Error(`README.md has no block marked <!-- packed: ${name} -->`)
  return found[1]!
}

interface Ran {
  readonly code: number
  /** stdout and stderr, colours taken out */
  readonly output: string
}

/**
 * The environment of someone else's project: no NATS_URL of ours, no options
 * of this test run, no NODE_PATH (vitest's points into the workspace's
 * node_modules, where the project would find what it did not install), and
 * no npm settings of `pnpm test`'s (npm warns about pnpm's own).
 */
const environment = Object.fromEntries(
  Object.entries({ ...process.env, NATS_URL: "", NODE_OPTIONS: "" }).filter(([name]) =>
    name !== "NODE_PATH" && !name.startsWith("VITEST") && !name.toLowerCase().startsWith("npm_")
  )
)

/** Runs a command to completion (killed after `timeout` ms). */
const attempt = (command: string, args: ReadonlyArray<string>, cwd: string, timeout = 600_000): Ran => {
  const uncoloured = (text: string | undefined) => (text ?? "").replace(/\x1b\[[0-9;]*m/g, "")
  try {
    const output = execFileSync(command, args, {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: environment,
      timeout
    })
    return { code: 0, output: uncoloured(output) }
  } catch (error) {
    const { status, stderr, stdout } = error as { status?: number; stdout?: string; stderr?: string }
    return { code: status ?? -1, output: `${uncoloured(stdout)}${uncoloured(stderr)}` }
  }
}

/** `attempt`, failing with what the command printed unless it succeeds. */
const run = (command: string, args: ReadonlyArray<string>, cwd: string): string => {
  const ran = attempt(command, args, cwd)
  if (ran.code !== 0) throw new Error(`${command} ${args.join(" ")} failed in ${cwd} (${ran.code}):\n${ran.output}`)
  return ran.output
}

/** `npm ls <name> --all --parseable`: where each copy of a package is installed. */
const copiesOf = (name: string, cwd: string): ReadonlyArray<string> =>
  [...new Set(run("npm", ["ls", name, "--all", "--parseable"], cwd).trim().split("\n").filter((line) => line !== ""))]

describe("the packed packages in a project set up as the README says", () => {
  const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "nats-effect-packed-"))
  const tarballs = Path.join(work, "tarballs")
  // The README's project is called greeter, after its directory.
  const project = Path.join(work, "greeter")

  beforeAll(() => {
    run("pnpm", ["build"], root)
    for (const name of packages) run("pnpm", ["pack", "--pack-destination", tarballs], Path.join(root, "packages", name))
    Fs.mkdirSync(project)
    // The README's tarballs are in /tmp/nats-effect.
    run("bash", ["-euo", "pipefail", "-c", readmeBlock("setup").replaceAll("/tmp/nats-effect/", `${tarballs}/`)], project)
    for (const file of ["tsconfig.json", "vitest.config.ts", "src/main.ts"]) {
      Fs.mkdirSync(Path.dirname(Path.join(project, file)), { recursive: true })
      Fs.writeFileSync(Path.join(project, file), readmeBlock(file))
    }
    Fs.cpSync(Path.join(root, "test/packed/app"), project, { recursive: true })
  }, 600_000)

  afterAll(() => Fs.rmSync(work, { recursive: true, force: true }))

  it("installs typescript in the range the repository is tested with", () => {
    const tested = JSON.parse(Fs.readFileSync(Path.join(root, "package.json"), "utf8")).devDependencies.typescript
    assert.include(readmeBlock("setup"), `typescript@${tested}`)
  })

  it("each tarball holds built JavaScript and declarations, and no workspace link", () => {
    for (const name of packages) {
      const manifest = JSON.parse(
        Fs.readFileSync(Path.join(project, "node_modules/@nats-effect", name, "package.json"), "utf8")
      )
      assert.deepStrictEqual(manifest.exports["."], { types: "./dist/index.d.ts", default: "./dist/index.js" })
      assert.strictEqual(manifest.sideEffects, false)
      assert.notInclude(JSON.stringify(manifest), "workspace:")
      assert.isTrue(Fs.existsSync(Path.join(project, "node_modules/@nats-effect", name, "dist/index.js")))
      assert.isTrue(Fs.existsSync(Path.join(project, "node_modules/@nats-effect", name, "dist/index.d.ts")))
      assert.property(manifest.peerDependencies, "effect")
    }
  })

  it("keeps internal modules private", () => {
    const script = `import("@nats-effect/core/dist/internal/validation.js").then(
      () => process.exit(1), (e) => { console.log(e.code); process.exit(0) })`
    assert.strictEqual(run("node", ["--input-type=module", "-e", script], project).trim(), "ERR_PACKAGE_PATH_NOT_EXPORTED")
  })

  it("installs the newest effect the packages accept, once, in a valid tree, and one @effect/platform-node", () => {
    // Fails on an invalid tree: a package whose peer range the installed effect is outside of.
    run("npm", ["ls", "effect", "--all"], project)
    assert.lengthOf(copiesOf("effect", project), 1, copiesOf("effect", project).join("\n"))
    assert.lengthOf(copiesOf("@effect/platform-node", project), 1, copiesOf("@effect/platform-node", project).join("\n"))
    const range = JSON.parse(
      Fs.readFileSync(Path.join(project, "node_modules/@nats-effect/core/package.json"), "utf8")
    ).peerDependencies.effect
    const accepted: string | ReadonlyArray<string> = JSON.parse(run("npm", ["view", `effect@${range}`, "version", "--json"], project))
    const newest = typeof accepted === "string" ? accepted : accepted.at(-1)
    const installed = JSON.parse(Fs.readFileSync(Path.join(project, "node_modules/effect/package.json"), "utf8")).version
    assert.strictEqual(installed, newest)
  })

  it("brings no React: the docs page's renderer is an optional peer dependency of the CLI", () => {
    for (const name of ["react", "react-dom", "@asyncapi/react-component"]) {
      assert.deepStrictEqual(copiesOf(name, project), [], name)
    }
  })

  it("runs an Effect RPC and loads an Effect Cluster entity, with Node's type stripping", () => {
    const script = `
      import { NatsClient } from "@nats-effect/core"
      import { Effect, Layer } from "effect"
      import { add, MathServer } from "./src/math.ts"
      import { Runner } from "./src/counter.ts"
      const served = MathServer.pipe(Layer.provideMerge(NatsClient.layerMemory()))
      Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(served)
        console.log("sum:", yield* add(1, 2).pipe(Effect.provide(context)))
        console.log("runner:", typeof Runner)
      })))`
    const output = run("node", ["--input-type=module", "-e", script], project)
    assert.include(output, "sum: 3")
    assert.include(output, "runner: function")
  })

  it("type-checks, and runs its app with Node's type stripping", () => {
    run("npm", ["run", "check"], project)
    assert.include(run("npm", ["start"], project), "reply: Hello, Ada!")
  })

  it("builds, runs its app from dist/, and runs its test once (from the sources) after the build", () => {
    run("npm", ["run", "build"], project)
    assert.include(run("node", ["dist/src/main.js"], project), "reply: Hello, Ada!")
    const tested = run("npm", ["test"], project)
    assert.match(tested, /Test Files\s+1 passed \(1\)/, tested)
    assert.match(tested, /Tests\s+1 passed \(1\)/, tested)
  })

  it("runs the nats-effect command, which documents the app's TypeScript module", () => {
    const help = run("npx", ["nats-effect", "object", "put", "--help"], project)
    assert.include(help, "nats-effect object put [flags] <bucket> <file>")
    const document = JSON.parse(run("npx", ["nats-effect", "docs", "gen", "src/app.ts"], project))
    assert.deepStrictEqual(document.info, { title: "greeter", version: "1.0.0" })
    assert.deepStrictEqual(Object.values(document.channels).map((channel: any) => channel.address), ["greet", null])
  })

  it("docs serve says in one line what to install for its page, and fails", () => {
    // Killed if it serves after all.
    const serve = attempt("npx", ["nats-effect", "docs", "serve", "src/app.ts", "--port", "0"], project, 60_000)
    assert.deepStrictEqual(serve, {
      code: 1,
      output: "nats-effect: docs serve draws the page with @asyncapi/react-component, which is not installed: " +
        "npm install @asyncapi/react-component@3\n"
    })
  })
})
