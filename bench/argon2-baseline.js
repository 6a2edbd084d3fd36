// Raw argon2id throughput with the server's concurrency model: N calls in flight at once in this
// process's libuv threadpool (UV_THREADPOOL_SIZE is inherited, as the server's is). Prints one JSON line.
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import argon2 from 'argon2'

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'verify' }, // verify | hash
    concurrency: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' }, // seconds
    warmup: { type: 'string', default: '1' }, // seconds
    'memory-cost': { type: 'string', default: '19456' },
    'time-cost': { type: 'string', default: '2' },
    parallelism: { type: 'string', default: '1' },
    password: { type: 'string', default: 'bench-Password-7c1e' }
  }
})
const options = {
  type: argon2.argon2id,
  memoryCost: Number(values['memory-cost']),
  timeCost: Number(values['time-cost']),
  parallelism: Number(values.parallelism)
}
const concurrency = Number(values.concurrency)
const password = values.password
const hash = await argon2.hash(password, options)
// The same work as the server: NFKC normalisation, then the argon2 call.
const once = values.mode === 'hash'
  ? () => argon2.hash(password.normalize('NFKC'), options)
  : () => argon2.verify(hash, password.normalize('NFKC'))

// Counted like autocannon counts the server: completions within the window, over the window's length; calls
// still in flight when it closes finish (so the next measurement starts on an idle threadpool) but do not count.
async function drive (seconds, latencies) {
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  let ops = 0
  let errors = 0
  async function worker () {
    // Bounded by time and by count: no run can go on forever.
    for (let i = 0; i < 1_000_000 && performance.now() < end; i++) {
      const start = performance.now()
      let ok = false
      try {
        ok = await once()
        if (values.mode === 'hash') ok = typeof ok === 'string'
      } catch {
        ok = false
      }
      const done = performance.now()
      if (done > end) return
      if (ok === true) ops++
      else errors++
      latencies?.push(done - start)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { ops, errors, seconds: (end - t0) / 1000 }
}

const rss = () => {
  const status = readFileSync('/proc/self/status', 'utf8')
  return Number(/VmHWM:\s+(\d+)/.exec(status)[1]) * 1024
}
const pct = (sorted, p) => sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p / 100))]

if (Number(values.warmup) > 0) await drive(Number(values.warmup))
const latencies = []
const run = await drive(Number(values.duration), latencies)
latencies.sort((a, b) => a - b)
process.stdout.write(JSON.stringify({
  mode: values.mode,
  concurrency,
  threadpool: Number(process.env.UV_THREADPOOL_SIZE ?? 4),
  ops: run.ops,
  errors: run.errors,
  seconds: run.seconds,
  perSecond: run.ops / run.seconds,
  p50: pct(latencies, 50),
  p99: pct(latencies, 99),
  peakRss: rss()
}) + '\n')
