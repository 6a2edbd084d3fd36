// /users/me: profile, password change, account deletion and the session list.
import t from 'tap'
import { eq } from 'drizzle-orm'
import { query } from '../db.js'
import { build, login, newUser, PASSWORD, signUp, type Tokens } from '../helper.js'

interface User { id: number, username: string, email: string, role: string, disabled: boolean, created_at: string }
interface Session { id: number, created_at: string, last_used_at: string, user_agent: string | null, ip: string | null, current: boolean }
interface ProblemBody { status: number, detail: string, errors?: Array<{ field: string, message: string }> }

const bearer = (tokens: Tokens) => ({ authorization: `Bearer ${tokens.access_token}` })
const NEW_PASSWORD = 'a brand new passphrase 42'

t.test('GET /users/me', async (t) => {
  const app = await build(t)
  const u = await signUp(app)
  const res = await app.inject({ url: '/users/me', headers: u.auth })
  t.equal(res.statusCode, 200)
  const me = res.json<User>()
  t.same(Object.keys(me).sort(), ['created_at', 'disabled', 'email', 'email_verified', 'id', 'role', 'totp_enabled', 'username'], 'no password or hash in the body')
  t.match(me, { id: u.id, username: u.username, email: u.email, role: 'user', disabled: false })
  t.notMatch(res.body, /argon2|password/)

  const anonymous = await app.inject({ url: '/users/me' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json<ProblemBody>().detail, 'Not authenticated')
})

t.test('PATCH /users/me', async (t) => {
  const app = await build(t)
  const u = await signUp(app)
  const other = await signUp(app, { username: 'TakenName', email: 'taken@example.com' })
  const patch = async (payload: unknown, auth = u.auth) => await app.inject({ method: 'PATCH', url: '/users/me', headers: auth, payload: payload as Record<string, unknown> })

  t.test('changes username and email; email is stored lower-cased', async (t) => {
    const res = await patch({ username: 'Renamed.User', email: 'New.Address@Example.COM' })
    t.equal(res.statusCode, 200)
    t.match(res.json(), { id: u.id, username: 'Renamed.User', email: 'new.address@example.com' })
    t.match((await app.inject({ url: '/users/me', headers: u.auth })).json(), { username: 'Renamed.User', email: 'new.address@example.com' })
    const tokens = await login(app, 'renamed.user')
    t.ok(tokens.access_token, 'the new username logs in (any case)')
    t.ok(await login(app, 'NEW.address@example.com'), 'the new email logs in')
  })

  t.test('a case-only change of one’s own username is allowed', async (t) => {
    const res = await patch({ username: 'RENAMED.user' })
    t.equal(res.statusCode, 200)
    t.equal(res.json<User>().username, 'RENAMED.user')
  })

  t.test('taken → 409', async (t) => {
    for (const payload of [{ username: 'TakenName' }, { username: 'takenname' }, { username: 'TAKENNAME' }, { email: 'taken@example.com' }, { email: 'TAKEN@Example.com' }]) {
      const res = await patch(payload)
      t.equal(res.statusCode, 409, JSON.stringify(payload))
      t.match(res.headers['content-type'], /^application\/problem\+json/)
      t.equal(res.json<ProblemBody>().detail, 'Username or email already registered')
    }
    t.match((await app.inject({ url: '/users/me', headers: u.auth })).json(), { username: 'RENAMED.user' }, 'nothing changed')
    t.match((await app.inject({ url: '/users/me', headers: other.auth })).json(), { username: 'TakenName', email: 'taken@example.com' })
  })

  t.test('invalid → 422 with the field', async (t) => {
    const cases: Array<[unknown, string]> = [
      [{ username: 'ab' }, '/username'],
      [{ username: 'x'.repeat(33) }, '/username'],
      [{ username: 'has space' }, '/username'],
      [{ username: 'émile' }, '/username'],
      [{ username: 5 }, '/username'],
      [{ email: 'not-an-email' }, '/email'],
      [{ email: null }, '/email']
    ]
    for (const [payload, field] of cases) {
      const res = await patch(payload)
      t.equal(res.statusCode, 422, JSON.stringify(payload))
      t.ok(res.json<ProblemBody>().errors?.some((e) => e.field === field), `error on ${field}`)
    }
    t.equal((await app.inject({ method: 'PATCH', url: '/users/me', headers: { ...u.auth, 'content-type': 'application/json' }, payload: '{"username":' })).statusCode, 400, 'unparsable JSON is a 400')
  })

  t.test('unknown fields are ignored, never applied', async (t) => {
    const res = await patch({ role: 'admin', disabled: true, id: 999, password_hash: 'x', created_at: '2000-01-01T00:00:00.000Z' })
    t.equal(res.statusCode, 200)
    t.match(res.json(), { id: u.id, role: 'user', disabled: false })
    const row = (await query(app, (db, s) => db.select().from(s.users).where(eq(s.users.id, u.id))))[0]!
    t.equal(row.role, 'user', 'the role did not change')
    t.equal(row.disabled, false)
    t.match(row.passwordHash, /^\$argon2id\$/)
    const admin = await app.inject({ url: '/admin/stats', headers: u.auth })
    t.equal(admin.statusCode, 403, 'still not an admin')

    const empty = await patch({})
    t.equal(empty.statusCode, 200, 'an empty patch changes nothing')
    t.match(empty.json(), { username: 'RENAMED.user' })
  })
})

t.test('POST /users/me/password', async (t) => {
  const app = await build(t)
  const u = await signUp(app)
  const current = u.tokens
  const other = await login(app, u.username) // a second session, e.g. another device
  const third = await login(app, u.email)
  const change = async (payload: Record<string, unknown>, auth = bearer(current)) =>
    await app.inject({ method: 'POST', url: '/users/me/password', headers: auth, payload })

  t.test('wrong current password → 403, nothing changes', async (t) => {
    const res = await change({ current_password: 'wrong password here', new_password: NEW_PASSWORD })
    t.equal(res.statusCode, 403)
    t.equal(res.json<ProblemBody>().detail, 'Current password is incorrect')
    t.ok(await login(app, u.username, PASSWORD))
    t.equal((await app.inject({ url: '/users/me', headers: bearer(other) })).statusCode, 200, 'other sessions untouched')
  })

  t.test('policy failures → 422 on /new_password', async (t) => {
    for (const [name, next] of [
      ['too short', 'short1'],
      ['too long', 'x'.repeat(129)],
      ['common', 'password123'],
      ['common, any case', 'PassWord123'],
      ['same as the username', u.username],
      ['same as the email', u.email.toUpperCase()]
    ]) {
      const res = await change({ current_password: PASSWORD, new_password: next })
      t.equal(res.statusCode, 422, name)
      const body = res.json<ProblemBody>()
      t.ok(body.errors?.length, `${name}: errors listed`)
      t.ok(body.errors?.every((e) => e.field === '/new_password'), `${name}: errors[].field is /new_password`)
    }
    const missing = await change({ current_password: PASSWORD })
    t.equal(missing.statusCode, 422)
    t.same(missing.json<ProblemBody>().errors, [{ field: '/new_password', message: 'is required' }])
    t.ok(await login(app, u.username, PASSWORD), 'the password did not change')
  })

  t.test('204; other sessions end, this one continues', async (t) => {
    const res = await change({ current_password: PASSWORD, new_password: NEW_PASSWORD })
    t.equal(res.statusCode, 204)
    t.equal(res.body, '')

    t.equal((await app.inject({ url: '/users/me', headers: bearer(current) })).statusCode, 200, 'the session that made the change continues')
    for (const [name, tokens] of [['other', other], ['third', third]] as const) {
      const me = await app.inject({ url: '/users/me', headers: bearer(tokens) })
      t.equal(me.statusCode, 401, `${name} session: access token refused at once`)
      t.equal(me.json<ProblemBody>().detail, 'Could not validate credentials')
      const refresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } })
      t.equal(refresh.statusCode, 401, `${name} session: refresh token refused`)
    }
    const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: current.refresh_token } })
    t.equal(refreshed.statusCode, 200, 'the current session can still refresh')

    const oldLogin = await app.inject({ method: 'POST', url: '/auth/token', payload: new URLSearchParams({ username: u.username, password: PASSWORD }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    t.equal(oldLogin.statusCode, 401, 'the old password no longer logs in')
    t.ok((await login(app, u.username, NEW_PASSWORD)).access_token, 'the new password logs in')
    const row = (await query(app, (db, s) => db.select().from(s.users).where(eq(s.users.id, u.id))))[0]!
    t.match(row.passwordHash, /^\$argon2id\$/, 'stored as argon2id')
    t.notMatch(row.passwordHash, NEW_PASSWORD)
  })
})

