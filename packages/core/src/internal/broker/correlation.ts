/**
 * Correlation ids for messages that come without one. FastStream uses a UUID;
 * any unique string serves the same purpose, and a random per-process prefix
 * plus a counter is unique across processes and far cheaper per message.
 */
import * as Crypto from "node:crypto"

const prefix = `${Crypto.randomBytes(8).toString("hex")}-`
let counter = 0

export const next = (): string => prefix + ++counter
