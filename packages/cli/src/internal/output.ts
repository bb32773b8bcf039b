/**
 * Everything the command prints goes through `Stdio`: results on stdout,
 * progress, notes and errors on stderr, so `object get B N - | tool` pipes
 * the object's bytes and nothing else.
 */
import { Stdio, Stream } from "effect"
import { Flag } from "effect/cli"

/** `--json`: results as JSON documents rather than lines. */
export const jsonFlag = Flag.Boolean("json").pipe(
  Flag.withDescription("print JSON, one document per line"),
  Flag.withDefault(false)
)

const write = (to: "stdout" | "stderr", data: string | Uint8Array) =>
  Stdio.Stdio.use((stdio) => Stream.run(Stream.make(data), stdio[to]()))

/** A line of result on stdout. */
export const print = (line: string) => write("stdout", `${line}\n`)

/** One JSON document per line on stdout, for scripts. */
export const printJson = (value: unknown) => print(JSON.stringify(value))

/** A result on stdout: its JSON `document` with `--json`, else its `line`. */
export const result = (json: boolean, document: unknown, line: string) => json ? printJson(document) : print(line)

/** Raw bytes on stdout. */
export const printBytes = (data: Uint8Array) => write("stdout", data)

/** A line for the person at the terminal, on stderr. */
export const note = (line: string) => write("stderr", `${line}\n`)

/** Raw text on stderr (the progress bar redraws its line). */
export const noteRaw = (text: string) => write("stderr", text)

const utf8 = new TextDecoder()

/** Bytes as text, for printing payloads and values. */
export const text = (data: Uint8Array): string => utf8.decode(data)

/** Standard input, whole: the payload or value when none is given as an argument. */
export const readStdin = Stdio.Stdio.use((stdio) =>
  Stream.runFold(stdio.stdin, () => new Uint8Array(0), (all: Uint8Array, chunk) => {
    const joined = new Uint8Array(all.length + chunk.length)
    joined.set(all)
    joined.set(chunk, all.length)
    return joined
  }))