t.test('POST /users/me/password from two sessions at once: one wins, the other is refused', async (t) => {
  const app = await build(t)
  const u = await signUp(app)
  const other = await login(app, u.username)
  const [first, second] = await Promise.all([
    app.inject({ method: 'POST', url: '/users/me/password', headers: u.auth, payload: { current_password: PASSWORD, new_password: 'first new passphrase' } }),
    app.inject({ method: 'POST', url: '/users/me/password', headers: bearer(other), payload: { current_password: PASSWORD, new_password: 'second new passphrase' } })
  ])
  const codes = [first.statusCode, second.statusCode]
  t.equal(codes.filter((c) => c === 204).length, 1, `exactly one change applies (${codes.join(', ')})`)
  const loser = first.statusCode === 204 ? second : first
  t.ok(loser.statusCode === 409 || loser.statusCode === 401, `the other is refused (${loser.statusCode}), not applied on a stale check`)
  const [winnerTokens, loserTokens, winnerPassword, loserPassword] = first.statusCode === 204
    ? [u.tokens, other, 'first new passphrase', 'second new passphrase']
    : [other, u.tokens, 'second new passphrase', 'first new passphrase']
  t.equal((await app.inject({ url: '/users/me', headers: bearer(winnerTokens) })).statusCode, 200, 'the winning session continues')
  t.equal((await app.inject({ url: '/users/me', headers: bearer(loserTokens) })).statusCode, 401, 'the other session ended')
  t.ok(await login(app, u.username, winnerPassword), 'the winning password logs in')
  await t.rejects(login(app, u.username, loserPassword), /401/, 'the refused one does not')
})

