// `npm run bench`: drives the BUILT server (dist/src/cli.js) and its baselines with autocannon and prints
// one table of throughput, latency, errors, peak RSS and the ratio targets of issue 6.
//
//   node bench/run.js [--quick | --smoke] [--users N] [--connections 50] [--threadpool N]
//                     [--only hello,helmet,me,refresh,login,register,mixed,startup] [--json out.json] [--cpu-prof DIR]
//                     [--cli path/to/other/dist/src/cli.js]
//
// Every server workload gets a fresh server process on the same database, so VmHWM is that workload's peak.
// Ratios compare numbers measured in the same run on the same machine; absolute numbers are not portable.
import { cpus, totalmem } from 'node:os'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import {
  ARGON2, ARGON2_BASELINE, CLI, HELLO, PASSWORD, freePort, http, rssOf, seedDatabase, serverEnv, sleep,
  startProcess, username
} from './lib.js'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    users: { type: 'string' },
    connections: { type: 'string', default: '50' },
    threadpool: { type: 'string' },
    only: { type: 'string' },
    json: { type: 'string' },
    'cpu-prof': { type: 'string' },
    cli: { type: 'string' }, // another build's dist/src/cli.js, to compare before/after
    keep: { type: 'boolean', default: false }
  }
})

const MODES = {
  // seconds per measured run, seconds of warm-up before it, startup samples
  // argon2 workloads run longer (each request takes seconds of queueing at 50 in flight) and without a
  // warm-up run, whose abandoned in-flight hashes would still be burning the threadpool when measuring starts.
  full: { duration: 10, warmup: 2, argonDuration: 20, startups: 5, meSessions: 200 },
  quick: { duration: 3, warmup: 1, argonDuration: 6, startups: 3, meSessions: 100 },
  smoke: { duration: 1, warmup: 0.3, argonDuration: 2, argonConnections: 4, startups: 1, meSessions: 20 }
}
const modeName = args.smoke ? 'smoke' : args.quick ? 'quick' : 'full'
const mode = MODES[modeName]
const CONNECTIONS = Number(args.connections)
// Smoke runs only prove that every workload works: few argon2 requests in flight so some finish in 2 s.
const ARGON_CONNECTIONS = mode.argonConnections ?? CONNECTIONS
const BASE_USERS = 1000
const SCALE_USERS = args.users === undefined ? undefined : Number(args.users)
// The mixed workload: /users/me at a fixed, modest rate beside saturating logins, so its p99 shows
// contention for the CPU and the event loop, not queueing it causes itself.
const MIXED_ME = { connections: 5, rate: 500 }
const only = args.only ? new Set(args.only.split(',')) : undefined
const wanted = (name) => only === undefined || only.has(name)
if (args.threadpool !== undefined) process.env.UV_THREADPOOL_SIZE = args.threadpool
const THREADPOOL = Number(process.env.UV_THREADPOOL_SIZE ?? 4)
const MB = 1024 * 1024
const SERVER_CLI = args.cli ?? CLI

const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-'))
const rows = []
const notes = []

function log (line) { process.stderr.write(`[bench] ${line}\n`) }

/** Sample a process's RSS every 100 ms while `fn` runs; returns fn's result and the peak seen (VmHWM). */
async function withRss (pid, fn) {
  let peak = 0
  const timer = setInterval(() => { peak = Math.max(peak, rssOf(pid).rss) }, 100)
  try {
    const result = await fn()
    const { hwm, rss } = rssOf(pid)
    return { result, peakRss: Math.max(peak, hwm, rss) }
  } finally {
    clearInterval(timer)
  }
}

/** One autocannon run against 127.0.0.1, bounded by `duration` seconds. */
async function cannon (port, options) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    pipelining: 1,
    timeout: 10,
    ...options
  })
  return {
    reqPerSec: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx, // errors include timeouts
    statusCodes: Object.keys(result.statusCodeStats ?? {}).join(','),
    total: result.requests.total
  }
}

/** An argon2-bound run: no warm-up run (see MODES), ARGON_CONNECTIONS in flight, argonDuration seconds. */
const measureArgon = (port, options) =>
  cannon(port, { connections: ARGON_CONNECTIONS, duration: mode.argonDuration, ...options })

