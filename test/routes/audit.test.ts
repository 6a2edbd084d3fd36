// The audit log through HTTP: every event type from the action that causes it (with its ids), atomicity,
// access control, newest-first pagination and filters, retention, the warn log line, and no secrets.
import t, { type Test } from 'tap'
import { Writable } from 'node:stream'
import { buildApp, logRedactPaths } from '../../src/app.js'
import type { App } from '../../src/app.js'
import type { AuditEventView } from '../../src/services/audit.js'
import { count, failing, rawRows } from '../db.js'
import { build, form, login, newUser, PASSWORD, register, signUp, testConfig, type Tokens } from '../helper.js'

const UA = { 'user-agent': 'audit-test/1.0' }
const bearer = (tokens: Tokens) => ({ authorization: `Bearer ${tokens.access_token}` })
const sidOf = (tokens: Tokens): number =>
  (JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString()) as { sid: number }).sid

/** Every event, newest first, straight from the service (the routes are tested against it below). */
const allEvents = async (app: App): Promise<AuditEventView[]> => (await app.audit.list({ limit: 100_000 })).items
const ofType = async (app: App, type: string) => (await allEvents(app)).filter((e) => e.type === type)
const countEvents = async (app: App): Promise<number> => await count(app, 'audit_events')

interface AuditPage { items: AuditEventView[], next_cursor: string | null }

/** Follow next_cursor through every page of an audit route. */
async function pages (app: App, url: string, headers: Record<string, string>, query: Record<string, string> = {}) {
  const seen: AuditPage[] = []
  let cursor: string | null = null
  do {
    const res = await app.inject({ url, headers, query: cursor === null ? query : { ...query, cursor } })
    if (res.statusCode !== 200) throw new Error(`${url} failed: ${res.statusCode} ${res.body}`)
    const page: AuditPage = res.json<AuditPage>()
    seen.push(page)
    cursor = page.next_cursor
  } while (cursor !== null)
  return seen
}

/** An app whose pino output (warn and above) is collected as parsed lines. */
async function loggedApp (t: Test, overrides: Record<string, string | number> = {}) {
  const lines: Array<Record<string, unknown>> = []
  let raw = ''
  const stream = new Writable({
    write (chunk, _enc, done) {
      raw += String(chunk)
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  const app = await buildApp(testConfig(t, overrides), { logger: { level: 'warn', stream, redact: logRedactPaths } })
  t.teardown(() => app.close())
  await app.ready()
  return { app, warnings: (msg: RegExp) => lines.filter((l) => l.level === 40 && msg.test(String(l.msg))), raw: () => raw }
}

t.test('user.registered, login.succeeded and login.failed carry the right ids, address and user agent', async (t) => {
  const app = await build(t)
  const body = newUser()
  const reg = await app.inject({ method: 'POST', url: '/auth/register', payload: body, headers: UA })
  const id = reg.json<{ id: number }>().id
  const [registered] = await ofType(app, 'user.registered')
  t.match(registered, { user_id: id, actor_id: id, session_id: null, ip: '127.0.0.1', user_agent: 'audit-test/1.0', detail: { role: 'user' } })
  t.match(registered.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)

  const tokens = await login(app, body.username, PASSWORD, UA)
  const [succeeded] = await ofType(app, 'login.succeeded')
  t.match(succeeded, { user_id: id, actor_id: id, session_id: sidOf(tokens), ip: '127.0.0.1', user_agent: 'audit-test/1.0', detail: {} })

  await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: body.username, password: 'not the password' }) })
  const unknownName = 'nobody_by_this_name'
  await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: unknownName, password: 'whatever it is' }) })
  const [unknown, wrong] = await ofType(app, 'login.failed')
  t.match(wrong, { user_id: id, actor_id: null, session_id: null, ip: '127.0.0.1', detail: { reason: 'wrong_password' } })
  t.match(unknown, { user_id: null, actor_id: null, session_id: null, ip: '127.0.0.1', detail: { reason: 'unknown_account' } })
  t.notOk(JSON.stringify(await allEvents(app)).includes(unknownName), 'the unknown name is recorded nowhere')

  await app.users.setRoleOrDisabled(id, { disabled: true }, { actorId: null })
  await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: body.username, password: PASSWORD }) })
  t.match((await ofType(app, 'login.failed'))[0], { user_id: id, detail: { reason: 'disabled' } }, 'a disabled account’s right password is a failed login')
})