t.test('DELETE /users/me', async (t) => {
  const app = await build(t)
  const u = await signUp(app)
  const bystander = await signUp(app)
  const second = await login(app, u.username)
  for (const title of ['one', 'two']) {
    t.equal((await app.inject({ method: 'POST', url: '/tasks', headers: u.auth, payload: { title } })).statusCode, 201)
  }
  t.equal((await app.inject({ method: 'POST', url: '/tasks', headers: bystander.auth, payload: { title: 'kept' } })).statusCode, 201)

  const wrong = await app.inject({ method: 'DELETE', url: '/users/me', headers: u.auth, payload: { password: 'not my password' } })
  t.equal(wrong.statusCode, 403)
  t.equal(wrong.json<ProblemBody>().detail, 'Password is incorrect')
  const missing = await app.inject({ method: 'DELETE', url: '/users/me', headers: u.auth, payload: {} })
  t.equal(missing.statusCode, 422)
  t.same(missing.json<ProblemBody>().errors, [{ field: '/password', message: 'is required' }])
  t.equal((await app.inject({ url: '/users/me', headers: u.auth })).statusCode, 200, 'still there after refused attempts')

  const res = await app.inject({ method: 'DELETE', url: '/users/me', headers: u.auth, payload: { password: PASSWORD } })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')

  for (const tokens of [u.tokens, second]) {
    const me = await app.inject({ url: '/users/me', headers: bearer(tokens) })
    t.equal(me.statusCode, 401, 'the old access token is refused')
    t.equal(me.json<ProblemBody>().detail, 'Could not validate credentials')
    t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } })).statusCode, 401, 'the refresh token is refused')
  }
  await t.rejects(login(app, u.username), /401/, 'login fails')
  t.equal((await query(app, (db, s) => db.select().from(s.users).where(eq(s.users.id, u.id)))).length, 0, 'user row gone')
  t.equal((await query(app, (db, s) => db.select().from(s.tasks).where(eq(s.tasks.userId, u.id)))).length, 0, 'tasks gone')
  t.equal((await query(app, (db, s) => db.select().from(s.sessions).where(eq(s.sessions.userId, u.id)))).length, 0, 'sessions gone')
  t.equal((await query(app, (db, s) => db.select().from(s.tasks).where(eq(s.tasks.userId, bystander.id)))).length, 1, 'other users’ tasks kept')
  t.equal((await app.inject({ url: '/users/me', headers: bystander.auth })).statusCode, 200, 'other users’ sessions kept')

  t.test('the username and email are free again', async (t) => {
    const again = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: u.username, email: u.email, password: PASSWORD } })
    t.equal(again.statusCode, 201)
  })

  t.test('the last active admin cannot delete themselves', async (t) => {
    const admin = await signUp(app, { role: 'admin' })
    const res = await app.inject({ method: 'DELETE', url: '/users/me', headers: admin.auth, payload: { password: PASSWORD } })
    t.equal(res.statusCode, 409)
    t.equal((await app.inject({ url: '/users/me', headers: admin.auth })).statusCode, 200)
  })
})

