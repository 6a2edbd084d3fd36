// Compares the two off-the-event-loop bcrypt bindings for `latchkey import`'s foreign hashes:
// bcrypt (node.bcrypt.js, native addon) and @node-rs/bcrypt (Rust, napi). Per binding: median verify
// time of a $2b$12$ hash, and the event loop's worst delay while 8 verifies run (a timer every 1 ms).
// Usage: npm install --no-save @node-rs/bcrypt && node bench/bcrypt-bindings.js   (only bcrypt is a dependency)
//
// 2 shared cores, Node 20, 2026-12-01 (two runs):
//   bcrypt           verify $2b$12$ median 212 ms; 8 concurrent: 885 ms wall, event loop max delay 7.2 ms, p99 3.9 ms
//   @node-rs/bcrypt  verify $2b$12$ median 214 ms; 8 concurrent: 928 ms wall, event loop max delay 9.4 ms, p99 2.6 ms
//   bcrypt           verify $2b$12$ median 211 ms; 8 concurrent: 879 ms wall, event loop max delay 10.9 ms, p99 2.1 ms
//   @node-rs/bcrypt  verify $2b$12$ median 213 ms; 8 concurrent: 880 ms wall, event loop max delay 9.4 ms, p99 1.9 ms
// Equal speed, neither blocks the loop (the max delay is the shared machine's noise, against ~210 ms
// per verify). bcrypt 6 is the dependency: its prebuilt N-API binaries for linux/darwin/win32 ship inside
// its own npm package (node-gyp-build picks one; it compiles only where none fits). @node-rs/bcrypt was
// tried first, but it puts each platform's binary in a separate optional package, and a lockfile written
// where only some of those can be fetched makes `npm ci` refuse to install on a clean clone.
// bcryptjs was not considered: pure JS, it runs on the event loop.
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const bindings = {
  bcrypt: require('bcrypt'),
  '@node-rs/bcrypt': require('@node-rs/bcrypt')
}
const password = 'correct horse battery staple'
const hash = await bindings.bcrypt.hash(password, 12)

for (const [name, lib] of Object.entries(bindings)) {
  const check = (pw) => name === 'bcrypt' ? lib.compare(pw, hash) : lib.verify(pw, hash)
  if (!await check(password) || await check('wrong password')) throw new Error(`${name} verifies wrongly`)
  const times = []
  for (let i = 0; i < 7; i++) {
    const start = process.hrtime.bigint()
    await check(password)
    times.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  times.sort((a, b) => a - b)
  const delay = monitorEventLoopDelay({ resolution: 1 })
  delay.enable()
  const ticker = setInterval(() => {}, 1)
  const start = process.hrtime.bigint()
  await Promise.all(Array.from({ length: 8 }, () => check(password)))
  const wall = Number(process.hrtime.bigint() - start) / 1e6
  clearInterval(ticker)
  delay.disable()
  console.log(`${name.padEnd(16)} verify $2b$12$ median ${times[3].toFixed(0)} ms; 8 concurrent: ${wall.toFixed(0)} ms wall, event loop max delay ${(delay.max / 1e6).toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms`)
}
