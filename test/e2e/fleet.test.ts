// Three Latchkey processes on one PostgreSQL database behave as one server (API.md "Several instances"):
// racing requests spread across the instances, a kill -9 under write load, PostgreSQL stopped and restarted.
import pg from 'pg'
import t, { type Test } from 'tap'
import { PASSWORD } from '../helper.js'
import { pgDatabase, startPgServer } from '../pg.js'
import { createAdmin, serve, type Served } from './server-process.js'

interface Tokens { access_token: string, refresh_token: string }

const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString()
})
const json = (method: string, body: unknown, token?: string) => ({
  method,
  headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
  body: JSON.stringify(body)
})
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })
const sid = (token: string): number => (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { sid: number }).sid

/** Three instances on one database; `extra` settings for all of them. */
async function fleet (t: Test, url: string, extra: Record<string, string> = {}): Promise<Served[]> {
  // One issuer for the fleet (its default, http://HOST:PORT, differs per instance): docs/scaling.md.
  const env = { DATABASE_URL: url, JWT_ISSUER: 'http://latchkey.fleet', REFRESH_REUSE_GRACE: '2', KEY_REFRESH_INTERVAL: '1', ...extra }
  // Started together: the migrations are applied once (advisory lock) and one signing key is made.
  const servers = await Promise.all([0, 1, 2].map(async () => await serve(t, env)))
  for (const [i, s] of servers.entries()) t.ok(s.ready, `instance ${i} is up`)
  return servers
}

async function signUp (base: string, username: string): Promise<void> {
  const res = await fetch(`${base}/auth/register`, json('POST', { username, email: `${username}@example.com`, password: PASSWORD }))
  if (res.status !== 201) throw new Error(`register ${username}: ${res.status}`)
}

