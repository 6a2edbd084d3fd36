import t from 'tap'
import type { App } from '../../src/app.js'
import { count } from '../db.js'
import { build, form, login, signUp, type Tokens } from '../helper.js'

const refresh = (app: App, token: string) =>
  app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: token } })
const me = (app: App, access: string) =>
  app.inject({ url: '/users/me', headers: { authorization: `Bearer ${access}` } })

t.test('refresh rotates: a new pair each time, the old refresh token retired', async (t) => {
  const app = await build(t, { REFRESH_REUSE_GRACE: 0 })
  const user = await signUp(app)
  const res = await refresh(app, user.tokens.refresh_token)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers.pragma, 'no-cache')
  const next = res.json<Tokens>()
  t.not(next.refresh_token, user.tokens.refresh_token)
  t.equal(next.token_type, 'bearer')
  t.equal((await me(app, next.access_token)).statusCode, 200)
  t.equal((await me(app, user.tokens.access_token)).statusCode, 200, 'the earlier access token of a live session still works')

  t.test('the refresh grant on /auth/token does the same', async (t) => {
    const viaForm = await app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'refresh_token', refresh_token: next.refresh_token }) })
    t.equal(viaForm.statusCode, 200)
    t.equal(viaForm.headers['cache-control'], 'no-store')
    t.equal((await me(app, viaForm.json<Tokens>().access_token)).statusCode, 200)
  })
})

t.test('bad refresh tokens: 401 invalid_grant on /auth/token, 401 problem on /auth/refresh', async (t) => {
  const app = await build(t)
  for (const token of ['nope', 'x'.repeat(43)]) {
    const viaForm = await app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'refresh_token', refresh_token: token }) })
    t.equal(viaForm.statusCode, 401)
    t.same(viaForm.json(), { error: 'invalid_grant', error_description: 'The refresh token is invalid, expired or revoked', detail: 'The refresh token is invalid, expired or revoked' })
    const viaJson = await refresh(app, token)
    t.equal(viaJson.statusCode, 401)
    t.equal(viaJson.headers['content-type'], 'application/problem+json; charset=utf-8')
    t.equal(viaJson.json().detail, 'The refresh token is invalid, expired or revoked')
  }
  const missing = await app.inject({ method: 'POST', url: '/auth/refresh', payload: {} })
  t.equal(missing.statusCode, 422)
  t.same(missing.json().errors, [{ field: '/refresh_token', message: 'is required' }])
})

t.test('an expired refresh token is refused', async (t) => {
  const app = await build(t, { REFRESH_TOKEN_TTL: 1 })
  const user = await signUp(app)
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.equal((await refresh(app, user.tokens.refresh_token)).statusCode, 401)
  t.equal((await me(app, user.tokens.access_token)).statusCode, 401, 'the expired session no longer backs access tokens')
})

t.test('reuse within the grace period is a concurrent refresh: 200, and both pairs stay valid', async (t) => {
  const app = await build(t, { REFRESH_REUSE_GRACE: 30 })
  const user = await signUp(app)
  const first = (await refresh(app, user.tokens.refresh_token)).json<Tokens>()
  const again = await refresh(app, user.tokens.refresh_token)
  t.equal(again.statusCode, 200)
  const second = again.json<Tokens>()
  t.not(second.refresh_token, first.refresh_token)
  t.equal((await me(app, first.access_token)).statusCode, 200)
  t.equal((await me(app, second.access_token)).statusCode, 200)
  t.equal((await refresh(app, first.refresh_token)).statusCode, 200, 'the pair handed out first still refreshes')
  t.equal((await refresh(app, second.refresh_token)).statusCode, 200, 'so does the second')

  t.test('only the immediately previous token counts: an older one is theft', async (t) => {
    const res = await refresh(app, user.tokens.refresh_token)
    t.equal(res.statusCode, 401)
    t.equal((await me(app, second.access_token)).statusCode, 401, 'the session ended')
  })
})