/** Warm up (JIT, SQLite page cache), then measure. `makeOptions` builds fresh per-run options. */
async function warmAndMeasure (port, makeOptions) {
  if (mode.warmup > 0) await cannon(port, { ...makeOptions(), duration: mode.warmup })
  return await cannon(port, { ...makeOptions(), duration: mode.duration })
}

async function startServer (databasePath, name) {
  const port = await freePort()
  const nodeArgs = args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : []
  return await startProcess([SERVER_CLI], serverEnv(databasePath), { port, nodeArgs })
}

function addRow (row) {
  rows.push(row)
  const fmt = (n) => typeof n === 'number' ? n.toFixed(1) : n
  log(`${row.workload} [${row.statusCodes ?? ''}]: ${fmt(row.reqPerSec)} req/s p50 ${fmt(row.p50)} p99 ${fmt(row.p99)} errors ${row.errors} rss ${row.peakRss ? (row.peakRss / MB).toFixed(1) : '-'} MB`)
}

// ---------------------------------------------------------------------------------------------------
// Request shapes

/** GET /users/me with the access tokens rotated across requests. */
const meRequests = (tokens) => {
  let i = 0
  return [{
    method: 'GET',
    path: '/users/me',
    setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[i++ % tokens.length]}` } })
  }]
}

/** Password grants over the seeded users, spread across the id range (stride coprime to the count). */
const loginRequests = (userCount) => {
  let k = 0
  return [{
    method: 'POST',
    path: '/auth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    setupRequest: (req) => {
      const i = 1 + ((k++ * 7919) % userCount)
      return { ...req, body: `grant_type=password&username=${username(i)}&password=${encodeURIComponent(PASSWORD)}` }
    }
  }]
}

/** Registrations with a unique username and email per request. */
const registerTag = Date.now().toString(36)
let registered = 0
const registerRequests = () => [{
  method: 'POST',
  path: '/auth/register',
  headers: { 'content-type': 'application/json' },
  setupRequest: (req) => {
    const name = `r${registerTag}_${++registered}`
    return { ...req, body: JSON.stringify({ username: name, email: `${name}@bench.example`, password: PASSWORD }) }
  }
}]

/**
 * Refresh chains. Every live refresh token sits in exactly one place: the pool, or one in-flight request.
 * setupRequest takes a token out; onResponse (which autocannon calls before that connection builds its next
 * request) puts the rotated one back. A token is therefore never presented twice, so rotation never trips
 * reuse detection; the chains whose responses are in flight when a run stops are simply abandoned.
 */
const refreshRequests = (pool) => [{
  method: 'POST',
  path: '/auth/refresh',
  headers: { 'content-type': 'application/json' },
  setupRequest: (req) => ({ ...req, body: JSON.stringify({ refresh_token: pool.shift() ?? 'pool-exhausted' }) }),
  onResponse: (status, body) => {
    if (status === 200) pool.push(JSON.parse(body).refresh_token)
  }
}]

/** Exchange seeded refresh tokens for access tokens (a refresh costs no argon2), a few at a time. */
async function accessTokens (port, refreshTokens) {
  const out = []
  for (let i = 0; i < refreshTokens.length; i += 10) {
    const batch = await Promise.all(refreshTokens.slice(i, i + 10).map((token) => http(port, {
      method: 'POST', path: '/auth/refresh', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: token })
    })))
    for (const res of batch) {
      if (res.status !== 200) throw new Error(`could not obtain an access token: ${res.status} ${res.body}`)
      out.push(JSON.parse(res.body).access_token)
    }
  }
  return out
}

async function argon2Baseline (mode2) {
  const out = execFileSync(process.execPath, [
    ARGON2_BASELINE, '--mode', mode2, '--concurrency', String(ARGON_CONNECTIONS), '--duration', String(mode.argonDuration),
    '--warmup', '0', '--memory-cost', String(ARGON2.memoryCost), '--time-cost', String(ARGON2.timeCost),
    '--parallelism', String(ARGON2.parallelism), '--password', PASSWORD
  ], { env: process.env, encoding: 'utf8', timeout: (mode.argonDuration + 60) * 1000 })
  return JSON.parse(out.trim().split('\n').pop())
}

// ---------------------------------------------------------------------------------------------------
// Workloads

/** Users/me and refresh need live sessions; each autocannon run abandons up to CONNECTIONS chains. */
function sessionPlan () {
  const refresh = CONNECTIONS * 2 * 2 + 20 // warm-up and measured run, twice over for safety
  return { me: mode.meSessions, refresh }
}

async function runMain (databasePath, userCount, label = '') {
  const plan = sessionPlan()
  const t0 = performance.now()
  const tokens = await seedDatabase(databasePath, { count: userCount, sessionCount: plan.me + plan.refresh })
  log(`seeded ${userCount} users and ${tokens.length} sessions in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  const meRefresh = tokens.slice(0, plan.me)
  const refreshPool = tokens.slice(plan.me)
  const suffix = label ? ` @${label}` : ''
  const result = {}

  let meTokens
  if (wanted('me') || wanted('mixed')) {
    const server = await startServer(databasePath, 'me')
    meTokens = await accessTokens(server.port, meRefresh)
    if (wanted('me')) {
      const { result: r, peakRss } = await withRss(server.pid, () => warmAndMeasure(server.port, () => ({ requests: meRequests(meTokens) })))
      result.me = { workload: `GET /users/me${suffix}`, ...r, peakRss }
      addRow(result.me)
    }
    await server.stop()
  }

  if (wanted('refresh') && !label) {
    const server = await startServer(databasePath, 'refresh')
    const pool = [...refreshPool]
    const { result: r, peakRss } = await withRss(server.pid, () => warmAndMeasure(server.port, () => ({ requests: refreshRequests(pool) })))
    result.refresh = { workload: 'POST /auth/refresh (own chain per connection)', ...r, peakRss }
    addRow(result.refresh)
    await server.stop()
  }

  if (wanted('login')) {
    if (!label) {
      const v = await argon2Baseline('verify')
      result.verify = { workload: `raw argon2id verify (${ARGON_CONNECTIONS} in flight)`, reqPerSec: v.perSecond, p50: v.p50, p99: v.p99, errors: v.errors, peakRss: v.peakRss, baseline: true }
      addRow(result.verify)
    }
    const server = await startServer(databasePath, 'login')
    const { result: r, peakRss } = await withRss(server.pid, () => measureArgon(server.port, { requests: loginRequests(userCount) }))
    result.login = { workload: `POST /auth/token password${suffix}`, ...r, peakRss }
    addRow(result.login)
    await server.stop()
  }

  if (wanted('register') && !label) {
    const h = await argon2Baseline('hash')
    result.hash = { workload: `raw argon2id hash (${ARGON_CONNECTIONS} in flight)`, reqPerSec: h.perSecond, p50: h.p50, p99: h.p99, errors: h.errors, peakRss: h.peakRss, baseline: true }
    addRow(result.hash)
    const server = await startServer(databasePath, 'register')
    const { result: r, peakRss } = await withRss(server.pid, () => measureArgon(server.port, { requests: registerRequests() }))
    result.register = { workload: 'POST /auth/register', ...r, peakRss }
    addRow(result.register)
    await server.stop()
  }

  if (wanted('mixed') && !label) {
    const server = await startServer(databasePath, 'mixed')
    const meOptions = () => ({ requests: meRequests(meTokens), connections: MIXED_ME.connections, overallRate: MIXED_ME.rate })
    const { result: idle } = await withRss(server.pid, () => warmAndMeasure(server.port, meOptions))
    result.meIdle = { workload: `GET /users/me at ${MIXED_ME.rate}/s, idle server`, ...idle, peakRss: undefined }
    addRow(result.meIdle)
    const { result: both, peakRss } = await withRss(server.pid, async () => {
      const logins = measureArgon(server.port, { requests: loginRequests(userCount), duration: mode.duration + 1 })
      await sleep(500) // let the logins fill the threadpool first
      const me = await cannon(server.port, { ...meOptions(), duration: mode.duration })
      return { me, login: await logins }
    })
    result.mixed = { workload: `GET /users/me at ${MIXED_ME.rate}/s during ${ARGON_CONNECTIONS}-conn logins`, ...both.me, peakRss, login: both.login }
    addRow(result.mixed)
    notes.push(`mixed: logins meanwhile ran at ${both.login.reqPerSec.toFixed(1)} req/s (p99 ${both.login.p99} ms, ${both.login.errors} errors)`)
    await server.stop()
  }
  return result
}

async function runStartup (databasePath) {
  const samples = []
  let peakRss = 0
  for (let i = 0; i < mode.startups; i++) {
    const server = await startServer(databasePath, 'startup')
    samples.push(server.startupMs)
    peakRss = Math.max(peakRss, rssOf(server.pid).hwm)
    await server.stop()
  }
  samples.sort((a, b) => a - b)
  return { workload: `start → first 200 on /health (${samples.length}×, existing DB)`, reqPerSec: undefined, p50: samples[Math.floor(samples.length / 2)], p99: samples[samples.length - 1], errors: 0, peakRss, samples }
}

// ---------------------------------------------------------------------------------------------------

function machine () {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  return {
    nproc: cpus().length,
    model: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? cpus()[0]?.model,
    node: process.version,
    memoryGiB: (totalmem() / 1024 ** 3).toFixed(1),
    threadpool: THREADPOOL,
    loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  }
}

function table (results) {
  const { hello, main, scale, startup } = results
  const lines = []
  const ratioRow = (row, base, baseName, min, extra = {}) => {
    if (!row) return
    const ratio = base ? row.reqPerSec / base.reqPerSec : undefined
    lines.push({ ...row, ratio: ratio === undefined ? '-' : `${ratio.toFixed(2)}× ${baseName}`, target: `≥ ${min.toFixed(2)}×`, pass: ratio === undefined ? '-' : ratio >= min ? 'PASS' : 'FAIL', ...extra })
  }
  const baseRow = (row) => row && lines.push({ ...row, ratio: 'baseline', target: '-', pass: '-' })
  baseRow(hello)
  for (const variant of ['helmet', 'static-headers']) {
    const row = results[variant]
    if (row) lines.push({ ...row, ratio: hello ? `${(row.reqPerSec / hello.reqPerSec).toFixed(2)}× hello` : '-', target: '-', pass: '-' })
  }
  ratioRow(main.me, hello, 'hello', 0.5)
  ratioRow(main.refresh, hello, 'hello', 0.3)
  baseRow(main.verify)
  ratioRow(main.login, main.verify, 'verify', 0.9)
  baseRow(main.hash)
  ratioRow(main.register, main.hash, 'hash', 0.85)
  if (main.meIdle) lines.push({ ...main.meIdle, ratio: 'reference', target: '-', pass: '-' })
  if (main.mixed) lines.push({ ...main.mixed, ratio: `p99 ${main.mixed.p99} ms`, target: 'p99 ≤ 10 ms', pass: main.mixed.p99 <= 10 ? 'PASS' : 'FAIL' })
  if (startup) lines.push({ ...startup, ratio: `${startup.p50.toFixed(0)} ms median`, target: '≤ 500 ms', pass: startup.p99 <= 500 ? 'PASS' : 'FAIL' })
  if (scale) {
    ratioRow(scale.me, main.me, '1k-user', 0.9)
    ratioRow(scale.login, main.login, '1k-user', 0.9)
  }
  const serverRows = [main.me, main.refresh, main.login, main.register, main.mixed, startup, scale?.me, scale?.login].filter(Boolean)
  const peak = Math.max(0, ...serverRows.map((r) => r.peakRss ?? 0))
  const heaviest = serverRows.find((r) => r.peakRss === peak)
  if (serverRows.length > 0) {
    lines.push({ workload: `peak RSS of the server, any workload (${heaviest?.workload.split(' ').slice(0, 3).join(' ')})`, peakRss: peak, errors: '', ratio: `${(peak / MB).toFixed(1)} MB`, target: '≤ 100 MB', pass: peak <= 100 * MB ? 'PASS' : 'FAIL' })
  }

  const cells = lines.map((r) => [
    r.workload,
    r.reqPerSec === undefined ? '-' : r.reqPerSec.toFixed(r.reqPerSec < 1000 ? 1 : 0),
    r.p50 === undefined ? '-' : Number(r.p50).toFixed(r.p50 < 10 ? 2 : 0),
    r.p99 === undefined ? '-' : Number(r.p99).toFixed(r.p99 < 10 ? 2 : 0),
    String(r.errors ?? '-'),
    r.peakRss ? (r.peakRss / MB).toFixed(1) : '-',
    r.ratio, r.target, r.pass
  ])
  const header = ['workload', 'req/s', 'p50 ms', 'p99 ms', 'errors/non-2xx', 'peak RSS MB', 'ratio', 'target', 'result']
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  const fmtRow = (c) => `| ${c.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`
  return { text: [fmtRow(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(fmtRow)].join('\n'), lines }
}

async function main () {
  const info = machine()
  log(`mode ${modeName}: ${mode.duration} s runs after ${mode.warmup} s warm-up, ${CONNECTIONS} connections, UV_THREADPOOL_SIZE=${THREADPOOL}, argon2id m=${ARGON2.memoryCost} t=${ARGON2.timeCost} p=${ARGON2.parallelism}`)
  log(`machine: ${info.nproc} × ${info.model}, ${info.memoryGiB} GiB, node ${info.node}, load ${info.loadavg}; work dir ${dir}`)
  const results = {}

  if (wanted('hello')) {
    const port = await freePort()
    const hello = await startProcess([HELLO], {}, { port })
    const { result: r, peakRss } = await withRss(hello.pid, () => warmAndMeasure(port, () => ({ path: '/' })))
    results.hello = { workload: 'hello-world (bare Fastify)', ...r, peakRss, baseline: true }
    addRow(results.hello)
    await hello.stop()
  }

  // What helmet costs on a trivial route, and what the same headers cost when computed once (see BENCHMARKS.md).
  if (wanted('helmet')) {
    for (const variant of ['helmet', 'static-headers']) {
      const port = await freePort()
      const hello = await startProcess([HELLO], { HELLO_VARIANT: variant }, { port })
      const { result: r, peakRss } = await withRss(hello.pid, () => warmAndMeasure(port, () => ({ path: '/' })))
      results[variant] = { workload: variant === 'helmet' ? 'hello-world + @fastify/helmet' : 'hello-world + helmet headers precomputed', ...r, peakRss }
      addRow(results[variant])
      await hello.stop()
    }
  }

  const mainDb = join(dir, 'base', 'latchkey.db')
  results.main = await runMain(mainDb, BASE_USERS)
  if (wanted('startup')) {
    results.startup = await runStartup(mainDb)
    addRow(results.startup)
  }
  if (SCALE_USERS !== undefined && SCALE_USERS !== BASE_USERS) {
    results.scale = await runMain(join(dir, 'scale', 'latchkey.db'), SCALE_USERS, `${SCALE_USERS} users`)
  }

  const { text, lines } = table(results)
  const header = `Latchkey benchmark (${modeName}) — ${info.nproc} × ${info.model}, node ${info.node}, ` +
    `UV_THREADPOOL_SIZE=${THREADPOOL}, ${CONNECTIONS} connections, ${mode.duration} s per run, argon2id m=${ARGON2.memoryCost} t=${ARGON2.timeCost} p=${ARGON2.parallelism}, ${BASE_USERS} users` +
    (SCALE_USERS ? ` (scale: ${SCALE_USERS})` : '')
  console.log(`\n${header}\n\n${text}\n`)
  for (const note of notes) console.log(`- ${note}`)
  if (args.json) writeFileSync(args.json, JSON.stringify({ machine: info, mode: modeName, connections: CONNECTIONS, results, lines }, null, 2))

  const ran = [results.hello, results.helmet, results['static-headers'], ...Object.values(results.main), results.startup, ...Object.values(results.scale ?? {})].filter(Boolean)
  const failed = ran.filter((r) => r.errors !== 0 || (r.total !== undefined && r.total === 0))
  if (args.smoke) {
    if (failed.length > 0) {
      console.log(`smoke: FAILED — ${failed.map((r) => `${r.workload}: ${r.errors} errors`).join('; ')}`)
      process.exitCode = 1
    } else {
      console.log(`smoke: OK — ${ran.length} workloads ran with zero errors`)
    }
  } else if (failed.length > 0) {
    console.log(`warning: workloads with errors: ${failed.map((r) => `${r.workload} (${r.errors})`).join('; ')}`)
  }
}

try {
  await main()
} finally {
  if (!args.keep) rmSync(dir, { recursive: true, force: true })
}
