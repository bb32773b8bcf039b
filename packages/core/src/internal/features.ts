/**
 * What needs a newer nats-server than the oldest one supported (2.9), and
 * since which version. Asked for on an older server, it is refused with
 * `FeatureNotSupported` before anything is sent: the server would refuse the
 * request, or silently ignore a field it does not know.
 */
import * as NatsError from "../NatsError.ts"
import { type ErrorContext, fail } from "./apiErrors.ts"
import { atLeast } from "./version.ts"

export interface Feature {
  readonly name: string
  readonly major: number
  readonly minor: number
}

export const streamMetadata: Feature = { name: "stream metadata", major: 2, minor: 10 }
export const streamCompression: Feature = { name: "stream compression", major: 2, minor: 10 }
export const severalFilterSubjects: Feature = { name: "several filter subjects", major: 2, minor: 10 }
export const messageTtl: Feature = { name: "per-message TTL", major: 2, minor: 11 }
export const subjectDeleteMarkers: Feature = { name: "subject delete markers", major: 2, minor: 11 }
export const consumerPause: Feature = { name: "consumer pause", major: 2, minor: 11 }

/** `FeatureNotSupported` when the server is older than `feature` needs. */
export const unsupported = (
  serverVersion: string,
  feature: Feature,
  context: ErrorContext
): NatsError.NatsError | undefined => {
  if (atLeast(serverVersion, feature.major, feature.minor)) return undefined
  const requiredVersion = `${feature.major}.${feature.minor}.0`
  return fail(
    new NatsError.FeatureNotSupported({
      feature: feature.name,
      requiredVersion,
      serverVersion,
      message: `${context.operation}: ${feature.name}: needs nats-server ${requiredVersion} or later, ` +
        `the server is ${serverVersion}`
    })
  )
}
