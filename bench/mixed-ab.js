// `node bench/mixed-ab.js --before OTHER/dist/src/bin.cjs [--rounds 4] [--slice 4] [--setsid] [--variant NAME:ENV=V,…]`: the mixed workload A/B.
// This build's server and another build's, each at its own threadpool default, on one database, take turns (the
// order swapped every round, beside a raw-argon2 verify slice at UV_THREADPOOL_SIZE = cores): GET /users/me at
// 500/s on the idle server, then the same while 50 connections log in. Per round and as medians: /users/me p99
// idle and during logins, logins/s (and against raw argon2), server CPU % during the logins, the load average.
// A variant such as `nice 0:THREADPOOL_NICE=0,UV_THREADPOOL_SIZE=2` shows what the priority itself buys.
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import autocannon from 'autocannon'
import { ARGON2, ARGON2_BASELINE, CLI, PASSWORD, ROOT, cpuMsOf, freePort, http, seedDatabase, serverEnv, sleep, startProcess, stopProcess, username } from './lib.js'

const { values: args } = parseArgs({
  options: {
    before: { type: 'string' },
    rounds: { type: 'string', default: '4' },
    slice: { type: 'string', default: '4' },
    // More servers of this build: `--variant 'nice 0:THREADPOOL_NICE=0,UV_THREADPOOL_SIZE=2'` (name:environment).
    variant: { type: 'string', multiple: true, default: [] },
    // Each server and the raw-argon2 process in its own session (setsid), so its own autogroup: the kernel then
    // weighs it against the load generator and other users as one entity, as a service in its own cgroup is.
    setsid: { type: 'boolean', default: false }
  }
})
if (args.before === undefined) throw new Error('--before OTHER/dist/src/bin.cjs is required')
const ROUNDS = Number(args.rounds)
const SLICE = Number(args.slice)
const USERS = 1000
const dir = mkdtempSync(join(tmpdir(), 'latchkey-mixed-ab-'))
const path = join(dir, 'latchkey.db')
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2 }
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0]
const log = (line) => process.stderr.write(`${line}\n`)
const servers = []