t.test('a failed action leaves no event: 409 registration, failed last-admin demotion and deletion, wrong password', async (t) => {
  const app = await build(t)
  const admin = await signUp(app, { role: 'admin' })
  await app.mail.idle() // the verification mail's event is written after registration answers
  const before = (await countEvents(app))
  const taken = await app.inject({ method: 'POST', url: '/auth/register', payload: { ...newUser(), username: admin.username } })
  t.equal(taken.statusCode, 409)
  const demote = await app.inject({ method: 'PATCH', url: `/users/${admin.id}`, headers: admin.auth, payload: { role: 'user' } })
  t.equal(demote.statusCode, 409)
  const disable = await app.inject({ method: 'PATCH', url: `/users/${admin.id}`, headers: admin.auth, payload: { disabled: true } })
  t.equal(disable.statusCode, 409)
  const remove = await app.inject({ method: 'DELETE', url: `/users/${admin.id}`, headers: admin.auth })
  t.equal(remove.statusCode, 409)
  const password = await app.inject({ method: 'POST', url: '/users/me/password', headers: admin.auth, payload: { current_password: 'wrong one!', new_password: 'another long passphrase' } })
  t.equal(password.statusCode, 403)
  const noop = await app.inject({ method: 'PATCH', url: '/users/me', headers: admin.auth, payload: {} })
  t.equal(noop.statusCode, 200)
  await app.mail.idle()
  t.equal((await countEvents(app)), before, 'no event for a change that did not happen')
})

t.test('an event never exists without its change, nor a change without its event', async (t) => {
  const app = await build(t)
  const user = await register(app)

  // The event cannot be written: the registration it would record is rolled back with it. (A trigger's
  // RAISE is SQLITE_CONSTRAINT_TRIGGER, which the storage-fault handling answers 409.)
  const refused = (status: number) => status === 409 || status >= 500
  let restore = await failing(app, 'audit_events', 'INSERT')
  const failed = await app.inject({ method: 'POST', url: '/auth/register', payload: newUser({ username: 'never_there' }) })
  t.ok(refused(failed.statusCode), `registration fails (${failed.statusCode})`)
  t.equal(await app.users.findByLogin('never_there'), undefined, 'no user without its user.registered event')
  const loginFailed = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: PASSWORD }) })
  t.ok(refused(loginFailed.statusCode))
  t.equal(await count(app, 'sessions'), 0, 'no session without its login.succeeded event')
  await restore()

  // The change cannot be written: its event is rolled back with it.
  restore = await failing(app, 'sessions', 'INSERT')
  const noSession = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: PASSWORD }) })
  t.ok(refused(noSession.statusCode))
  t.same(await ofType(app, 'login.succeeded'), [], 'no login.succeeded without its session')
  await restore()

  const tokens = await login(app, user.username)
  restore = await failing(app, 'users', 'UPDATE OF password_hash')
  const change = await app.inject({ method: 'POST', url: '/users/me/password', headers: bearer(tokens), payload: { current_password: PASSWORD, new_password: 'another long passphrase' } })
  t.ok(refused(change.statusCode))
  t.same(await ofType(app, 'password.changed'), [], 'no password.changed without the new password')
})

t.test('token.reuse_detected and session.ended on reuse, with a warn log line', async (t) => {
  const { app, warnings, raw } = await loggedApp(t, { REFRESH_REUSE_GRACE: 0 })
  const user = await signUp(app)
  const sid = sidOf(user.tokens)
  const first = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.tokens.refresh_token } })
  t.equal(first.statusCode, 200)
  const replay = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.tokens.refresh_token }, headers: UA })
  t.equal(replay.statusCode, 401)
  const [reuse] = await ofType(app, 'token.reuse_detected')
  t.match(reuse, { user_id: user.id, actor_id: null, session_id: sid, ip: '127.0.0.1', user_agent: 'audit-test/1.0' })
  t.match((await ofType(app, 'session.ended'))[0], { user_id: user.id, actor_id: null, session_id: sid, detail: { reason: 'refresh_token_reuse' } })
  const [line] = warnings(/reuse/i)
  t.match(line, { audit: { type: 'token.reuse_detected', user_id: user.id, session_id: sid, ip: '127.0.0.1' } })
  for (const secret of [user.tokens.refresh_token, first.json<Tokens>().refresh_token, user.tokens.access_token, PASSWORD]) {
    t.notOk(raw().includes(secret), 'the log holds no token or password')
  }
})

