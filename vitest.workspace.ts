// The one list of test projects; vitest.config.ts reads it.
import { defineProject } from "vitest/config"

const project = (name: string, dir: string, include = "test/**/*.test.ts") =>
  defineProject({
    test: {
      name,
      root: dir,
      include: [include],
      testTimeout: 60_000,
      hookTimeout: 60_000
    }
  })

export default [
  project("core", "packages/core"),
  project("testing", "packages/testing"),
  project("object-store", "packages/object-store"),
  project("kv", "packages/kv"),
  project("cli", "packages/cli"),
  project("rpc", "packages/rpc"),
  project("cluster", "packages/cluster"),
  // One folder per example, each with its own test/.
  project("examples", "examples", "*/test/**/*.test.ts"),
  // The packed packages, installed into a project outside the workspace.
  project("packed", "test/packed", "*.test.ts"),
  // The API reference and the README snippets.
  project("docs", "test/docs", "*.test.ts")
]