t.test('reuse after the grace period revokes that session only', async (t) => {
  const app = await build(t, { REFRESH_REUSE_GRACE: 0 })
  const user = await signUp(app)
  const other = await login(app, user.username)
  const rotated = (await refresh(app, user.tokens.refresh_token)).json<Tokens>()
  await new Promise((resolve) => setTimeout(resolve, 5))
  const reuse = await refresh(app, user.tokens.refresh_token)
  t.equal(reuse.statusCode, 401)
  t.equal((await refresh(app, rotated.refresh_token)).statusCode, 401, "the session's newest refresh token is dead too")
  t.equal((await me(app, rotated.access_token)).statusCode, 401, 'and its access tokens, at once')
  t.equal((await me(app, user.tokens.access_token)).statusCode, 401)
  t.equal((await me(app, other.access_token)).statusCode, 200, 'the same user’s other session is untouched')
  t.equal((await refresh(app, other.refresh_token)).statusCode, 200)
})

t.test('20 concurrent refreshes of one token: no 500, one session, every pair works', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const results = await Promise.all(Array.from({ length: 20 }, () => refresh(app, user.tokens.refresh_token)))
  t.same(results.map((r) => r.statusCode), Array(20).fill(200))
  const pairs = results.map((r) => r.json<Tokens>())
  t.equal(new Set(pairs.map((p) => p.refresh_token)).size, 20, 'every refresh token is distinct')
  const sids = new Set(pairs.map((p) => JSON.parse(Buffer.from(p.access_token.split('.')[1], 'base64url').toString()).sid))
  t.equal(sids.size, 1, 'one family')
  for (const pair of pairs) t.equal((await me(app, pair.access_token)).statusCode, 200)
  const sessions = await app.inject({ url: '/users/me/sessions', headers: { authorization: `Bearer ${pairs[0].access_token}` } })
  t.equal(sessions.json().length, 1)

  t.test('the same over real concurrency on /auth/token', async (t) => {
    const next = pairs[19].refresh_token
    const viaForm = await Promise.all(Array.from({ length: 20 }, () =>
      app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'refresh_token', refresh_token: next }) })))
    t.same(viaForm.map((r) => r.statusCode), Array(20).fill(200))
  })
})

t.test('logout', async (t) => {
  const app = await build(t)

  t.test('with a refresh token: 204, that session ends at once; idempotent', async (t) => {
    const user = await signUp(app)
    const other = await login(app, user.username)
    const res = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: user.tokens.refresh_token } })
    t.equal(res.statusCode, 204)
    t.equal(res.body, '')
    t.equal((await me(app, user.tokens.access_token)).statusCode, 401)
    t.equal((await refresh(app, user.tokens.refresh_token)).statusCode, 401)
    t.equal((await me(app, other.access_token)).statusCode, 200)
    for (const token of [user.tokens.refresh_token, 'never-issued']) {
      t.equal((await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: token } })).statusCode, 204)
    }
  })

  t.test('with a bearer and all: every session of the user ends', async (t) => {
    const user = await signUp(app)
    const other = await login(app, user.username)
    const bystander = await signUp(app)
    const res = await app.inject({ method: 'POST', url: '/auth/logout', headers: user.auth, payload: { all: true } })
    t.equal(res.statusCode, 204)
    t.equal((await me(app, user.tokens.access_token)).statusCode, 401)
    t.equal((await me(app, other.access_token)).statusCode, 401)
    t.equal((await refresh(app, other.refresh_token)).statusCode, 401)
    t.equal((await me(app, bystander.tokens.access_token)).statusCode, 200)
  })

  t.test('with only a bearer: the bearer’s session ends', async (t) => {
    const user = await signUp(app)
    const res = await app.inject({ method: 'POST', url: '/auth/logout', headers: user.auth })
    t.equal(res.statusCode, 204)
    t.equal((await me(app, user.tokens.access_token)).statusCode, 401)
  })

  t.test('all without a bearer is 401; nothing at all is 422; a bad bearer is 401', async (t) => {
    const all = await app.inject({ method: 'POST', url: '/auth/logout', payload: { all: true } })
    t.equal(all.statusCode, 401)
    t.equal(all.headers['www-authenticate'], 'Bearer')
    const nothing = await app.inject({ method: 'POST', url: '/auth/logout', payload: {} })
    t.equal(nothing.statusCode, 422)
    t.same(nothing.json().errors, [{ field: '/refresh_token', message: 'is required' }])
    const bad = await app.inject({ method: 'POST', url: '/auth/logout', headers: { authorization: 'Bearer x.y.z' }, payload: { all: true } })
    t.equal(bad.statusCode, 401)
    t.equal(bad.headers['www-authenticate'], 'Bearer error="invalid_token"')
  })
})

