/**
 * What the compiler says about `NatsTest.layer`: the layer requires nothing,
 * and an app that needs a service it does not provide is refused where the
 * layer is made, with a message that names the service.
 */
import * as Path from "node:path"
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import { NatsBroker, type NatsClient, type NatsError } from "@nats-effect/core"
import { NatsTest } from "@nats-effect/testing"
import { Context, Effect, Layer } from "effect"
import ts from "typescript"

class Prices extends Context.Service<Prices, { readonly quote: (symbol: string) => Effect.Effect<number> }>()(
  "test/Prices"
) {}

const Quotes = NatsBroker.subscriber("quotes", {}, (symbol) => Prices.use((prices) => prices.quote(String(symbol))))
const PricesLive = Layer.succeed(Prices, { quote: () => Effect.succeed(12.5) })

const missingPrices = "MissingServices<Prices>"

describe("NatsTest.layer types", () => {
  it("provides the client, the broker and NatsTest, fails as the app does, and requires nothing more", () => {
    expectTypeOf(NatsTest.layer(Quotes.pipe(Layer.provide(PricesLive)))).toEqualTypeOf<
      Layer.Layer<NatsTest.NatsTest | NatsClient.NatsClient | NatsBroker.NatsBroker, NatsError.NatsError>
    >()
    expectTypeOf(NatsTest.layer((nats) => Quotes.pipe(Layer.provide(PricesLive), Layer.provide(nats)))).toEqualTypeOf<
      Layer.Layer<NatsTest.NatsTest | NatsClient.NatsClient | NatsBroker.NatsBroker, NatsError.NatsError>
    >()
  })

  it("refuses an app that needs a service it does not provide", () => {
    // @ts-expect-error: MissingServices<Prices>
    NatsTest.layer(Quotes)
    // @ts-expect-error: MissingServices<Prices>
    NatsTest.layer((nats) => Quotes.pipe(Layer.provide(NatsBroker.layer), Layer.provide(nats)))
  })

  it("names the missing service in the compiler's message", () => {
    // This file compiled without its `@ts-expect-error` directives: each
    // error it then has must be on the line after a directive, and name Prices.
    const file = Path.join(import.meta.dirname, "NatsTest.types.test.ts")
    const configFile = ts.findConfigFile(import.meta.dirname, ts.sys.fileExists, "tsconfig.json")!
    const config = ts.parseJsonConfigFileContent(
      ts.readConfigFile(configFile, ts.sys.readFile).config,
      ts.sys,
      Path.dirname(configFile)
    )
    const source = ts.sys.readFile(file)!
    const directive = "// @ts-expect-error"
    const host = ts.createCompilerHost(config.options)
    const getSourceFile = host.getSourceFile
    host.getSourceFile = (name, languageVersion, ...rest) =>
      Path.resolve(name) === file
        ? ts.createSourceFile(name, source.replaceAll(directive, "//"), languageVersion)
        : getSourceFile(name, languageVersion, ...rest)
    const program = ts.createProgram([file], config.options, host)
    const errors = ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((diagnostic) => ({
      line: diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start!).line,
      message: ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")
    }))

    const lines = source.split("\n")
    const expected = lines.flatMap((line, index) => line.trim().startsWith(directive) ? [index + 1] : [])
    assert.deepStrictEqual(errors.map((error) => error.line), expected)
    for (const error of errors) {
      assert.include(error.message, missingPrices)
      assert.notInclude(error.message, "Scope")
    }
  })
})