t.test('session.ended with its reason: logout, logout all, revoke, ending one session', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const ended = async () => await ofType(app, 'session.ended')

  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: user.tokens.refresh_token } })
  t.match((await ended())[0], { user_id: user.id, actor_id: user.id, session_id: sidOf(user.tokens), detail: { reason: 'logout' } })
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: user.tokens.refresh_token } })
  t.equal((await ended()).length, 1, 'an already-ended session ends no second time')

  const a = await login(app, user.username)
  const b = await login(app, user.username)
  await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(a), payload: { all: true } })
  t.same((await ended()).slice(0, 2).map((e) => [e.session_id, e.detail.reason, e.actor_id]).sort(),
    [[sidOf(a), 'logout_all', user.id], [sidOf(b), 'logout_all', user.id]].sort(), 'one event per session ended')

  const c = await login(app, user.username)
  await app.inject({ method: 'POST', url: '/auth/revoke', ...form({ token: c.refresh_token }) })
  t.match((await ended())[0], { session_id: sidOf(c), detail: { reason: 'revoked' } })

  const d = await login(app, user.username)
  const e = await login(app, user.username)
  const del = await app.inject({ method: 'DELETE', url: `/users/me/sessions/${sidOf(e)}`, headers: bearer(d) })
  t.equal(del.statusCode, 204)
  t.match((await ended())[0], { user_id: user.id, actor_id: user.id, session_id: sidOf(e), detail: { reason: 'logout' } })
})

t.test('password.changed and the other sessions it ends', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const other = await login(app, user.username)
  const res = await app.inject({ method: 'POST', url: '/users/me/password', headers: { ...user.auth, ...UA }, payload: { current_password: PASSWORD, new_password: 'another long passphrase' } })
  t.equal(res.statusCode, 204)
  t.match((await ofType(app, 'password.changed'))[0], { user_id: user.id, actor_id: user.id, session_id: sidOf(user.tokens), user_agent: 'audit-test/1.0', detail: {} })
  t.same((await ofType(app, 'session.ended')).map((e) => [e.session_id, e.detail.reason]), [[sidOf(other), 'password_changed']])
})

t.test('user.updated by the user and by an admin; an admin demoted or disabled is logged at warn', async (t) => {
  const { app, warnings } = await loggedApp(t)
  const admin = await signUp(app, { role: 'admin' })
  const user = await signUp(app)
  const updated = async () => await ofType(app, 'user.updated')

  const email = `new_${user.email}`
  await app.inject({ method: 'PATCH', url: '/users/me', headers: user.auth, payload: { email } })
  t.match((await updated())[0], { user_id: user.id, actor_id: user.id, session_id: null, detail: { email: { from: user.email, to: email } } })

  await app.inject({ method: 'PATCH', url: `/users/${user.id}`, headers: admin.auth, payload: { role: 'admin' } })
  t.match((await updated())[0], { user_id: user.id, actor_id: admin.id, detail: { role: { from: 'user', to: 'admin' }, target_was_admin: false } })
  t.equal(warnings(/admin/i).length, 0, 'a promotion needs no human')

  await app.inject({ method: 'PATCH', url: `/users/${user.id}`, headers: admin.auth, payload: { role: 'user' } })
  t.match((await updated())[0], { user_id: user.id, actor_id: admin.id, detail: { role: { from: 'admin', to: 'user' } } })
  t.match(warnings(/admin was demoted/), [{ audit: { type: 'user.updated', user_id: user.id, actor_id: admin.id } }])

  const second = await signUp(app, { role: 'admin' })
  const res = await app.inject({ method: 'PATCH', url: `/users/${second.id}`, headers: admin.auth, payload: { disabled: true } })
  t.equal(res.statusCode, 200)
  t.match((await updated())[0], { user_id: second.id, actor_id: admin.id, detail: { disabled: { from: false, to: true }, target_was_admin: true } })
  t.match((await ofType(app, 'session.ended'))[0], { user_id: second.id, actor_id: admin.id, session_id: sidOf(second.tokens), detail: { reason: 'user_disabled' } })
  t.match(warnings(/admin was disabled/), [{ audit: { user_id: second.id, actor_id: admin.id } }])
  t.notOk(JSON.stringify(warnings(/admin/)).includes(email), 'the detail (an email address) stays out of the log')
})

