// Prometheus metrics: served on METRICS_PORT only (not the API port), parsed as exposition text, counters
// that move with the requests that should move them, route labels from patterns, no user data in labels.
import t from 'tap'
import Fastify from 'fastify'
import configPlugin from '../../plugins/config.js'
import dbPlugin from '../../plugins/db.js'
import auditPlugin from '../../plugins/audit.js'
import servicesPlugin from '../../plugins/services.js'
import metricsPlugin from '../../plugins/metrics.js'
import type { App } from '../../src/app.js'
import { build, form, freePort, PASSWORD, register, signUp, testConfig, type Tokens } from '../helper.js'

interface Exposition {
  types: Map<string, string>
  help: Map<string, string>
  /** `name{a="1",b="2"}` (labels sorted) → value */
  samples: Map<string, number>
}

// Values as Go's ParseFloat reads them (Prometheus does): NaN and Inf in any case (prom-client writes `Nan`).
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|nan|[+-]?inf)(?: -?\d+)?$/i
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** A small parser of the Prometheus text format (0.0.4): every line must be a comment, a sample or empty. */
function parseExposition (text: string): Exposition {
  const out: Exposition = { types: new Map(), help: new Map(), samples: new Map() }
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line)
    if (meta !== null) {
      (meta[1] === 'TYPE' ? out.types : out.help).set(meta[2], meta[3])
      continue
    }
    const m = SAMPLE.exec(line)
    if (m === null) throw new Error(`not Prometheus text: ${line}`)
    const labels = [...(m[2] ?? '').matchAll(LABEL)].map(([, k, v]) => `${k}="${v}"`).sort()
    out.samples.set(labels.length === 0 ? m[1] : `${m[1]}{${labels.join(',')}}`, Number(m[3]))
  }
  return out
}

const series = (name: string, labels: Record<string, string> = {}) => {
  const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort()
  return l.length === 0 ? name : `${name}{${l.join(',')}}`
}

async function scrape (port: number): Promise<{ status: number, type: string | null, text: string, parsed: Exposition }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  const text = await res.text()
  return { status: res.status, type: res.headers.get('content-type'), text, parsed: parseExposition(text) }
}

const value = (e: Exposition, name: string, labels: Record<string, string> = {}) => e.samples.get(series(name, labels)) ?? 0

t.test('metrics on METRICS_PORT: expected series, counters that move, route patterns as labels', async (t) => {
  const port = await freePort()
  const app: App = await build(t, { METRICS_PORT: port, REFRESH_REUSE_GRACE: 0 })
  const user = await signUp(app)

  const before = await scrape(port)
  t.equal(before.status, 200)
  t.match(before.type, /^text\/plain; version=0\.0\.4/)
  for (const [name, type] of [
    ['latchkey_http_requests_total', 'counter'],
    ['latchkey_http_request_duration_seconds', 'histogram'],
    ['latchkey_password_grants_total', 'counter'],
    ['latchkey_refreshes_total', 'counter'],
    ['latchkey_throttle_rejections_total', 'counter'],
    ['latchkey_rate_limit_rejections_total', 'counter'],
    ['latchkey_password_hashes_in_flight', 'gauge'],
    ['latchkey_active_sessions', 'gauge'],
    ['process_cpu_user_seconds_total', 'counter'],
    ['process_resident_memory_bytes', 'gauge'],
    ['nodejs_eventloop_lag_seconds', 'gauge']
  ]) {
    t.equal(before.parsed.types.get(name), type, `${name} is a ${type}`)
    t.ok(before.parsed.help.get(name), `${name} has help`)
  }
  t.equal(value(before.parsed, 'latchkey_active_sessions'), 1, 'active sessions read from the database')
  t.equal(value(before.parsed, 'latchkey_password_hashes_in_flight'), 0)
  t.equal(value(before.parsed, 'latchkey_password_grants_total', { outcome: 'success' }), 1)

  const me = { method: 'GET', route: '/users/me', status: '200' }
  for (let i = 0; i < 3; i++) await app.inject({ url: '/users/me', headers: user.auth })
  await app.inject({ url: '/users/me' })
  await app.inject({ url: `/users/${user.id}`, headers: user.auth })
  await app.inject({ url: '/no/such/route/alice@example.com' })
  await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: 'wrong password here' }) })
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.tokens.refresh_token } })
  t.equal(refreshed.statusCode, 200)
  await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.tokens.refresh_token } })
  await app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'refresh_token', refresh_token: 'never issued' }) })

  const after = (await scrape(port)).parsed
  const moved = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before.parsed, name, labels)
  t.equal(moved('latchkey_http_requests_total', me), 3, 'three 200s on /users/me')
  t.equal(moved('latchkey_http_requests_total', { ...me, status: '401' }), 1)
  t.equal(moved('latchkey_http_request_duration_seconds_count', me), 3, 'the histogram counts them too')
  t.ok(after.samples.has(series('latchkey_http_request_duration_seconds_bucket', { ...me, le: '+Inf' })), 'with buckets')
  t.ok(value(after, 'latchkey_http_request_duration_seconds_sum', me) > 0)
  t.equal(moved('latchkey_http_requests_total', { method: 'GET', route: '/users/:id', status: '403' }), 1, 'the route pattern, not the URL')
  t.equal(moved('latchkey_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1, 'unknown routes share one label')
  t.equal(moved('latchkey_password_grants_total', { outcome: 'failure' }), 1)
  t.equal(moved('latchkey_refreshes_total', { outcome: 'success' }), 1)
  t.equal(moved('latchkey_refreshes_total', { outcome: 'reused' }), 1, 'reuse detections are a refresh outcome')
  t.equal(moved('latchkey_refreshes_total', { outcome: 'invalid' }), 1)
  t.equal(value(after, 'latchkey_active_sessions'), 0, 'the reuse ended the only session')

  const text = (await scrape(port)).text
  for (const userData of [`/users/${user.id}`, user.username, 'alice@example.com', '/no/such', user.tokens.refresh_token]) {
    t.notOk(text.includes(userData), `no user data in labels: ${userData}`)
  }

  const other = await fetch(`http://127.0.0.1:${port}/users/me`)
  t.equal(other.status, 404, 'the metrics server serves only /metrics')
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 404, 'the API does not serve /metrics')
})

