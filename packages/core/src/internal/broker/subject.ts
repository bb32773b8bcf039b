/**
 * Subjects as a subscriber declares them: NATS wildcards (`*`, `>`) and
 * FastStream-style `{param}` templates. A template token subscribes as `*`
 * and the matching token of each received subject is handed to the handler
 * under the parameter's name.
 */
import { subscribeProblem } from "../../NatsSubject.ts"

export type Params = Readonly<Record<string, string>>

/** Shared by every message of a subject without parameters. */
export const noParams: Params = Object.freeze({})

export interface SubjectTemplate {
  /** The subject as declared, e.g. `logs.{level}`. */
  readonly template: string
  /** What is subscribed on the server, e.g. `logs.*`. */
  readonly subject: string
  /** Names of the parameters, in token order. */
  readonly names: ReadonlyArray<string>
  /** Token index of each parameter, aligned with `names`. */
  readonly positions: ReadonlyArray<number>
}

const paramToken = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/

/**
 * Parses a subject declaration. Returns a message saying what is wrong when
 * the declaration is not a valid subject: empty tokens, whitespace, a `>`
 * that is not last, `*`/`>`/braces inside a token, a malformed or repeated
 * `{param}`.
 */
export const parse = (template: string): SubjectTemplate | string => {
  // NATS's own grammar first (a `{param}` token is a literal to it), then the template's.
  const problem = subscribeProblem(template)
  if (problem !== undefined) return template.length === 0 ? problem : `the subject "${template}": ${problem}`
  const tokens = template.split(".")
  const names: Array<string> = []
  const positions: Array<number> = []
  const subscribed: Array<string> = []
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!
    if (token === "*" || token === ">") {
      subscribed.push(token)
      continue
    }
    const param = paramToken.exec(token)
    if (param !== null) {
      const name = param[1]!
      if (names.includes(name)) return `the subject "${template}" repeats the parameter {${name}}`
      names.push(name)
      positions.push(i)
      subscribed.push("*")
      continue
    }
    if (/[*>{}]/.test(token)) {
      return `in the subject "${template}", the token "${token}" mixes wildcards or braces with text ` +
        `(a wildcard or a {param} must be a whole token)`
    }
    subscribed.push(token)
  }
  return { template, subject: subscribed.join("."), names, positions }
}

/** The parameters of a received subject; `noParams` when the template has none. */
export const extract = (template: SubjectTemplate, subject: string): Params => {
  const names = template.names
  if (names.length === 0) return noParams
  const tokens = subject.split(".")
  const params: Record<string, string> = {}
  for (let i = 0; i < names.length; i++) {
    params[names[i]!] = tokens[template.positions[i]!] ?? ""
  }
  return params
}