t.test('user.deleted survives the user, by the user or by an admin', async (t) => {
  const app = await build(t)
  const admin = await signUp(app, { role: 'admin' })
  const self = await signUp(app)
  const res = await app.inject({ method: 'DELETE', url: '/users/me', headers: self.auth, payload: { password: PASSWORD } })
  t.equal(res.statusCode, 204)
  t.match((await ofType(app, 'user.deleted'))[0], { user_id: self.id, actor_id: self.id, detail: { username: self.username, role: 'user' } })
  t.match((await ofType(app, 'session.ended'))[0], { user_id: self.id, session_id: sidOf(self.tokens), detail: { reason: 'deleted' } })

  const other = await register(app)
  await app.inject({ method: 'DELETE', url: `/users/${other.id}`, headers: admin.auth })
  t.match((await ofType(app, 'user.deleted'))[0], { user_id: other.id, actor_id: admin.id, detail: { username: other.username } })

  await app.mail.idle()
  const [page] = await pages(app, '/admin/audit', admin.auth, { user_id: String(self.id) })
  t.same(page.items.map((e) => e.type).sort(), ['user.deleted', 'session.ended', 'login.succeeded', 'email.verification_sent', 'user.registered'].sort(),
    'a deleted user’s history is still there')
})

t.test('login.throttled when the per-account throttle engages, with a warn log line; no name for unknown accounts', async (t) => {
  const { app, warnings, raw } = await loggedApp(t, { LOGIN_THROTTLE_AFTER: 2 })
  const user = await register(app)
  const attempt = (username: string) => app.inject({ method: 'POST', url: '/auth/token', ...form({ username, password: 'wrong guess 123' }) })
  t.equal((await attempt(user.username)).statusCode, 401)
  t.equal((await ofType(app, 'login.throttled')).length, 0, 'not yet')
  t.equal((await attempt(user.username)).statusCode, 401)
  const [throttled] = await ofType(app, 'login.throttled')
  t.match(throttled, { user_id: user.id, actor_id: null, ip: '127.0.0.1', detail: { after_failures: 2 } })
  t.equal((await attempt(user.username)).statusCode, 429, 'refused while throttled')
  t.equal((await ofType(app, 'login.throttled')).length, 1, 'a refused attempt is a metric, not another event')

  const ghost = 'ghost_account_name'
  await attempt(ghost)
  await attempt(ghost)
  t.match((await ofType(app, 'login.throttled'))[0], { user_id: null, ip: '127.0.0.1' })
  t.equal(warnings(/throttle engaged/).length, 2)
  t.match(warnings(/throttle engaged/)[0], { audit: { type: 'login.throttled', user_id: user.id, ip: '127.0.0.1' } })
  t.notOk(JSON.stringify(await allEvents(app)).includes(ghost), 'the unknown name is in no event')
  t.notOk(raw().includes(ghost), 'nor in the log')
  t.notOk(raw().includes('wrong guess 123'), 'nor the password')
})

t.test('GET /admin/audit and /users/me/audit: 401 without a token, 403 for non-admins, own events only', async (t) => {
  const app = await build(t)
  const admin = await signUp(app, { role: 'admin' })
  const user = await signUp(app)
  for (const url of ['/admin/audit', '/users/me/audit']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 401, url)
    t.equal(res.headers['www-authenticate'], 'Bearer')
    t.equal(res.json<{ detail: string }>().detail, 'Not authenticated')
  }
  const forbidden = await app.inject({ url: '/admin/audit', headers: user.auth })
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal(forbidden.json<{ detail: string }>().detail, 'Admin access required')

  await app.mail.idle()
  const mine = await app.inject({ url: '/users/me/audit', headers: user.auth })
  t.equal(mine.statusCode, 200)
  const body = mine.json<AuditPage>()
  // The verification mail (and its event) goes out after the registration answer: where it lands among these varies.
  t.same(body.items.map((e) => e.type).sort(), ['email.verification_sent', 'login.succeeded', 'user.registered'])
  t.ok(body.items.every((e) => e.user_id === user.id), 'only the caller’s events')
  t.equal(body.next_cursor, null)
  t.same(Object.keys(body.items[0]).sort(), ['actor_id', 'at', 'detail', 'id', 'ip', 'session_id', 'type', 'user_agent', 'user_id'])

  const all = await app.inject({ url: '/admin/audit', headers: admin.auth })
  t.equal(all.statusCode, 200)
  t.ok(all.json<AuditPage>().items.some((e) => e.user_id === admin.id) && all.json<AuditPage>().items.some((e) => e.user_id === user.id))
})

