/**
 * Subject and queue-name checks, so that both adapters refuse the same input
 * with `InvalidSubject` (nats.js itself only refuses empty subjects and
 * whitespace; the server ignores the rest). A character loop: it runs on every
 * publish.
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

/** Why `subject` cannot be published to, or `undefined` when it can. */
export const publishProblem = (subject: string): string | undefined => problem(subject, false)

/** Why `subject` cannot be subscribed to (wildcards allowed), or `undefined`. */
export const subscribeProblem = (subject: string): string | undefined => problem(subject, true)

/** Why `queue` is not a valid queue group name, or `undefined`. */
export const queueProblem = (queue: string): string | undefined => {
  if (queue.length === 0) return "a queue group name cannot be empty"
  for (let i = 0; i < queue.length; i++) {
    if (isWhitespace(queue.charCodeAt(i))) return "a queue group name cannot contain whitespace"
  }
  return undefined
}

const invalidNameCharacters = /[\s.*>/\\]/

/** Why `name` cannot name a stream or a consumer, or `undefined`. */
export const nameProblem = (kind: "stream" | "consumer", name: string): string | undefined =>
  name.length === 0
    ? `a ${kind} name cannot be empty`
    : invalidNameCharacters.test(name)
    ? `${kind} name '${name}' cannot contain whitespace, '.', '*', '>', '/' or '\\'`
    : undefined
