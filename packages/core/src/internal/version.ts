/** Server versions (`2.9.10`, `2.11.0-RC.1`) compared with what a feature needs. */

const parse = (version: string): readonly [number, number, number] => {
  const [major = "0", minor = "0", patch = "0"] = version.split(".")
  return [parseInt(major, 10) || 0, parseInt(minor, 10) || 0, parseInt(patch, 10) || 0]
}

/** Whether `version` is `major.minor.patch` or later. */
export const atLeast = (version: string, major: number, minor: number, patch = 0): boolean => {
  const [a, b, c] = parse(version)
  return a !== major ? a > major : b !== minor ? b > minor : c >= patch
}
