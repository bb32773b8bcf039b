// Every public export of every package carries a JSDoc comment with `@since`
// and `@category`: the API reference (`pnpm docs`) is built from them.
import { readFileSync, readdirSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import ts from "typescript"
import { describe, expect, it } from "vitest"

const root = resolve(import.meta.dirname, "../..")
const packagesDir = join(root, "packages")

/** The public entry points: each package's `exports` map, without `internal` ones. */
const entryPoints = readdirSync(packagesDir).flatMap((name) => {
  const manifest = JSON.parse(readFileSync(join(packagesDir, name, "package.json"), "utf8")) as {
    readonly name: string
    readonly exports: Record<string, string>
  }
  return Object.entries(manifest.exports)
    .filter(([subpath]) => !subpath.includes("internal"))
    .map(([subpath, file]) => ({
      specifier: join(manifest.name, subpath),
      file: join(packagesDir, name, file)
    }))
})

const { config } = ts.readConfigFile(join(root, "tsconfig.json"), ts.sys.readFile)
const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root)
// One program for all entry points: parsing effect's declarations once is most of the cost.
const program = ts.createProgram(entryPoints.map((entry) => entry.file), { ...options, noEmit: true })
const checker = program.getTypeChecker()

const tagNames = (node: ts.Node): ReadonlySet<string> =>
  new Set(ts.getJSDocTags(node).map((tag) => tag.tagName.text))

/** Where a declaration is, for the failure message. */
const locate = (node: ts.Node): string => {
  const sourceFile = node.getSourceFile()
  const { line } = sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile))
  return `${relative(root, sourceFile.fileName)}:${line + 1}`
}

/**
 * The declarations a reader sees for a symbol: all of them, except that an
 * overloaded function is documented once, on its first signature.
 */
const documentedDeclarations = (symbol: ts.Symbol): ReadonlyArray<ts.Declaration> => {
  const declarations = symbol.getDeclarations() ?? []
  const firstFunction = declarations.find(ts.isFunctionDeclaration)
  return declarations.filter((declaration) => !ts.isFunctionDeclaration(declaration) || declaration === firstFunction)
}

/** The module's own comment: the first JSDoc of the file, before its imports. */
const moduleComment = (sourceFile: ts.SourceFile): ReadonlySet<string> => {
  const first = sourceFile.statements[0]
  return first === undefined ? new Set() : tagNames(first)
}

interface Checked {
  readonly exports: number
  readonly missing: ReadonlyArray<string>
}

const check = (): Checked => {
  let exports = 0
  const missing: Array<string> = []
  const visited = new Set<ts.Symbol>()

  const walkModule = (moduleSymbol: ts.Symbol, path: string): void => {
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
      const name = `${path}.${exported.name}`
      const sourceFile = symbol.valueDeclaration ?? symbol.declarations?.[0]
      if (sourceFile !== undefined && ts.isSourceFile(sourceFile)) {
        // `export * as Name from "./Name.ts"`: the module documents itself (TypeDoc takes a file's
        // comment as the namespace's only when it is tagged `@module`); its members are walked.
        exports++
        const tags = moduleComment(sourceFile)
        const absent = ["since", "module"].filter((tag) => !tags.has(tag))
        if (absent.length > 0) {
          missing.push(`${relative(root, sourceFile.fileName)}:1 ${name} (module comment without ${absent.map((tag) => `@${tag}`).join(", ")})`)
        }
        if (!visited.has(symbol)) {
          visited.add(symbol)
          walkModule(symbol, name)
        }
        continue
      }
      for (const declaration of documentedDeclarations(symbol)) {
        exports++
        const tags = tagNames(declaration)
        const absent = ["since", "category"].filter((tag) => !tags.has(tag))
        if (absent.length > 0) {
          missing.push(`${locate(declaration)} ${name} (missing ${absent.map((tag) => `@${tag}`).join(", ")})`)
        }
      }
    }
  }

  for (const entry of entryPoints) {
    const sourceFile = program.getSourceFile(entry.file)
    const moduleSymbol = sourceFile && checker.getSymbolAtLocation(sourceFile)
    if (moduleSymbol === undefined) throw new Error(`${entry.specifier}: ${entry.file} is not in the program`)
    walkModule(moduleSymbol, entry.specifier)
  }
  return { exports, missing }
}

describe("API reference", () => {
  it("walks the entry points of every package", () => {
    expect(entryPoints.map((entry) => entry.specifier).sort()).toEqual([
      "@nats-effect/cli",
      "@nats-effect/cluster",
      "@nats-effect/core",
      "@nats-effect/kv",
      "@nats-effect/object-store",
      "@nats-effect/rpc",
      "@nats-effect/testing",
      "@nats-effect/testing/suites"
    ])
  })

  it("every public export has a JSDoc comment with @since and @category", () => {
    const { exports, missing } = check()
    expect(exports).toBeGreaterThan(200)
    expect(missing).toEqual([])
  })
})
