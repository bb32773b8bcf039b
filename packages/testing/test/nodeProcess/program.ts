// For NodeProcess.test.ts: `ready` prints "ready", then "working" when
// stdin-less work is done, then stays up until killed; `fail` exits at once.
const mode = process.argv[2]
if (mode === "fail") {
  console.error("cannot start: no configuration")
  process.exit(3)
}
console.log("ready")
setImmediate(() => console.log("working"))
setInterval(() => {}, 60_000)
