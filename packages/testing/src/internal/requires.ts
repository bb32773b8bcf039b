/**
 * Tests of features newer than some servers: registered as they are where the
 * adapter has the feature (or, for a test of the refusal, where it does not),
 * and otherwise reported by vitest as skipped, with the versions as the
 * reason. The decision is made when the tests are collected, so a skipped
 * test never starts its layer or logs anything.
 */
import { it as vitest } from "@effect/vitest"
import { type Adapter, supports } from "../Adapters.ts"

type Target = Pick<Adapter, "name" | "version">

/** `it`, or, when `run` is false, an `it` whose every test is skipped with `note`. */
const when = <It extends object>(it: It, run: boolean, note: string): It => {
  if (run) return it
  const skipped = (name: string) => vitest(name, (ctx) => ctx.skip(note))
  // Whatever the test is registered with (`effect`, `live`, `scoped`, …), it is skipped alike.
  return new Proxy(it, { get: () => skipped })
}

/**
 * `requires(it, adapter, "per-message TTL", 2, 11).effect(name, test)`: the
 * test runs where the adapter has what nats-server `major.minor.patch` added.
 */
export const requires = <It extends object>(
  it: It,
  adapter: Target,
  feature: string,
  major: number,
  minor: number,
  patch = 0
): It =>
  when(
    it,
    supports(adapter, major, minor, patch),
    `${feature} needs nats-server ${major}.${minor}.${patch} or later; this is ${adapter.name}`
  )

/**
 * `lacking(it, adapter, "per-message TTL", 2, 11).effect(name, test)`: the
 * test (of how the feature is refused) runs where the adapter is older than
 * nats-server `major.minor.patch`.
 */
export const lacking = <It extends object>(
  it: It,
  adapter: Target,
  feature: string,
  major: number,
  minor: number,
  patch = 0
): It =>
  when(
    it,
    !supports(adapter, major, minor, patch),
    `${adapter.name} has ${feature} (nats-server ${major}.${minor}.${patch} or later): nothing to refuse`
  )
