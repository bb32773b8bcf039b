// nats.go's object store as a benchmark peer: builds `go/objbench` in GOPATH
// mode against Debian's `golang-github-nats-io-go-nats-dev` (no download) into
// a temporary directory, and runs it. `NATS_GO_PATH` overrides the GOPATH
// holding github.com/nats-io/nats.go (default /usr/share/gocode).
import { execFile } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const run = promisify(execFile)

export interface GoObjbench {
  /** For the heading: the Go and nats.go versions. */
  readonly versions: string
  readonly run: (args: ReadonlyArray<string>) => Promise<GoResult>
  readonly dispose: () => Promise<void>
}

/** What objbench prints: the transfer alone, without process start and connection. */
export interface GoResult {
  readonly op: string
  readonly bytes: number
  readonly seconds: number
  readonly mibps: number
  readonly cpuMillisPerMiB: number
}

/** The built program, or why it cannot be built (Go or nats.go missing, or the build failed). */
export const buildObjbench = async (): Promise<GoObjbench | string> => {
  const gopath = process.env["NATS_GO_PATH"] ?? "/usr/share/gocode"
  const natsGo = path.join(gopath, "src/github.com/nats-io/nats.go")
  const goVersion = await run("go", ["version"]).then(({ stdout }) => stdout.trim(), () => undefined)
  if (goVersion === undefined) return "no `go` on PATH (apt-get install golang-go)"
  if (!existsSync(path.join(natsGo, "object.go"))) {
    return `no nats.go in ${gopath} (apt-get install golang-github-nats-io-go-nats-dev, or set NATS_GO_PATH)`
  }
  const natsGoVersion = /Version\s*=\s*"([^"]+)"/.exec(readFileSync(path.join(natsGo, "nats.go"), "utf8"))?.[1] ?? "?"
  const dir = await mkdtemp(path.join(os.tmpdir(), "objbench-"))
  const binary = path.join(dir, "objbench")
  try {
    await run("go", ["build", "-o", binary, "."], {
      cwd: fileURLToPath(new URL("./go/objbench/", import.meta.url)),
      env: { ...process.env, GO111MODULE: "off", GOPATH: gopath, GOFLAGS: "" }
    })
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    return `go build failed: ${(error as { stderr?: string }).stderr?.trim() ?? String(error)}`
  }
  return {
    versions: `nats.go ${natsGoVersion} (${goVersion.replace(/^go version /, "")})`,
    run: async (args) => {
      const { stdout } = await run(binary, args)
      return JSON.parse(stdout) as GoResult
    },
    dispose: () => rm(dir, { recursive: true, force: true })
  }
}
