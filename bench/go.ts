// nats.go's object store as a benchmark peer: objbench (go/cmd/objbench),
// built by go/natsgo.ts against the nats.go that go/go.mod requires.
import { execFile } from "node:child_process"
import { promisify } from "node:util"
import { build } from "../go/natsgo.ts"

const run = promisify(execFile)

export interface GoObjbench {
  /** For the heading: the nats.go and Go versions. */
  readonly versions: string
  readonly run: (args: ReadonlyArray<string>) => Promise<GoResult>
}

/** What objbench prints: the transfer alone, without process start and connection. */
export interface GoResult {
  readonly op: string
  readonly bytes: number
  readonly seconds: number
  readonly mibps: number
  readonly cpuMillisPerMiB: number
}

/** The built program, or why it cannot be built (no Go, or the build failed). */
export const buildObjbench = (): Promise<GoObjbench | string> =>
  build().then(
    (programs) => ({
      versions: programs.versions,
      run: async (args) => {
        const { stdout } = await run(programs.objbench, args)
        return JSON.parse(stdout) as GoResult
      }
    }),
    (error: Error) => error.message
  )
