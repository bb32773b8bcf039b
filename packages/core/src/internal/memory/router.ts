/**
 * Core NATS routing: who gets a message published on a subject. Plain
 * subscribers all get it; each queue group gives it to one member, in turn.
 *
 * Subscriptions on literal subjects are indexed by subject; those with
 * wildcards are kept in a list. The interest of a subject (its plain
 * subscribers and queue groups) is cached until a subscription that could
 * match it comes or goes, so steady publishing costs a map look-up and one
 * call per receiver.
 */
import type { Msg } from "../../NatsClient.ts"
import { matcher, hasWildcard } from "../../NatsSubject.ts"

export interface Subscription {
  readonly subject: string
  readonly queue: string | undefined
  readonly deliver: (msg: Msg) => void
}

interface Entry {
  readonly subscription: Subscription
  readonly matches: (subject: string) => boolean
}

interface QueueGroup {
  readonly name: string
  readonly members: ReadonlyArray<Subscription>
}

interface Interest {
  readonly plain: ReadonlyArray<Subscription>
  readonly groups: ReadonlyArray<QueueGroup>
}

const noInterest: Interest = { plain: [], groups: [] }

// Unique subjects (reply inboxes) would otherwise fill the cache for good.
const maxCachedSubjects = 8192

export class Router {
  private readonly literal = new Map<string, Array<Entry>>()
  private readonly wildcard: Array<Entry> = []
  private readonly cache = new Map<string, Interest>()
  /** Next member to serve, per queue group name. */
  private readonly turns = new Map<string, number>()

  add(subscription: Subscription): void {
    const entry: Entry = { subscription, matches: matcher(subscription.subject) }
    if (hasWildcard(subscription.subject)) {
      this.wildcard.push(entry)
      this.cache.clear()
    } else {
      const entries = this.literal.get(subscription.subject)
      if (entries === undefined) this.literal.set(subscription.subject, [entry])
      else entries.push(entry)
      this.cache.delete(subscription.subject)
    }
  }

  remove(subscription: Subscription): void {
    if (hasWildcard(subscription.subject)) {
      const index = this.wildcard.findIndex((entry) => entry.subscription === subscription)
      if (index === -1) return
      this.wildcard.splice(index, 1)
      this.cache.clear()
    } else {
      const entries = this.literal.get(subscription.subject)
      if (entries === undefined) return
      const index = entries.findIndex((entry) => entry.subscription === subscription)
      if (index === -1) return
      entries.splice(index, 1)
      if (entries.length === 0) this.literal.delete(subscription.subject)
      this.cache.delete(subscription.subject)
    }
  }

  hasInterest(subject: string): boolean {
    const interest = this.interest(subject)
    return interest.plain.length > 0 || interest.groups.length > 0
  }

  /** Delivers `msg` to its receivers; false when nobody is interested. */
  route(msg: Msg): boolean {
    const interest = this.interest(msg.subject)
    const plain = interest.plain
    for (let i = 0; i < plain.length; i++) plain[i]!.deliver(msg)
    const groups = interest.groups
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i]!
      const turn = this.turns.get(group.name) ?? 0
      this.turns.set(group.name, turn + 1)
      group.members[turn % group.members.length]!.deliver(msg)
    }
    return plain.length > 0 || groups.length > 0
  }

  private interest(subject: string): Interest {
    const cached = this.cache.get(subject)
    if (cached !== undefined) return cached
    const interest = this.computeInterest(subject)
    if (this.cache.size >= maxCachedSubjects) this.cache.clear()
    this.cache.set(subject, interest)
    return interest
  }

  private computeInterest(subject: string): Interest {
    const matching: Array<Subscription> = []
    const literal = this.literal.get(subject)
    if (literal !== undefined) for (const entry of literal) matching.push(entry.subscription)
    for (const entry of this.wildcard) {
      if (entry.matches(subject)) matching.push(entry.subscription)
    }
    if (matching.length === 0) return noInterest
    const plain: Array<Subscription> = []
    const groups = new Map<string, Array<Subscription>>()
    for (const subscription of matching) {
      if (subscription.queue === undefined) {
        plain.push(subscription)
      } else {
        const members = groups.get(subscription.queue)
        if (members === undefined) groups.set(subscription.queue, [subscription])
        else members.push(subscription)
      }
    }
    return { plain, groups: Array.from(groups, ([name, members]) => ({ name, members })) }
  }
}
