import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.ts"

export default defineConfig({
  test: {
    projects,
    // The apps under test log as they run: their lines are shown for the tests that fail only.
    silent: "passed-only",
    // The JSON report is what .ci/run counts.
    reporters: ["default", "json"],
    outputFile: { json: ".vitest-report.json" }
  }
})