t.test('POST /auth/revoke (RFC 7009)', async (t) => {
  const app = await build(t)
  const revoke = (fields: Record<string, string>) => app.inject({ method: 'POST', url: '/auth/revoke', ...form(fields) })

  t.test('a refresh token: 200, its session ends', async (t) => {
    const user = await signUp(app)
    const res = await revoke({ token: user.tokens.refresh_token, token_type_hint: 'refresh_token' })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['cache-control'], 'no-store', 'an answer of the token endpoints: not cached (RFC 7009 §2.2, RFC 6749 §5.1)')
    t.equal(res.headers.pragma, 'no-cache')
    t.equal((await me(app, user.tokens.access_token)).statusCode, 401)
  })

  t.test('an access token, even with a wrong hint: 200, its session ends', async (t) => {
    const user = await signUp(app)
    const res = await revoke({ token: user.tokens.access_token, token_type_hint: 'refresh_token' })
    t.equal(res.statusCode, 200)
    t.equal((await me(app, user.tokens.access_token)).statusCode, 401)
    t.equal((await refresh(app, user.tokens.refresh_token)).statusCode, 401)
  })

  t.test('unknown tokens and unknown hints are not errors', async (t) => {
    t.equal((await revoke({ token: 'whatever' })).statusCode, 200)
    t.equal((await revoke({ token: 'a.b.c', token_type_hint: 'id_token' })).statusCode, 200)
  })

  t.test('malformed requests: 400 invalid_request, JSON 415', async (t) => {
    const missing = await revoke({})
    t.equal(missing.statusCode, 400)
    t.equal(missing.json().error, 'invalid_request')
    const json = await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: 'x' } })
    t.equal(json.statusCode, 415)
    t.equal(json.json().error, 'invalid_request')
  })
})

t.test('sessions: list and end', async (t) => {
  const app = await build(t)
  const user = await signUp(app, {})
  const second = await login(app, user.username, undefined, { 'user-agent': 'second-device/1.0' })
  const list = await app.inject({ url: '/users/me/sessions', headers: user.auth })
  t.equal(list.statusCode, 200)
  const sessions = list.json()
  t.equal(sessions.length, 2)
  t.same(Object.keys(sessions[0]).sort(), ['created_at', 'current', 'id', 'ip', 'last_used_at', 'user_agent'])
  t.same(sessions.map((s: { current: boolean }) => s.current), [true, false])
  t.equal(sessions[1].user_agent, 'second-device/1.0')
  t.equal(sessions[0].last_used_at, sessions[0].created_at)
  t.equal(sessions[0].ip, '127.0.0.1')

  const end = await app.inject({ method: 'DELETE', url: `/users/me/sessions/${sessions[1].id}`, headers: user.auth })
  t.equal(end.statusCode, 204)
  t.equal((await me(app, second.access_token)).statusCode, 401)
  t.equal((await app.inject({ url: '/users/me/sessions', headers: user.auth })).json().length, 1)
  t.equal((await app.inject({ method: 'DELETE', url: `/users/me/sessions/${sessions[1].id}`, headers: user.auth })).statusCode, 404, 'an ended session is gone')
  t.equal((await app.inject({ method: 'DELETE', url: '/users/me/sessions/abc', headers: user.auth })).statusCode, 404)
})

t.test('housekeeping purges ended and expired sessions with their refresh tokens', async (t) => {
  const app = await build(t)
  const a = await signUp(app)
  const b = await signUp(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: a.tokens.refresh_token } })
  t.equal(await count(app, 'sessions'), 2)
  t.equal(await app.sessions.purge(), 1)
  t.equal(await count(app, 'sessions'), 1)
  t.equal(await count(app, 'refresh_tokens'), 1)
  t.equal(await app.sessions.purge(new Date(Date.now() + 8 * 24 * 3600 * 1000)), 1, 'expired ones go too')
  t.equal(await count(app, 'refresh_tokens'), 0)
  t.equal((await me(app, b.tokens.access_token)).statusCode, 401)
})

t.test('the purge timer runs on its interval and stops on close', async (t) => {
  const app = await build(t, { SESSION_PURGE_INTERVAL: 1 })
  const a = await signUp(app)
  await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: a.tokens.refresh_token } })
  await new Promise((resolve) => setTimeout(resolve, 1200))
  t.equal(await count(app, 'sessions'), 0)
})
