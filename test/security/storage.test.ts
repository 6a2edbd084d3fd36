// Storage faults: a read-only, full or locked database answers writes with 503 and keeps serving reads.
import t, { type Test } from 'tap'
import { Writable } from 'node:stream'
import Database from 'better-sqlite3'
import { DrizzleQueryError } from 'drizzle-orm'
import Fastify from 'fastify'
import errorsPlugin from '../../plugins/errors.js'
import type { LightMyRequestResponse } from 'fastify'
import { build, form, newUser, PASSWORD, signUp } from '../helper.js'

const UNAVAILABLE = /database/i

function isProblem503 (t: Test, res: LightMyRequestResponse, name: string) {
  t.equal(res.statusCode, 503, `${name}: 503`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${name}: problem+json`)
  const body = res.json()
  t.match(body, { type: 'about:blank', title: 'Service Unavailable', status: 503, detail: UNAVAILABLE }, `${name}: detail says the database is unavailable`)
  t.notMatch(res.body, /SQLITE|readonly|attempt to write|sql/i, `${name}: no SQL or driver message leaks`)
}

function isOAuth503 (t: Test, res: LightMyRequestResponse, name: string) {
  t.equal(res.statusCode, 503, `${name}: 503`)
  t.same(Object.keys(res.json()).sort(), ['detail', 'error', 'error_description'], `${name}: OAuth error shape`)
  t.equal(res.json().error, 'temporarily_unavailable', `${name}: temporarily_unavailable`)
  t.match(res.json().error_description, UNAVAILABLE)
}

t.test('read-only database (PRAGMA query_only): writes 503, reads keep working', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const created = await app.inject({ method: 'POST', url: '/tasks', headers: user.auth, payload: { title: 'before' } })
  t.equal(created.statusCode, 201)

  app.sqlite.pragma('query_only = ON')
  t.teardown(() => { app.sqlite.pragma('query_only = OFF') })

  isProblem503(t, await app.inject({ method: 'POST', url: '/auth/register', payload: newUser() }), 'register')
  isOAuth503(t, await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: PASSWORD }) }), 'password grant')
  isOAuth503(t, await app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'refresh_token', refresh_token: user.tokens.refresh_token }) }), 'refresh grant')
  isProblem503(t, await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.tokens.refresh_token } }), 'refresh')
  isProblem503(t, await app.inject({ method: 'POST', url: '/tasks', headers: user.auth, payload: { title: 'during' } }), 'tasks POST')
  isProblem503(t, await app.inject({ method: 'PATCH', url: '/users/me', headers: user.auth, payload: { email: 'new@example.com' } }), 'users/me PATCH')

  t.equal((await app.inject({ url: '/health' })).statusCode, 200, '/health')
  const ready = await app.inject({ url: '/ready' })
  isProblem503(t, ready, '/ready (reads answer, but the write probe fails)')
  t.equal(ready.headers['retry-after'], '5', '/ready: Retry-After')
  const me = await app.inject({ url: '/users/me', headers: user.auth })
  t.equal(me.statusCode, 200, '/users/me')
  const tasks = await app.inject({ url: '/tasks', headers: user.auth })
  t.equal(tasks.statusCode, 200, 'GET /tasks')
  t.same(tasks.json().items.map((x: { title: string }) => x.title), ['before'], 'nothing was half-written')
  t.equal((await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: 'wrong password' }) })).statusCode, 401, 'a failed login needs no write and still answers 401')

  app.sqlite.pragma('query_only = OFF')
  t.equal((await app.inject({ method: 'POST', url: '/tasks', headers: user.auth, payload: { title: 'after' } })).statusCode, 201, 'writes work again once the database is writable')
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.tokens.refresh_token } })
  t.equal(refreshed.statusCode, 200, 'the refresh token was not rotated by the failed attempts')
})

t.test('full disk (SQLITE_FULL via max_page_count): 503, never 500; the process keeps serving', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const pages = app.sqlite.pragma('page_count', { simple: true }) as number
  app.sqlite.pragma(`max_page_count = ${pages + 2}`)

  const statuses = new Map<number, number>()
  let full: LightMyRequestResponse | undefined
  for (let i = 0; i < 200 && full === undefined; i++) {
    const res = await app.inject({ method: 'POST', url: '/tasks', headers: user.auth, payload: { title: `filler ${i}`, description: 'x'.repeat(10_000) } })
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    if (res.statusCode !== 201) full = res
  }
  t.comment(`statuses while filling: ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.ok(full !== undefined, 'the database filled up')
  isProblem503(t, full!, 'tasks POST on a full database')
  // A small row may still fit in a page's free space: register until the space is gone.
  let register: LightMyRequestResponse | undefined
  for (let i = 0; i < 100 && register === undefined; i++) {
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload: newUser() })
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    if (res.statusCode !== 201) register = res
  }
  t.ok(register !== undefined, 'registrations fill the last pages')
  isProblem503(t, register!, 'register on a full database')
  t.notOk(statuses.has(500), 'never a 500')

  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'still alive')
  t.equal((await app.inject({ url: '/users/me', headers: user.auth })).statusCode, 200, 'reads still work')
  t.equal((await app.inject({ url: '/tasks?limit=100', headers: user.auth })).statusCode, 200)
  t.equal(app.sqlite.pragma('integrity_check', { simple: true }), 'ok', 'integrity_check ok while full')

  app.sqlite.pragma('max_page_count = 1073741823')
  t.equal((await app.inject({ method: 'POST', url: '/tasks', headers: user.auth, payload: { title: 'space again' } })).statusCode, 201, 'writes resume once there is space')
  t.equal(app.sqlite.pragma('integrity_check', { simple: true }), 'ok', 'integrity_check ok afterwards')
})

