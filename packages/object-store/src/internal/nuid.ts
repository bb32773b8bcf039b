/**
 * NUIDs: 22 base62 characters, as NATS clients use for the chunk subject of
 * each put. Ours are drawn from the system's CSPRNG (131 bits), which makes a
 * collision across writers as unlikely as with the NUID algorithm.
 */
import { randomFillSync } from "node:crypto"

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
const length = 22
// Bytes at or above 248 (4 * 62) are skipped so that every character is equally likely.
const unbiasedLimit = 248

export const next = (): string => {
  const random = new Uint8Array(64)
  let out = ""
  while (out.length < length) {
    randomFillSync(random)
    for (let i = 0; i < random.length && out.length < length; i++) {
      const byte = random[i]!
      if (byte < unbiasedLimit) out += alphabet[byte % 62]
    }
  }
  return out
}
