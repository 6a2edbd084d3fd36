// `npm run bench -- --soak [--minutes N]`: a bounded soak (not in CI). Several minutes of mixed traffic from
// simulated clients against the built server (127.0.0.1 only): login, refresh chains, /users/me, tasks,
// logout. Reports requests and unexpected answers per route and the server's RSS over time; exits 1 on any
// unexpected answer or when memory keeps growing (last RSS more than 25 % above the first-minute RSS).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { CLI, PASSWORD, freePort, http, rssOf, seedDatabase, serverEnv, startProcess, username } from './lib.js'

const { values: args } = parseArgs({
  options: { soak: { type: 'boolean' }, minutes: { type: 'string', default: '3' }, clients: { type: 'string', default: '16' } }
})
const MINUTES = Math.min(Math.max(Number(args.minutes), 0.2), 30) // bounded whatever is asked
const CLIENTS = Math.min(Math.max(Number(args.clients), 1), 64)
const USERS = 1000

const dir = mkdtempSync(join(tmpdir(), 'latchkey-soak-'))
const dbPath = join(dir, 'latchkey.db')
await seedDatabase(dbPath, { count: USERS, sessionCount: 0 })
const port = await freePort()
const server = await startProcess([CLI], serverEnv(dbPath), { port })

const stats = new Map() // route → { requests, unexpected }
function count (route, ok) {
  const s = stats.get(route) ?? { requests: 0, unexpected: 0 }
  s.requests++
  if (!ok) s.unexpected++
  stats.set(route, s)
}
const json = (body) => { try { return JSON.parse(body) } catch { return {} } }
const form = (fields) => new URLSearchParams(fields).toString()

const deadline = Date.now() + MINUTES * 60_000
async function client (n) {
  let i = 0
  while (Date.now() < deadline) {
    // A login (argon2), then a refresh chain with reads and writes, then a logout.
    const name = username(1 + ((n * 7919 + i++ * 104729) % USERS))
    const login = await http(port, { method: 'POST', path: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form({ username: name, password: PASSWORD }) }, 60_000)
    count('POST /auth/token', login.status === 200)
    if (login.status !== 200) continue
    let { access_token: access, refresh_token: refresh } = json(login.body)
    for (let round = 0; round < 10 && Date.now() < deadline; round++) {
      const auth = { authorization: `Bearer ${access}` }
      for (let k = 0; k < 10; k++) count('GET /users/me', (await http(port, { path: '/users/me', headers: auth })).status === 200)
      const task = await http(port, { method: 'POST', path: '/tasks', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ title: `soak ${n}.${round}` }) })
      count('POST /tasks', task.status === 201)
      count('GET /tasks', (await http(port, { path: '/tasks?limit=5', headers: auth })).status === 200)
      const id = json(task.body).id
      if (id !== undefined) count('DELETE /tasks/{id}', (await http(port, { method: 'DELETE', path: `/tasks/${id}`, headers: auth })).status === 204)
      const next = await http(port, { method: 'POST', path: '/auth/refresh', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: refresh }) })
      count('POST /auth/refresh', next.status === 200)
      if (next.status !== 200) break
      ;({ access_token: access, refresh_token: refresh } = json(next.body))
    }
    const out = await http(port, { method: 'POST', path: '/auth/logout', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: refresh }) })
    count('POST /auth/logout', out.status === 204)
    count('GET /users/me after logout', (await http(port, { path: '/users/me', headers: { authorization: `Bearer ${access}` } })).status === 401)
  }
}

const samples = []
const sampler = setInterval(() => samples.push({ t: Math.round((MINUTES * 60_000 - (deadline - Date.now())) / 1000), rss: rssOf(server.pid).rss }), 10_000)
const started = Date.now()
await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)))
clearInterval(sampler)
const elapsed = (Date.now() - started) / 1000
const peak = rssOf(server.pid).hwm
await server.stop()
rmSync(dir, { recursive: true, force: true })

const MB = 1024 * 1024
let total = 0
let unexpected = 0
console.log(`\nLatchkey soak — ${MINUTES} min, ${CLIENTS} clients, ${USERS} users, argon2id m=19456 t=2 p=1\n`)
console.log('| route | requests | unexpected answers |\n|---|---|---|')
for (const [route, s] of stats) {
  total += s.requests
  unexpected += s.unexpected
  console.log(`| ${route} | ${s.requests} | ${s.unexpected} |`)
}
console.log(`\n${total} requests in ${elapsed.toFixed(0)} s (${(total / elapsed).toFixed(0)} req/s), ${unexpected} unexpected`)
console.log(`RSS (MB) every 10 s: ${samples.map((s) => (s.rss / MB).toFixed(0)).join(' ')}; peak ${(peak / MB).toFixed(1)}`)
const firstMinute = samples.filter((s) => s.t <= 60).map((s) => s.rss)
const baseline = firstMinute.length > 0 ? Math.max(...firstMinute) : samples[0]?.rss
const last = samples[samples.length - 1]?.rss
const flat = baseline === undefined || last === undefined || last <= baseline * 1.25
console.log(`memory ${flat ? 'flat' : 'GROWING'}: first-minute max ${((baseline ?? 0) / MB).toFixed(0)} MB, last ${((last ?? 0) / MB).toFixed(0)} MB`)
process.exitCode = unexpected === 0 && flat ? 0 : 1
