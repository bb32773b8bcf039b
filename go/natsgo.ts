// The programs of this Go module (go/cmd/*), built against the nats.go that
// go.mod requires: objtool for the nats.go interop test, objbench for
// `pnpm bench files`. Built once per process into a temporary directory;
// Go's build cache makes every build after the first one quick. A first
// build on a machine fetches nats.go through the Go module proxy.
import { execFile } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { rmSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const run = promisify(execFile)

const moduleDir = fileURLToPath(new URL(".", import.meta.url))

/** Where Go is looked for: the PATH, then where Go's own archive installs it. */
const goCandidates = ["go", "/usr/local/go/bin/go"]

export interface Go {
  readonly bin: string
  /** What `go version` says: `go version go1.26.8 linux/amd64`. */
  readonly version: string
}

let go: Promise<Go | undefined> | undefined

/** The first Go command that runs, or `undefined` when none does. */
export const findGo = (): Promise<Go | undefined> =>
  go ??= (async () => {
    for (const bin of goCandidates) {
      const version = await run(bin, ["version"]).then(({ stdout }) => stdout.trim(), () => undefined)
      if (version !== undefined) return { bin, version }
    }
    return undefined
  })()

/** Why nothing can be built when `findGo` finds nothing. */
export const noGo = `no Go: neither \`go\` on the PATH nor ${goCandidates[1]} runs (go/go.mod needs Go 1.26)`

export interface Programs {
  /** `nats.go 1.56.0, go1.26.8`: what the programs were built with, as they report it. */
  readonly versions: string
  readonly objtool: string
  readonly objbench: string
}

let programs: Promise<Programs> | undefined

/**
 * Builds the programs, once per process. Rejects with the reason when Go is
 * missing or the build fails (with go build's output).
 */
export const build = (): Promise<Programs> =>
  programs ??= (async () => {
    const found = await findGo()
    if (found === undefined) throw new Error(noGo)
    const dir = await mkdtemp(path.join(os.tmpdir(), "nats-effect-go-"))
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }))
    try {
      await run(found.bin, ["build", "-buildvcs=false", "-o", dir + path.sep, "./cmd/..."], {
        cwd: moduleDir,
        // Module mode on the committed go.mod and go.sum, with the Go at hand:
        // a build that would change either, or need another Go, fails instead.
        env: { ...process.env, GO111MODULE: "on", GOFLAGS: "-mod=readonly", GOTOOLCHAIN: "local" }
      })
    } catch (error) {
      await rm(dir, { recursive: true, force: true })
      const output = (error as { stderr?: string }).stderr?.trim()
      throw new Error(`go build in ${moduleDir} failed: ${output || String(error)}`)
    }
    const objtool = path.join(dir, "objtool")
    const { stdout } = await run(objtool, ["version"])
    const reported = JSON.parse(stdout) as { readonly go: string; readonly natsGo: string }
    return { versions: `nats.go ${reported.natsGo}, ${reported.go}`, objtool, objbench: path.join(dir, "objbench") }
  })()