const loginBody = (i) => `grant_type=password&username=${username(1 + ((i * 7919) % USERS))}&password=${encodeURIComponent(PASSWORD)}`
function loginRequests () {
  let i = 0
  return [{ method: 'POST', path: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, setupRequest: (req) => ({ ...req, body: loginBody(i++) }) }]
}
function meRequests (tokens) {
  let i = 0
  return [{ method: 'GET', path: '/users/me', setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${tokens[i++ % tokens.length]}` } }) }]
}
const cannon = (port, options) => autocannon({ url: `http://127.0.0.1:${port}`, connections: 50, pipelining: 1, timeout: 10, ...options })

async function rawVerify () {
  const { stdout } = await promisify(execFile)(process.execPath, [ARGON2_BASELINE, '--mode', 'verify', '--concurrency', '50', '--duration', String(SLICE),
    '--warmup', '0', '--memory-cost', String(ARGON2.memoryCost), '--time-cost', String(ARGON2.timeCost), '--parallelism', String(ARGON2.parallelism), '--password', PASSWORD],
  { env: { ...process.env, UV_THREADPOOL_SIZE: String(availableParallelism()) }, encoding: 'utf8', detached: args.setsid })
  return JSON.parse(stdout.trim().split('\n').pop()).perSecond
}

/** `setsid node CLI`: setsid(1) execs without forking here (its caller is no group leader), so the pid is the server's. */
async function startInSession (cli, env, port) {
  const child = spawn('setsid', [process.execPath, cli], { cwd: ROOT, env: { ...process.env, ...env, PORT: String(port) }, stdio: 'ignore' })
  for (let i = 0; i < 3000 && child.exitCode === null; i++) {
    if ((await http(port, { path: '/health' }, 1000)).status === 200) return { pid: child.pid, stop: () => stopProcess(child) }
    await sleep(5)
  }
  child.kill('SIGKILL')
  throw new Error(`${cli} did not become healthy`)
}

async function mixed (server) {
  const me = { requests: meRequests(server.tokens), connections: 5, overallRate: 500 }
  const idle = await cannon(server.port, { ...me, duration: SLICE })
  const logins = cannon(server.port, { requests: loginRequests(), duration: SLICE + 1.5 })
  await sleep(1000) // the logins fill the threadpool first
  const cpu0 = cpuMsOf(server.pid)
  const t0 = performance.now()
  const during = await cannon(server.port, { ...me, duration: SLICE })
  const cpu = (cpuMsOf(server.pid) - cpu0) * 100 / (performance.now() - t0)
  const login = await logins
  // One more login queues behind the abandoned ones: the next slice starts on an idle pool.
  await http(server.port, { method: 'POST', path: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: loginBody(0) }, 60_000)
  return { idleP99: idle.latency.p99, p99: during.latency.p99, me: during['2xx'] / during.duration, logins: login['2xx'] / login.duration, cpu, errors: idle.non2xx + during.non2xx + login.non2xx + idle.errors + during.errors + login.errors }
}

try {
  const refresh = await seedDatabase(path, { count: USERS, sessionCount: 40 + 20 * args.variant.length })
  const start = async (name, cli, refreshTokens, extra = {}) => {
    const port = await freePort()
    // No UV_THREADPOOL_SIZE: each build runs with its own default.
    const env = serverEnv(path, extra)
    const server = args.setsid ? await startInSession(cli, env, port) : await startProcess([cli], env, { port })
    servers.push(server)
    const tokens = []
    for (const token of refreshTokens) {
      const res = await http(port, { method: 'POST', path: '/auth/refresh', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: token }) })
      tokens.push(JSON.parse(res.body).access_token)
    }
    return { name, port, pid: server.pid, tokens }
  }
  if (process.env.UV_THREADPOOL_SIZE !== undefined) throw new Error('unset UV_THREADPOOL_SIZE: each build must run with its own default')
  const variants = [await start('this build', CLI, refresh.slice(0, 20)), await start('before', args.before, refresh.slice(20, 40))]
  for (const [i, spec] of args.variant.entries()) {
    const [name, vars] = spec.split(':')
    const extra = Object.fromEntries(vars.split(',').map((kv) => kv.split('=')))
    variants.push(await start(name, CLI, refresh.slice(40 + 20 * i, 60 + 20 * i), extra))
  }
  const rows = Object.fromEntries(variants.map((v) => [v.name, []]))
  const raw = []
  for (let r = 0; r < ROUNDS; r++) {
    const order = [...variants.slice(r % variants.length), ...variants.slice(0, r % variants.length)]
    const l0 = load()
    raw.push(await rawVerify())
    for (const s of order) {
      const x = await mixed(s)
      x.ratio = x.logins / raw[r]
      x.load = `${l0}→${load()}`
      rows[s.name].push(x)
      log(`round ${r + 1} ${s.name.padEnd(10)}: /users/me p99 idle ${x.idleP99} ms, during logins ${x.p99} ms (${x.me.toFixed(0)} req/s); ` +
        `logins ${x.logins.toFixed(1)}/s = ${x.ratio.toFixed(2)}× raw verify ${raw[r].toFixed(1)}/s; server CPU ${x.cpu.toFixed(0)} %; errors ${x.errors}; load ${x.load}`)
    }
  }
  for (const [name, xs] of Object.entries(rows)) {
    const m = (k) => median(xs.map((x) => x[k]))
    console.log(`${name.padEnd(10)} median of ${xs.length} rounds: /users/me p99 idle ${m('idleP99')} ms, during logins ${m('p99')} ms; ` +
      `logins ${m('logins').toFixed(1)}/s = ${m('ratio').toFixed(2)}× raw verify (${availableParallelism()} threads, median ${median(raw).toFixed(1)}/s); server CPU ${m('cpu').toFixed(0)} %`)
  }
} finally {
  for (const s of servers) await s.stop()
  rmSync(dir, { recursive: true, force: true })
}
