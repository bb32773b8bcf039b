/**
 * The packages as a user gets them: built, packed with `pnpm pack`, installed
 * with npm from the tarballs into an empty project outside the workspace next
 * to `effect` from the registry. The project (./app) type-checks under strict
 * NodeNext, runs on the in-memory NATS, passes its own test, and holds exactly
 * one copy of `effect`.
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

const root = fileURLToPath(new URL("../..", import.meta.url))
const packages = ["core", "object-store", "kv", "testing", "cli", "rpc", "cluster"]

/** Runs a command to completion; a failure carries what the command printed. */
const run = (command: string, args: ReadonlyArray<string>, cwd: string): string => {
  try {
    return execFileSync(command, args, {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      // The app is someone else's project: no NATS_URL of ours, no options of this test run.
      env: { ...process.env, NATS_URL: "", NODE_OPTIONS: "" }
    })
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${stdout ?? ""}${stderr ?? ""}`)
  }
}

describe("the packed packages in a project of their own", () => {
  const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "nats-effect-packed-"))
  const app = Path.join(work, "app")
  const tarballs: Array<string> = []

  beforeAll(() => {
    run("pnpm", ["build"], root)
    for (const name of packages) {
      const printed = run("pnpm", ["pack", "--pack-destination", work], Path.join(root, "packages", name))
      tarballs.push(printed.trim().split("\n").at(-1)!)
    }
    Fs.cpSync(Path.join(root, "test/packed/app"), app, { recursive: true })
    run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs], app)
  }, 600_000)

  afterAll(() => Fs.rmSync(work, { recursive: true, force: true }))

  it("each tarball holds built JavaScript and declarations, and no workspace link", () => {
    for (const name of packages) {
      const manifest = JSON.parse(
        Fs.readFileSync(Path.join(app, "node_modules/@nats-effect", name, "package.json"), "utf8")
      )
      assert.deepStrictEqual(manifest.exports["."], { types: "./dist/index.d.ts", default: "./dist/index.js" })
      assert.strictEqual(manifest.sideEffects, false)
      assert.notInclude(JSON.stringify(manifest), "workspace:")
      assert.isTrue(Fs.existsSync(Path.join(app, "node_modules/@nats-effect", name, "dist/index.js")))
      assert.isTrue(Fs.existsSync(Path.join(app, "node_modules/@nats-effect", name, "dist/index.d.ts")))
      assert.property(manifest.peerDependencies, "effect")
    }
  })

  it("keeps internal modules private", () => {
    const script = `import("@nats-effect/core/dist/internal/validation.js").then(
      () => process.exit(1), (e) => { console.log(e.code); process.exit(0) })`
    assert.strictEqual(run("node", ["--input-type=module", "-e", script], app).trim(), "ERR_PACKAGE_PATH_NOT_EXPORTED")
  })

  it("installs exactly one copy of effect", () => {
    const copies = run("npm", ["ls", "effect", "--all", "--parseable"], app).trim().split("\n")
    assert.deepStrictEqual(new Set(copies).size, 1, copies.join("\n"))
  })

  it("type-checks a strict NodeNext application, which runs on the in-memory NATS", () => {
    run(Path.join(app, "node_modules/.bin/tsc"), ["-p", "."], app)
    const output = run("node", ["dist/src/main.js"], app)
    assert.include(output, "reply: Hello, Ada!")
    assert.include(output, "sum: 3")
    // The cluster module loads from the built packages (its entity defined, its layers made).
    const loaded = run("node", ["--input-type=module", "-e", "import('./dist/src/counter.js').then((m) => console.log(typeof m.Runner))"], app)
    assert.strictEqual(loaded.trim(), "function")
  })

  it("installs the nats-effect command, which runs from its built JavaScript and documents the app", () => {
    const help = run(Path.join(app, "node_modules/.bin/nats-effect"), ["object", "put", "--help"], app)
    assert.include(help, "nats-effect object put [flags] <bucket> <file>")
    // The app's module as built by the test above: its App export, named after its package.json.
    const document = JSON.parse(run(Path.join(app, "node_modules/.bin/nats-effect"), ["docs", "gen", "dist/src/app.js"], app))
    assert.deepStrictEqual(document.info, { title: "greeter", version: "0.0.0" })
    assert.deepStrictEqual(Object.values(document.channels).map((channel: any) => channel.address), ["greet", null])
  })

  it("passes the application's own test", () => {
    const output = run(Path.join(app, "node_modules/.bin/vitest"), ["run", "--reporter=verbose"], app)
    assert.include(output, "greets by name with the stored template")
  })
})
