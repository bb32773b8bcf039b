/**
 * How an Effect `KeyValueStore` key (any string) becomes a NATS key, and
 * back. Effect's keys are `:`-separated (`<storeId>:<key>` in `Persistence`),
 * so `:` becomes the NATS token separator `.`: the keys of one store are the
 * subjects under one token, and `clearPrefix` asks the server only for them.
 * In each token, `A-Z a-z 0-9 _ - /` stay as they are (keys stay readable in
 * `nats kv ls`); every other character is `=XX` per byte of its UTF-8 encoding
 * (WTF-8 for a lone surrogate, so every JavaScript string round-trips); an
 * empty token (the empty key, or around a `:` at either end or doubled) is
 * `=`, which no other token can be.
 */

const separator = ":"
const emptyToken = "="
const plain = /^[A-Za-z0-9_\-/]$/

const hex = (byte: number): string => `=${byte.toString(16).toUpperCase().padStart(2, "0")}`

/** The UTF-8 bytes of a code point, surrogates (which UTF-8 refuses) encoded like any other (WTF-8). */
const codePointBytes = (cp: number): ReadonlyArray<number> => {
  if (cp < 0x80) return [cp]
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)]
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)]
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)]
}

const encodeSegment = (segment: string): string => {
  if (segment === "") return emptyToken
  let out = ""
  // Iterating a string yields code points, and lone surrogates on their own.
  for (const char of segment) {
    out += plain.test(char) ? char : codePointBytes(char.codePointAt(0)!).map(hex).join("")
  }
  return out
}

/** The NATS key of an Effect key. */
export const encode = (key: string): string => key.split(separator).map(encodeSegment).join(".")

/** The NATS key filter of the keys whose first segments are `segments` (`a.b.>`), every key when none. */
export const filterUnder = (segments: ReadonlyArray<string>): string =>
  [...segments.map(encodeSegment), ">"].join(".")

/** Bytes back into a string, lone surrogates included; `undefined` when they are not WTF-8. */
const decodeBytes = (bytes: ReadonlyArray<number>): string | undefined => {
  let out = ""
  for (let i = 0; i < bytes.length;) {
    const lead = bytes[i]!
    const length = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 0
    if (length === 0 || i + length > bytes.length) return undefined
    let cp = length === 1 ? lead : lead & (0xff >> (length + 1))
    for (let j = 1; j < length; j++) {
      const next = bytes[i + j]!
      if ((next & 0xc0) !== 0x80) return undefined
      cp = (cp << 6) | (next & 0x3f)
    }
    if (cp > 0x10ffff) return undefined
    out += String.fromCodePoint(cp)
    i += length
  }
  return out
}

const decodeSegment = (token: string): string | undefined => {
  if (token === emptyToken) return ""
  const bytes: Array<number> = []
  for (let i = 0; i < token.length; i++) {
    if (token[i] !== "=") {
      bytes.push(token.charCodeAt(i))
      continue
    }
    const byte = token.slice(i + 1, i + 3)
    if (!/^[0-9A-F]{2}$/.test(byte)) return undefined
    bytes.push(Number.parseInt(byte, 16))
    i += 2
  }
  return decodeBytes(bytes)
}

/**
 * The Effect key of a NATS key, or `undefined` for a key that `encode` does
 * not produce (written by another client): only the canonical form decodes,
 * so two NATS keys never stand for the same Effect key.
 */
export const decode = (natsKey: string): string | undefined => {
  const segments: Array<string> = []
  for (const token of natsKey.split(".")) {
    const segment = decodeSegment(token)
    if (segment === undefined) return undefined
    segments.push(segment)
  }
  const key = segments.join(separator)
  return encode(key) === natsKey ? key : undefined
}