async function token (base: string, username: string, password = PASSWORD): Promise<Tokens> {
  const res = await fetch(`${base}/auth/token`, form({ grant_type: 'password', username, password }))
  if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${await res.text()}`)
  return await res.json() as Tokens
}

const refresh = async (base: string, refreshToken: string) =>
  await fetch(`${base}/auth/refresh`, json('POST', { refresh_token: refreshToken }))

t.test('three instances on one PostgreSQL database', async (t) => {
  const url = await pgDatabase(t)
  const [a, b, c] = await fleet(t, url, { LOGIN_THROTTLE_AFTER: '3' })
  const all = [a, b, c]
  const at = (i: number) => all[i % 3].base

  t.test('20 identical registrations spread across the fleet: one 201, nineteen 409', async (t) => {
    const body = { username: 'racer', email: 'racer@example.com', password: PASSWORD }
    const statuses = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      (await fetch(`${at(i)}/auth/register`, json('POST', body))).status))
    t.same(statuses.filter((s) => s === 201).length, 1, 'one 201')
    t.same(statuses.filter((s) => s === 409).length, 19, 'the others 409')
  })

  t.test('a token signed by one instance is accepted by the others', async (t) => {
    await signUp(a.base, 'crosser')
    const tokens = await token(a.base, 'crosser')
    for (const s of all) t.equal((await fetch(`${s.base}/users/me`, bearer(tokens.access_token))).status, 200)
  })

  t.test('20 concurrent refreshes of one token across instances: 20 working pairs of one session', async (t) => {
    await signUp(b.base, 'tabs')
    const first = await token(b.base, 'tabs')
    const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => await refresh(at(i), first.refresh_token)))
    t.same(answers.map((r) => r.status), Array(20).fill(200), 'every refresh is answered 200')
    const pairs = await Promise.all(answers.map(async (r) => await r.json() as Tokens))
    t.equal(new Set(pairs.map((p) => p.refresh_token)).size, 20, '20 distinct refresh tokens')
    t.same(new Set(pairs.map((p) => sid(p.access_token))), new Set([sid(first.access_token)]), 'all of one session')
    for (const [i, p] of pairs.entries()) {
      t.equal((await fetch(`${at(i + 1)}/users/me`, bearer(p.access_token))).status, 200, `pair ${i} access token works`)
    }
    const again = await refresh(at(5), pairs[7].refresh_token)
    t.equal(again.status, 200, 'a sibling refresh token rotates in turn')
  })

  t.test('reuse after the grace ends the session on every instance at once', async (t) => {
    await signUp(c.base, 'thief')
    const first = await token(c.base, 'thief')
    const next = await (await refresh(a.base, first.refresh_token)).json() as Tokens
    await new Promise((resolve) => setTimeout(resolve, 2500)) // past REFRESH_REUSE_GRACE=2
    t.equal((await refresh(b.base, first.refresh_token)).status, 401, 'the old token is refused')
    for (const s of all) {
      t.equal((await fetch(`${s.base}/users/me`, bearer(next.access_token))).status, 401, `${s.port}: the access token is dead`)
    }
    t.equal((await refresh(c.base, next.refresh_token)).status, 401, 'the newest refresh token is dead too')
  })

  t.test('logout on one instance is seen by the others on the next request', async (t) => {
    await signUp(a.base, 'leaver')
    const tokens = await token(a.base, 'leaver')
    t.equal((await fetch(`${b.base}/auth/logout`, json('POST', { refresh_token: tokens.refresh_token }))).status, 204)
    t.equal((await fetch(`${c.base}/users/me`, bearer(tokens.access_token))).status, 401)
    t.equal((await fetch(`${a.base}/users/me`, bearer(tokens.access_token))).status, 401)
  })

  t.test('two admins demoting each other on different instances: one 200, and one admin is left', async (t) => {
    createAdmin(a, 'boss1', PASSWORD)
    createAdmin(a, 'boss2', PASSWORD)
    const [one, two] = await Promise.all([token(a.base, 'boss1'), token(b.base, 'boss2')])
    const me = async (s: Served, tk: string) => await (await fetch(`${s.base}/users/me`, bearer(tk))).json() as { id: number }
    const [id1, id2] = [(await me(a, one.access_token)).id, (await me(b, two.access_token)).id]
    // Any other admin (an earlier test's) would make both demotions legal: there is none, checked here.
    const pool = new pg.Pool({ connectionString: url, max: 2 })
    t.teardown(async () => { await pool.end() })
    const admins = async () => Number((await pool.query("SELECT count(*) AS n FROM users WHERE role = 'admin' AND NOT disabled")).rows[0].n)
    t.equal(await admins(), 2)
    const statuses = await Promise.all([
      fetch(`${a.base}/users/${id2}`, json('PATCH', { role: 'user' }, one.access_token)).then((r) => r.status),
      fetch(`${b.base}/users/${id1}`, json('PATCH', { role: 'user' }, two.access_token)).then((r) => r.status)
    ])
    t.equal(statuses.filter((s) => s === 200).length, 1, `one demotion wins (${statuses.join(', ')})`)
    // The other is the last-admin guard's 409, or a 403 when its caller was already demoted before it was authorised.
    t.ok(statuses.some((s) => s === 409 || s === 403), 'the other is refused')
    t.equal(await admins(), 1, 'exactly one active admin is left')
  })

  t.test('the login throttle is fleet-wide: a burst across instances gets at most 3 verdicts', async (t) => {
    await signUp(b.base, 'target')
    const statuses = await Promise.all(Array.from({ length: 30 }, async (_, i) =>
      (await fetch(`${at(i)}/auth/token`, form({ grant_type: 'password', username: 'target', password: 'wrong password!' }))).status))
    t.ok(statuses.filter((s) => s === 401).length <= 3, `at most LOGIN_THROTTLE_AFTER=3 passwords checked (${statuses.filter((s) => s === 401).length})`)
    t.equal(statuses.filter((s) => s === 429).length + statuses.filter((s) => s === 401).length, 30, 'the rest are 429 slow_down')
  })
})

t.test('kill -9 of one instance under write load loses no acknowledged write', async (t) => {
  const url = await pgDatabase(t)
  const servers = await fleet(t, url)
  await signUp(servers[0].base, 'writer')
  const tokens = await token(servers[0].base, 'writer')
  const acknowledged: number[] = []
  const writing = { stop: false }
  const load = servers.map(async (s) => {
    for (let i = 0; !writing.stop && i < 400; i++) {
      try {
        const res = await fetch(`${s.base}/tasks`, json('POST', { title: `task ${s.port} ${i}` }, tokens.access_token))
        if (res.status === 201) acknowledged.push((await res.json() as { id: number }).id)
      } catch {} // the killed instance's connections drop
    }
  })
  await new Promise((resolve) => setTimeout(resolve, 1500))
  servers[1].child.kill('SIGKILL')
  await servers[1].exited
  await new Promise((resolve) => setTimeout(resolve, 500))
  writing.stop = true
  await Promise.all(load)
  t.ok(acknowledged.length > 20, `writes were acknowledged (${acknowledged.length})`)
  const pool = new pg.Pool({ connectionString: url, max: 1 })
  t.teardown(async () => { await pool.end() })
  const stored = new Set((await pool.query<{ id: number }>('SELECT id FROM tasks')).rows.map((r) => r.id))
  t.same(acknowledged.filter((id) => !stored.has(id)), [], 'every acknowledged task is stored')
})

t.test('PostgreSQL stopped and restarted: 503s with Retry-After, then recovery without a restart', async (t) => {
  const server = startPgServer(t)
  const url = await pgDatabase(t, server.url)
  const servers = await fleet(t, url, { DATABASE_STATEMENT_TIMEOUT: '2000' })
  await signUp(servers[0].base, 'patient')
  const tokens = await token(servers[0].base, 'patient')
  server.pause()
  for (const s of servers) {
    t.equal((await fetch(`${s.base}/health`)).status, 200, 'liveness stays 200')
    t.equal((await fetch(`${s.base}/ready`)).status, 503, '/ready is 503')
    const me = await fetch(`${s.base}/users/me`, bearer(tokens.access_token))
    t.equal(me.status, 503, 'a request needing the database is 503')
    t.ok(Number(me.headers.get('retry-after')) > 0, 'with Retry-After')
    t.equal(s.child.exitCode, null, 'the process keeps running')
  }
  server.resume()
  for (const s of servers) {
    let ready = 0
    for (let i = 0; i < 100 && ready !== 200; i++) {
      ready = (await fetch(`${s.base}/ready`)).status
      if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 200))
    }
    t.equal(ready, 200, 'ready again')
    t.equal((await fetch(`${s.base}/users/me`, bearer(tokens.access_token))).status, 200, 'serving again')
  }
})