t.test('GET /users/me/sessions and DELETE /users/me/sessions/{id}', async (t) => {
  const app = await build(t)
  const u = await signUp(app)
  const stranger = await signUp(app)
  const laptop = await login(app, u.username, PASSWORD, { 'user-agent': 'laptop-browser/1.0' })
  const ended = await login(app, u.username)
  t.equal((await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: ended.refresh_token } })).statusCode, 204)

  const res = await app.inject({ url: '/users/me/sessions', headers: u.auth })
  t.equal(res.statusCode, 200)
  const list = res.json<Session[]>()
  t.equal(list.length, 2, 'the ended session is not listed')
  t.same(list.map((s) => s.current), [true, false], '`current` marks the caller’s session')
  for (const s of list) {
    t.same(Object.keys(s).sort(), ['created_at', 'current', 'id', 'ip', 'last_used_at', 'user_agent'])
    t.equal(s.last_used_at, s.created_at, 'last_used_at starts equal to created_at')
    t.equal(s.ip, '127.0.0.1')
  }
  t.equal(list[1].user_agent, 'laptop-browser/1.0')
  t.equal(list[0].user_agent, 'lightMyRequest')

  const fromLaptop = (await app.inject({ url: '/users/me/sessions', headers: bearer(laptop) })).json<Session[]>()
  t.same(fromLaptop.map((s) => s.current), [false, true], 'seen from the other session')

  const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: laptop.refresh_token } })
  t.equal(refreshed.statusCode, 200)
  const afterRefresh = (await app.inject({ url: '/users/me/sessions', headers: u.auth })).json<Session[]>()
  t.ok(Date.parse(afterRefresh[1].last_used_at) >= Date.parse(afterRefresh[1].created_at), 'a refresh moves last_used_at')

  t.test('an expired session is not listed', async (t) => {
    const stale = await login(app, u.username)
    const row = (await query(app, (db, s) => db.select().from(s.sessions).where(eq(s.sessions.userId, u.id)))).at(-1)!
    await query(app, (db, s) => db.update(s.sessions).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(s.sessions.id, row.id)))
    const ids = (await app.inject({ url: '/users/me/sessions', headers: u.auth })).json<Session[]>().map((s) => s.id)
    t.notOk(ids.includes(row.id), 'the expired session is absent')
    t.equal(ids.length, 2)
    t.equal((await app.inject({ url: '/users/me', headers: bearer(stale) })).statusCode, 401, 'and its access token is refused')
    t.equal((await app.inject({ method: 'DELETE', url: `/users/me/sessions/${row.id}`, headers: u.auth })).statusCode, 404)
  })

  t.test('another user’s session id → 404', async (t) => {
    const theirs = (await app.inject({ url: '/users/me/sessions', headers: stranger.auth })).json<Session[]>()[0]
    const del = await app.inject({ method: 'DELETE', url: `/users/me/sessions/${theirs.id}`, headers: u.auth })
    t.equal(del.statusCode, 404)
    t.equal((await app.inject({ url: '/users/me', headers: stranger.auth })).statusCode, 200, 'their session is untouched')
  })

  t.test('non-numeric, zero, negative or unknown id → 404', async (t) => {
    for (const id of ['abc', '0', '-1', '1.5', '999999']) {
      t.equal((await app.inject({ method: 'DELETE', url: `/users/me/sessions/${id}`, headers: u.auth })).statusCode, 404, id)
    }
  })

  t.test('an ended session’s id → 404', async (t) => {
    const all = (await query(app, (db, s) => db.select().from(s.sessions).where(eq(s.sessions.userId, u.id))))
    const endedRow = all.find((s) => s.endedAt !== null)!
    t.ok(endedRow)
    t.equal((await app.inject({ method: 'DELETE', url: `/users/me/sessions/${endedRow.id}`, headers: u.auth })).statusCode, 404)
  })

  t.test('204, then that session’s tokens fail and the caller’s keep working', async (t) => {
    const target = afterRefresh[1]
    const del = await app.inject({ method: 'DELETE', url: `/users/me/sessions/${target.id}`, headers: u.auth })
    t.equal(del.statusCode, 204)
    t.equal(del.body, '')
    const newLaptop = refreshed.json<Tokens>()
    t.equal((await app.inject({ url: '/users/me', headers: bearer(newLaptop) })).statusCode, 401, 'its access token is refused')
    t.equal((await app.inject({ url: '/users/me', headers: bearer(laptop) })).statusCode, 401, 'and the one before the refresh too')
    t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: newLaptop.refresh_token } })).statusCode, 401, 'its refresh token is refused')
    t.equal((await app.inject({ url: '/users/me', headers: u.auth })).statusCode, 200)
    t.same((await app.inject({ url: '/users/me/sessions', headers: u.auth })).json<Session[]>().map((s) => s.current), [true])
    t.equal((await app.inject({ method: 'DELETE', url: `/users/me/sessions/${target.id}`, headers: u.auth })).statusCode, 404, 'ending it twice is a 404')
  })

  t.test('ending one’s own current session logs it out', async (t) => {
    const fresh = await login(app, u.username)
    const mine = (await app.inject({ url: '/users/me/sessions', headers: bearer(fresh) })).json<Session[]>().find((s) => s.current)!
    t.equal((await app.inject({ method: 'DELETE', url: `/users/me/sessions/${mine.id}`, headers: bearer(fresh) })).statusCode, 204)
    t.equal((await app.inject({ url: '/users/me', headers: bearer(fresh) })).statusCode, 401)
  })

  t.test('sessions of a new user', async (t) => {
    const user = newUser()
    const reg = await app.inject({ method: 'POST', url: '/auth/register', payload: user })
    t.equal(reg.statusCode, 201)
    const tokens = await login(app, user.username)
    const mine = (await app.inject({ url: '/users/me/sessions', headers: bearer(tokens) })).json<Session[]>()
    t.equal(mine.length, 1)
    t.equal(mine[0].current, true)
  })
})
