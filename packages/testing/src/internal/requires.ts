/**
 * Tests of features newer than some servers: registered as they are where the
 * adapter has the feature, and otherwise reported by vitest as skipped, with
 * the feature and both versions as the reason.
 */
import { it as vitest } from "@effect/vitest"
import { type Adapter, supports } from "../Adapters.ts"

/**
 * `requires(it, adapter, "per-message TTL", 2, 11).effect(name, test)`: `it`
 * itself when the adapter has what nats-server `major.minor.patch` added;
 * otherwise every test registered through it is skipped with a note saying
 * why. The decision is made when the tests are collected, so a skipped test
 * never starts its layer or logs anything.
 */
export const requires = <It extends object>(
  it: It,
  adapter: Adapter,
  feature: string,
  major: number,
  minor: number,
  patch = 0
): It => {
  if (supports(adapter, major, minor, patch)) return it
  const note = `${feature} needs nats-server ${major}.${minor}.${patch} or later; this is ${adapter.name}`
  const skipped = (name: string) => vitest(name, (ctx) => ctx.skip(note))
  // Whatever the test is registered with (`effect`, `live`, `scoped`, …), it is skipped alike.
  return new Proxy(it, { get: () => skipped })
}
