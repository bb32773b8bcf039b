import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.ts"

export default defineConfig({
  test: {
    projects,
    // The JSON report is what .ci/run counts.
    reporters: ["default", "json"],
    outputFile: { json: ".vitest-report.json" }
  }
})
