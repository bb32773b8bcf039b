/**
 * The NATS subject grammar, once for everything that needs it: the port's
 * checks before anything is sent, the broker's subject templates, the
 * in-memory server's routing and stream rules, and the test helpers.
 *
 * - `publishProblem` / `subscribeProblem` / `queueProblem` / `nameProblem`:
 *   why a subject, queue group, stream or consumer name is refused, or
 *   `undefined` (a character loop: it runs on every publish);
 * - `matcher`, `hasWildcard`: does a subject match a pattern with `*` / `>`;
 * - `isSubsetMatch`, `subjectsCollide`: the overlap rules nats-server applies
 *   to stream subjects and consumer filters (`server/sublist.go`).
 *
 * @since 0.1.0
 * @module
 */

const DOT = 46
const STAR = 42
const GT = 62

const isWhitespace = (c: number) => c === 32 || (c >= 9 && c <= 13)

const problem = (subject: string, wildcards: boolean): string | undefined => {
  const n = subject.length
  if (n === 0) return "a subject cannot be empty"
  let tokenStart = 0
  for (let i = 0; i <= n; i++) {
    const c = i < n ? subject.charCodeAt(i) : DOT
    if (c === DOT) {
      const length = i - tokenStart
      if (length === 0) return "a subject cannot have an empty token"
      if (length === 1) {
        const t = subject.charCodeAt(tokenStart)
        if (t === STAR || t === GT) {
          if (!wildcards) return "a subject to publish to cannot contain wildcards"
          if (t === GT && i !== n) return "'>' can only be the last token"
        }
      }
      tokenStart = i + 1
    } else if (isWhitespace(c)) {
      return "a subject cannot contain whitespace"
    }
  }
  return undefined
}

/**
 * Why `subject` cannot be published to, or `undefined` when it can.
 *
 * @since 0.1.0
 * @category utils
 */
export const publishProblem = (subject: string): string | undefined => problem(subject, false)

/**
 * Why `subject` cannot be subscribed to (wildcards allowed), or `undefined`.
 *
 * @since 0.1.0
 * @category utils
 */
export const subscribeProblem = (subject: string): string | undefined => problem(subject, true)

/**
 * Why `queue` is not a valid queue group name, or `undefined`.
 *
 * @since 0.1.0
 * @category utils
 */
export const queueProblem = (queue: string): string | undefined => {
  if (queue.length === 0) return "a queue group name cannot be empty"
  for (let i = 0; i < queue.length; i++) {
    if (isWhitespace(queue.charCodeAt(i))) return "a queue group name cannot contain whitespace"
  }
  return undefined
}

const invalidNameCharacters = /[\s.*>/\\]/

/**
 * Why `name` cannot name a stream or a consumer, or `undefined`.
 *
 * @since 0.1.0
 * @category utils
 */
export const nameProblem = (kind: "stream" | "consumer", name: string): string | undefined =>
  name.length === 0
    ? `a ${kind} name cannot be empty`
    : invalidNameCharacters.test(name)
    ? `${kind} name '${name}' cannot contain whitespace, '.', '*', '>', '/' or '\\'`
    : undefined

const isWildcardToken = (token: string): boolean => token === "*" || token === ">"

/**
 * Whether a subject has a `*` or `>` wildcard token.
 *
 * @since 0.1.0
 * @category utils
 */
export const hasWildcard = (subject: string): boolean => {
  // Cheap pre-check: most subjects have neither character.
  if (subject.indexOf("*") === -1 && subject.indexOf(">") === -1) return false
  return subject.split(".").some(isWildcardToken)
}

/**
 * Whether `subject` (a literal) matches `pattern`, token by token without
 * splitting the subject.
 */
const matchTokens = (pattern: ReadonlyArray<string>, subject: string): boolean => {
  const n = subject.length
  let pos = 0
  for (let i = 0; i < pattern.length; i++) {
    if (pos > n) return false
    const token = pattern[i]!
    // `>` takes one or more remaining tokens.
    if (token === ">") return pos < n
    let end = subject.indexOf(".", pos)
    if (end === -1) end = n
    if (token !== "*" && (end - pos !== token.length || !subject.startsWith(token, pos))) return false
    pos = end + 1
  }
  return pos === n + 1
}

/**
 * A predicate on literal subjects: whether they match `pattern`; literal patterns compare by equality.
 *
 * @since 0.1.0
 * @category utils
 */
export const matcher = (pattern: string): (subject: string) => boolean => {
  if (!hasWildcard(pattern)) return (subject) => subject === pattern
  const tokens = pattern.split(".")
  return (subject) => matchTokens(tokens, subject)
}

/**
 * Whether every subject matched by `subject` (which may hold wildcards) is
 * also matched by `test` (nats-server `subjectIsSubsetMatch`).
 *
 * @since 0.1.0
 * @category utils
 */
export const isSubsetMatch = (subject: string, test: string): boolean => {
  const tokens = subject.split(".")
  const testTokens = test.split(".")
  for (let i = 0; i < testTokens.length; i++) {
    if (i >= tokens.length) return false
    const t2 = testTokens[i]!
    if (t2.length === 0) return false
    if (t2 === ">") return true
    const t1 = tokens[i]!
    if (t1.length === 0 || t1 === ">") return false
    if (t1 === "*") {
      if (t2 !== "*") return false
      continue
    }
    if (t2 !== "*" && t1 !== t2) return false
  }
  return tokens.length === testTokens.length
}

/**
 * Whether some subject is matched by both patterns (nats-server `SubjectsCollide`).
 *
 * @since 0.1.0
 * @category utils
 */
export const subjectsCollide = (a: string, b: string): boolean => {
  if (a === b) return true
  const tokensA = a.split(".")
  const tokensB = b.split(".")
  const literalA = !tokensA.some(isWildcardToken)
  const literalB = !tokensB.some(isWildcardToken)
  if (literalA && literalB) return false
  if (literalA) return isSubsetMatch(a, b)
  if (literalB) return isSubsetMatch(b, a)
  const fullA = tokensA.includes(">")
  const fullB = tokensB.includes(">")
  if (tokensA.length !== tokensB.length) {
    // The shorter one must end with `>` to reach the other's tokens.
    if ((tokensA.length < tokensB.length && !fullA) || (tokensB.length < tokensA.length && !fullB)) return false
  }
  const stop = Math.min(tokensA.length, tokensB.length)
  for (let i = 0; i < stop; i++) {
    const ta = tokensA[i]!
    const tb = tokensB[i]!
    if (!isWildcardToken(ta) && !isWildcardToken(tb) && ta !== tb) return false
  }
  return true
}