t.test('locked database (SQLITE_BUSY: another writer holds the lock past busy_timeout): 503', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  // The lock wait blocks the event loop (better-sqlite3 is synchronous): keep it short for the test.
  app.sqlite.pragma('busy_timeout = 50')
  const other = new Database(app.config.DATABASE_PATH)
  t.teardown(() => { if (other.inTransaction) other.exec('ROLLBACK'); other.close() })
  other.exec('BEGIN IMMEDIATE')

  isProblem503(t, await app.inject({ method: 'POST', url: '/tasks', headers: user.auth, payload: { title: 'locked' } }), 'tasks POST while locked')
  isProblem503(t, await app.inject({ method: 'POST', url: '/auth/register', payload: newUser() }), 'register while locked')
  t.equal((await app.inject({ url: '/users/me', headers: user.auth })).statusCode, 200, 'WAL readers are not blocked by the writer')

  other.exec('ROLLBACK')
  t.equal((await app.inject({ method: 'POST', url: '/tasks', headers: user.auth, payload: { title: 'unlocked' } })).statusCode, 201, 'writes resume when the lock is released')
})

t.test('errors plugin on a bare Fastify: a wrapped query error is classified by its cause and logged without its params', async (t) => {
  let logs = ''
  const stream = new Writable({ write (chunk, _enc, done) { logs += String(chunk); done() } })
  const app = Fastify({ logger: { level: 'error', stream } })
  await app.register(errorsPlugin)
  t.teardown(() => app.close())
  const secret = '$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0c2FsdA$notarealhash'
  const wrapped = (code: string) => new DrizzleQueryError('insert into "users" ("email", "password_hash") values (?, ?)', ['victim@example.com', secret],
    Object.assign(new Error(code === 'SQLITE_FULL' ? 'database or disk is full' : 'UNIQUE constraint failed'), { code }))
  app.get('/full', async () => { throw wrapped('SQLITE_FULL') })
  app.get('/other', async () => { throw wrapped('SQLITE_MISMATCH') })

  const full = await app.inject('/full')
  isProblem503(t, full, 'wrapped SQLITE_FULL')
  const other = await app.inject('/other')
  t.equal(other.statusCode, 500)
  t.same(other.json(), { type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'An unexpected error occurred' })
  for (const res of [full, other]) t.notMatch(res.body, /victim|argon2|insert/, 'nothing of the query in the answer')
  t.match(logs, /SQLITE_FULL/, 'the cause is logged')
  t.match(logs, /insert into/, 'the SQL is logged')
  t.notMatch(logs, /victim@example\.com|argon2id/, 'the bound values are not')
})

t.test('errors plugin: SQLite codes classified once (src/db/faults.ts): unavailable 503 + Retry-After, constraint 409, the rest 500', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(errorsPlugin)
  t.teardown(() => app.close())
  app.get('/:code', async (request) => {
    const { code } = request.params as { code: string }
    throw new DrizzleQueryError('update "tasks" set "title" = ?', ['secret'], Object.assign(new Error(code), { code }))
  })
  app.get('/oauth/:code', { config: { oauth: true } }, async (request) => {
    throw Object.assign(new Error('x'), { code: (request.params as { code: string }).code })
  })
  for (const code of ['SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED', 'SQLITE_IOERR', 'SQLITE_IOERR_WRITE', 'SQLITE_IOERR_SHMMAP',
    'SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED', 'SQLITE_CANTOPEN']) {
    const res = await app.inject(`/${code}`)
    isProblem503(t, res, code)
    t.equal(res.headers['retry-after'], '5', `${code}: Retry-After`)
    const oauth = await app.inject(`/oauth/${code}`)
    t.equal(oauth.statusCode, 503)
    t.equal(oauth.headers['retry-after'], '5', `${code} on an OAuth route: Retry-After`)
    t.equal(oauth.json().error, 'temporarily_unavailable')
  }
  for (const code of ['SQLITE_CONSTRAINT', 'SQLITE_CONSTRAINT_FOREIGNKEY', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_NOTNULL']) {
    const res = await app.inject(`/${code}`)
    t.equal(res.statusCode, 409, `${code}: 409`)
    t.equal(res.json().title, 'Conflict')
    t.notMatch(res.body, /SQLITE|secret|update/, `${code}: nothing of the query`)
  }
  for (const code of ['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_MISMATCH', 'SQLITE_ERROR', 'SQLITE_FULLNESS']) {
    const res = await app.inject(`/${code}`)
    t.equal(res.statusCode, 500, `${code}: 500`)
    t.equal(res.headers['retry-after'], undefined)
  }
})