t.test('pagination: newest first, several pages, no duplicates or gaps; filters; bad queries are 422', async (t) => {
  const app = await build(t)
  const admin = await signUp(app, { role: 'admin' })
  const user = await signUp(app)
  for (let i = 0; i < 16; i++) {
    await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: `wrong password ${i}` }) })
  }
  const everything = await allEvents(app)
  t.ok(everything.length > 20, `${everything.length} events`)

  const walked = await pages(app, '/admin/audit', admin.auth, { limit: '7' })
  t.ok(walked.length > 2, `${walked.length} pages`)
  t.ok(walked.slice(0, -1).every((p) => p.items.length === 7), 'full pages until the last')
  const ids = walked.flatMap((p) => p.items.map((e) => e.id))
  t.same(ids, everything.map((e) => e.id), 'every event once, newest first')
  t.ok(ids.every((id, i) => i === 0 || id < ids[i - 1]), 'ids strictly descending')

  const failures = (await pages(app, '/admin/audit', admin.auth, { type: 'login.failed', limit: '5' })).flatMap((p) => p.items)
  t.equal(failures.length, 16)
  t.ok(failures.every((e) => e.type === 'login.failed' && e.user_id === user.id))
  const userFailures = (await pages(app, '/admin/audit', admin.auth, { type: 'login.failed', user_id: String(admin.id) })).flatMap((p) => p.items)
  t.same(userFailures, [], 'both filters apply')
  const byUser = (await pages(app, '/admin/audit', admin.auth, { user_id: String(user.id), limit: '4' })).flatMap((p) => p.items)
  t.same(byUser.map((e) => e.id), everything.filter((e) => e.user_id === user.id).map((e) => e.id))
  const mine = (await pages(app, '/users/me/audit', user.auth, { limit: '3' })).flatMap((p) => p.items)
  t.same(mine.map((e) => e.id), byUser.map((e) => e.id), '/users/me/audit pages the same way')

  for (const [query, field] of [
    [{ limit: '0' }, '/limit'], [{ limit: '101' }, '/limit'], [{ cursor: 'not-a-cursor' }, '/cursor'],
    [{ type: 'login.nope' }, '/type'], [{ user_id: 'abc' }, '/user_id'], [{ user_id: '0' }, '/user_id']
  ] as Array<[Record<string, string>, string]>) {
    const res = await app.inject({ url: '/admin/audit', headers: admin.auth, query })
    t.equal(res.statusCode, 422, JSON.stringify(query))
    t.equal(res.json<{ errors: Array<{ field: string }> }>().errors[0].field, field)
  }
  const bad = await app.inject({ url: '/users/me/audit', headers: user.auth, query: { cursor: 'bm9wZQ' } })
  t.equal(bad.statusCode, 422)
})

t.test('retention: AUDIT_RETENTION_DAYS=0 purges every event at each purge pass; the default keeps 90 days', async (t) => {
  const app = await build(t, { AUDIT_RETENTION_DAYS: 0 })
  await signUp(app)
  await app.mail.idle()
  t.ok((await countEvents(app)) > 0)
  t.match(await app.purgeExpired(), { auditEvents: 3 })
  t.equal((await countEvents(app)), 0)

  const kept = await build(t)
  const user = await signUp(kept)
  kept.audit.record({ type: 'keys.rotated', actorId: null, detail: { kid: 'old' } }, Date.now() - 91 * 86_400_000)
  kept.audit.record({ type: 'keys.rotated', actorId: null, detail: { kid: 'recent' } }, Date.now() - 89 * 86_400_000)
  t.match(await kept.purgeExpired(), { auditEvents: 1 })
  t.same((await ofType(kept, 'keys.rotated')).map((e) => e.detail.kid), ['recent'])
  t.equal((await ofType(kept, 'login.succeeded'))[0].user_id, user.id)
})

t.test('no password, token or code is ever recorded', async (t) => {
  const app = await build(t, { REFRESH_REUSE_GRACE: 0 })
  const secret = 'a secret passphrase nobody knows'
  const admin = await signUp(app, { role: 'admin' })
  const user = await signUp(app, { password: secret })
  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.tokens.refresh_token } })
  await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.tokens.refresh_token } })
  const again = await login(app, user.username, secret)
  const next = 'the next secret passphrase'
  await app.inject({ method: 'POST', url: '/users/me/password', headers: bearer(again), payload: { current_password: secret, new_password: next } })
  await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: 'a wrong secret guess' }) })
  await app.inject({ method: 'POST', url: '/auth/revoke', ...form({ token: again.access_token }) })
  await app.inject({ method: 'PATCH', url: `/users/${user.id}`, headers: admin.auth, payload: { disabled: true } })
  const stored = JSON.stringify(await rawRows(app, 'audit_events'))
  t.ok(stored.length > 500)
  const hash = (await app.users.findById(user.id))!.passwordHash
  for (const value of [secret, next, 'a wrong secret guess', user.tokens.refresh_token, user.tokens.access_token,
    refreshed.json<Tokens>().refresh_token, again.access_token, again.refresh_token, hash, admin.tokens.access_token]) {
    t.notOk(stored.includes(value), `not stored: ${value.slice(0, 10)}…`)
  }
})
