/**
 * Subject matching for the in-memory server: wildcard matchers, and the
 * overlap (`subjectsCollide`) and subset (`isSubsetMatch`) rules nats-server
 * applies to stream subjects and consumer filters (`server/sublist.go`).
 * Validation itself (`../validation.ts`) is shared with the nats.js adapter, so both refuse the
 * same subjects with the same words.
 */
export { publishProblem, queueProblem, subscribeProblem } from "../validation.ts"

const isWildcardToken = (token: string): boolean => token === "*" || token === ">"

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

/** A matcher for literal subjects; literal patterns compare by equality. */
export const compileMatcher = (pattern: string): (subject: string) => boolean => {
  if (!hasWildcard(pattern)) return (subject) => subject === pattern
  const tokens = pattern.split(".")
  return (subject) => matchTokens(tokens, subject)
}

/**
 * Whether every subject matched by `subject` (which may hold wildcards) is
 * also matched by `test` (nats-server `subjectIsSubsetMatch`).
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

/** Whether some subject is matched by both patterns (nats-server `SubjectsCollide`). */
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
