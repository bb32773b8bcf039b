/** Sizes, rates and durations as people read them. */

const units = ["B", "KiB", "MiB", "GiB", "TiB"]

/** `1.5 MiB`; bytes below 1 KiB as a whole number. */
export const bytes = (n: number): string => {
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}

/** Bytes per second as MiB/s; `-` before any time has passed. */
export const rate = (n: number, millis: number): string =>
  millis <= 0 ? "- MiB/s" : `${(n / 1024 / 1024 / (millis / 1000)).toFixed(1)} MiB/s`

/** `0:07`, `12:30`, `1:02:03`. */
export const clock = (millis: number): string => {
  const total = Math.max(0, Math.round(millis / 1000))
  const seconds = String(total % 60).padStart(2, "0")
  const minutes = Math.floor(total / 60) % 60
  const hours = Math.floor(total / 3600)
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`
}

/** `0.42 s` */
export const seconds = (millis: number): string => `${(millis / 1000).toFixed(2)} s`

/** `1 message`, `3 messages`. */
export const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? "" : "s"}`
