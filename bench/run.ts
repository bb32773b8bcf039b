// `pnpm bench [name...]`: runs every benchmark module (or those named), one
// after the other so they don't compete for the machine's two cores.
import * as os from "node:os"

const modules = ["dispatch", "object-store", "files", "kv", "memory"] as const
const wanted = process.argv.slice(2)
const selected = wanted.length === 0 ? modules : modules.filter((name) => wanted.includes(name))

console.log(`nats-effect benchmarks: node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}`)
for (const name of selected) {
  console.log(`\n## ${name}`)
  const module: { default: () => Promise<void> } = await import(`./${name}.ts`)
  await module.default()
}
