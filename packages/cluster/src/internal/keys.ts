/**
 * Any string as one token of a NATS KV key (`[-/_=.a-zA-Z0-9]`, `.` between
 * tokens): `A-Z a-z 0-9 _ -` as they are, every other byte of its UTF-8 as
 * `=XX`. Readable in `nats kv ls` for the usual names (`default=3A12` is the
 * shard `default:12`), and one token whatever the string holds.
 */
const encoder = new TextEncoder()
const plain = /^[A-Za-z0-9_-]$/

export const token = (text: string): string => {
  if (text === "") return "="
  let out = ""
  for (const char of text) {
    out += plain.test(char)
      ? char
      : Array.from(encoder.encode(char), (byte) => `=${byte.toString(16).toUpperCase().padStart(2, "0")}`).join("")
  }
  return out
}