t.test('the API port does not serve /metrics; closing the app stops the metrics server', async (t) => {
  const port = await freePort()
  const app = await build(t, { METRICS_PORT: port, PORT: 0 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address() as { port: number }
  t.not(address.port, port)
  const api = await fetch(`http://127.0.0.1:${address.port}/metrics`)
  t.equal(api.status, 404)
  t.equal((await scrape(port)).status, 200)
  await app.close()
  await t.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'nothing listens after close')
})

t.test('throttle and rate-limit rejections are counted', async (t) => {
  const port = await freePort()
  const app = await build(t, { METRICS_PORT: port, LOGIN_THROTTLE_AFTER: 1, RATE_LIMIT_PER_MINUTE: 2 })
  const user = await register(app)
  const wrong = () => app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: 'wrong password here' }) })
  t.equal((await wrong()).statusCode, 401)
  t.equal((await wrong()).statusCode, 429, 'throttled')
  t.equal((await wrong()).statusCode, 429, 'rate limited')
  const tokens = (await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: PASSWORD }) }))
  t.equal(tokens.statusCode, 429)
  const parsed = (await scrape(port)).parsed
  t.equal(value(parsed, 'latchkey_throttle_rejections_total', { throttle: 'login' }), 1)
  t.equal(value(parsed, 'latchkey_password_grants_total', { outcome: 'throttled' }), 1)
  t.equal(value(parsed, 'latchkey_rate_limit_rejections_total', { route: '/auth/token' }), 2)
  t.equal(value(parsed, 'latchkey_http_requests_total', { method: 'POST', route: '/auth/token', status: '429' }), 3)
})

t.test('the hashes-in-flight gauge follows argon2 calls', async (t) => {
  const port = await freePort()
  // A hash at a real cost (64 MiB, 3 passes: hundreds of ms here) is still running when the loopback
  // scrape answers; at the suite's cheap cost it could finish first.
  const app = await build(t, { METRICS_PORT: port, ARGON2_MEMORY_COST: 65536, ARGON2_TIME_COST: 3 })
  const pending = app.passwords.hash(PASSWORD)
  t.equal(value((await scrape(port)).parsed, 'latchkey_password_hashes_in_flight'), 1, 'one hash running')
  await pending
  t.equal(value((await scrape(port)).parsed, 'latchkey_password_hashes_in_flight'), 0)
})

t.test('metrics plugin on a bare Fastify; without METRICS_PORT the counters exist but nothing is served, timed or counted', async (t) => {
  const port = await freePort()
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(configPlugin, { config: testConfig(t, { METRICS_PORT: port }) })
  await app.register(metricsPlugin)
  await app.register(dbPlugin)
  await app.register(auditPlugin)
  await app.register(servicesPlugin)
  app.get('/things/:id', async () => ({ ok: true }))
  await app.ready()
  await app.inject({ url: '/things/41' })
  t.equal(value((await scrape(port)).parsed, 'latchkey_http_requests_total', { method: 'GET', route: '/things/:id', status: '200' }), 1)

  const off = await build(t)
  t.ok(off.metrics.passwordGrants, 'routes can always count')
  await signUp(off)
  t.equal(off.metrics.registry, undefined, 'no registry: no per-request hook, no default metrics')
  const tokens: Tokens = (await off.inject({ method: 'POST', url: '/auth/token', ...form({ username: 'nobody', password: 'x' }) })).json()
  t.ok(tokens, 'requests work without metrics')
})
