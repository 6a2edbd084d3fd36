// The sessions service over a real store (a temp SQLite file): the refresh rule, rotation, the two-tab grace,
// reuse detection, expiry, disabled users, ending and purging.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { createAuditService } from '../../src/services/audit.js'
import { hashSecretToken } from '../../src/services/secret-tokens.js'
import { createSessionsService, refreshVerdict } from '../../src/services/sessions.js'
import { openStore, type RefreshState } from '../../src/store/index.js'
import type { SqliteStore } from '../../src/store/sqlite.js'
import { tempDir } from '../helper.js'

const TTL = 3600
const GRACE = 10
const T0 = new Date('2026-01-01T00:00:00Z')
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000)

async function setup (t: Test) {
  const store = await openStore({ DATABASE_PATH: join(tempDir(t), 'latchkey.db') }) as SqliteStore
  t.teardown(() => store.close())
  const warnings: Array<{ obj: object, msg: string }> = []
  const audit = createAuditService(store, { warn: (obj, msg) => { warnings.push({ obj, msg }) } })
  const sessions = createSessionsService(store, { refreshTtl: TTL, reuseGrace: GRACE }, audit)
  const user = await store.insertUser({ username: 'alice', email: 'alice@example.com', passwordHash: 'x', createdAt: T0 })
  const other = await store.insertUser({ username: 'bob', email: 'bob@example.com', passwordHash: 'x', createdAt: T0 })
  const session = (id: number) => store.sqlite.prepare('SELECT ended_at, end_reason, expires_at, last_used_at, last_rotated_token_id FROM sessions WHERE id = ?')
    .get(id) as { ended_at: number | null, end_reason: string | null, expires_at: number, last_used_at: number, last_rotated_token_id: number | null } | undefined
  const events = (type?: string) => store.sqlite.prepare('SELECT type, user_id, actor_id, session_id, ip, detail FROM audit_events ORDER BY id')
    .all().filter((e) => type === undefined || (e as { type: string }).type === type) as Array<{ type: string, user_id: number | null, actor_id: number | null, session_id: number | null, ip: string | null, detail: string }>
  const tokenRow = (token: string) => store.sqlite.prepare('SELECT id, rotated_at FROM refresh_tokens WHERE token_hash = ?')
    .get(hashSecretToken(token)) as { id: number, rotated_at: number | null } | undefined
  return { store, sessions, user, other, warnings, session, events, tokenRow }
}

t.test('refreshVerdict: the rule alone', async (t) => {
  const state = (over: { token?: Partial<RefreshState['token']>, session?: Partial<RefreshState['session']>, disabled?: boolean } = {}): RefreshState => ({
    token: { id: 7, createdAt: T0, rotatedAt: null, ...over.token },
    session: { id: 1, endedAt: null, expiresAt: at(TTL), lastRotatedTokenId: null, ...over.session },
    user: { id: 1, username: 'a', email: 'a@example.com', passwordHash: 'x', role: 'user', disabled: over.disabled ?? false, emailVerified: false, totpEnabled: false, createdAt: T0 }
  })
  const verdict = (s: RefreshState, seconds: number) => refreshVerdict(s, at(seconds), TTL * 1000, GRACE * 1000)
  t.equal(verdict(state(), 1), 'rotate', 'a fresh token rotates')
  t.equal(verdict(state({ session: { endedAt: at(0) } }), 1), 'invalid', 'an ended session')
  t.equal(verdict(state({ session: { expiresAt: at(1) } }), 1), 'invalid', 'a session expiring now')
  t.equal(verdict(state({ disabled: true }), 1), 'invalid', 'a disabled user')
  t.equal(verdict(state({ session: { expiresAt: at(2 * TTL) } }), TTL), 'invalid', 'a token as old as the TTL, in a live session')
  t.equal(verdict(state({ session: { expiresAt: at(2 * TTL) } }), TTL - 1), 'rotate', 'one second younger')
  const rotated = { token: { rotatedAt: at(100) }, session: { lastRotatedTokenId: 7 } }
  t.equal(verdict(state(rotated), 100 + GRACE), 'sibling', 'the last rotated token, at the end of the grace: a second tab')
  t.equal(verdict(state(rotated), 100 + GRACE + 1), 'reuse', 'after the grace: reuse')
  t.equal(verdict(state({ token: { rotatedAt: at(100) }, session: { lastRotatedTokenId: 8 } }), 101), 'reuse',
    'an older generation within the grace: reuse')
  t.equal(verdict(state({ ...rotated, disabled: true }), 200), 'invalid', 'invalid wins over reuse')
})

t.test('create: a session, its first refresh token (stored as a hash) and login.succeeded', async (t) => {
  const { store, sessions, user, session, events, tokenRow } = await setup(t)
  const { sessionId, refreshToken } = await sessions.create(user.id, { ip: '203.0.113.9', userAgent: 'x'.repeat(600) }, T0)
  t.match(refreshToken, /^[A-Za-z0-9_-]{43}$/)
  t.ok(tokenRow(refreshToken), 'the token is found by its hash')
  t.equal(store.sqlite.prepare('SELECT count(*) FROM refresh_tokens WHERE token_hash = ?').pluck().get(refreshToken), 0, 'the token itself is not stored')
  t.match(session(sessionId), { ended_at: null, expires_at: T0.getTime() + TTL * 1000 })
  t.equal((store.sqlite.prepare('SELECT user_agent FROM sessions WHERE id = ?').pluck().get(sessionId) as string).length, 512, 'the user agent is capped')
  t.match(events(), [{ type: 'login.succeeded', user_id: user.id, actor_id: user.id, session_id: sessionId, ip: '203.0.113.9' }])
  t.match(await sessions.findActiveUser(user.id, sessionId, T0.getTime() + 1000), { id: user.id, username: 'alice' })
  t.equal(await sessions.findActiveUser(user.id + 1, sessionId, T0.getTime() + 1000), undefined, 'another user id with this session')
  t.equal(await sessions.findActiveUser(user.id, sessionId, T0.getTime() + TTL * 1000), undefined, 'once expired')
  t.match(await sessions.sessionOfToken(refreshToken), { id: sessionId, userId: user.id })
  t.equal(await sessions.sessionOfToken('unknown'), undefined)
})

t.test('refresh: rotation, siblings within the grace, reuse after it', async (t) => {
  const { sessions, user, warnings, session, events, tokenRow } = await setup(t)
  const { sessionId, refreshToken: first } = await sessions.create(user.id, {}, T0)
  const firstId = tokenRow(first)!.id

  const rotated = await sessions.refresh(first, {}, at(100))
  if (!rotated.ok) throw new Error('the first refresh must rotate')
  t.equal(rotated.sessionId, sessionId)
  t.equal(rotated.user.id, user.id)
  t.not(rotated.refreshToken, first, 'a new token')
  t.equal(tokenRow(first)!.rotated_at, at(100).getTime(), 'the presented token is marked exchanged')
  t.match(session(sessionId), { last_rotated_token_id: firstId, last_used_at: at(100).getTime(), expires_at: at(100 + TTL).getTime() }, 'the session slides')

  const sibling = await sessions.refresh(first, {}, at(100 + GRACE))
  t.equal(sibling.ok, true, 'the same token again within the grace: a second tab gets a sibling')
  if (sibling.ok) t.not(sibling.refreshToken, rotated.refreshToken)
  t.equal(session(sessionId)!.ended_at, null)

  const next = await sessions.refresh(rotated.refreshToken, {}, at(200))
  t.equal(next.ok, true, 'the new token rotates in turn')
  t.same(events('token.reuse_detected'), [], 'no reuse so far')

  const reuse = await sessions.refresh(first, { ip: '198.51.100.7', userAgent: 'thief' }, at(200 + 1))
  t.same(reuse, { ok: false, reason: 'reused' }, 'an older generation is reuse, even within the grace of the newer one')
  t.match(session(sessionId), { ended_at: at(201).getTime(), end_reason: 'refresh_token_reuse' }, 'the session ends')
  const reuseEvents = events().filter((e) => e.type !== 'login.succeeded')
  t.match(reuseEvents, [
    { type: 'token.reuse_detected', user_id: user.id, actor_id: null, session_id: sessionId, ip: '198.51.100.7' },
    { type: 'session.ended', user_id: user.id, actor_id: null, session_id: sessionId, ip: '198.51.100.7' }
  ], 'both events, no actor')
  t.same(JSON.parse(reuseEvents[1].detail), { reason: 'refresh_token_reuse' })
  t.equal(warnings.length, 1, 'one warn line')
  t.match(warnings[0], { msg: /reuse detected/, obj: { audit: { type: 'token.reuse_detected', user_id: user.id, session_id: sessionId } } })

  if (next.ok) t.same(await sessions.refresh(next.refreshToken, {}, at(202)), { ok: false, reason: 'invalid' }, 'the family is dead: the newest token is refused too')
  t.equal(await sessions.findActiveUser(user.id, sessionId, at(202).getTime()), undefined, 'access tokens of the session stop working')
})

t.test('refresh: reuse after the grace period ends the session', async (t) => {
  const { sessions, user, session, events } = await setup(t)
  const { sessionId, refreshToken } = await sessions.create(user.id, {}, T0)
  t.equal((await sessions.refresh(refreshToken, {}, at(10))).ok, true)
  t.same(await sessions.refresh(refreshToken, {}, at(10 + GRACE + 1)), { ok: false, reason: 'reused' })
  t.equal(session(sessionId)!.end_reason, 'refresh_token_reuse')
  t.equal(events('token.reuse_detected').length, 1)
  t.same(await sessions.refresh(refreshToken, {}, at(10 + GRACE + 2)), { ok: false, reason: 'invalid' }, 'a second reuse of an ended session is just invalid')
  t.equal(events('token.reuse_detected').length, 1, 'and records nothing more')
})

t.test('refresh: concurrent exchanges of one token are serialised (one rotation, one sibling)', async (t) => {
  const { sessions, user, session } = await setup(t)
  const { sessionId, refreshToken } = await sessions.create(user.id, {}, T0)
  const results = await Promise.all([sessions.refresh(refreshToken, {}, at(5)), sessions.refresh(refreshToken, {}, at(5))])
  t.same(results.map((r) => r.ok), [true, true], 'both tabs get a token')
  t.equal(session(sessionId)!.ended_at, null, 'no reuse detected')
})

t.test('refresh refuses: unknown, expired, disabled user, ended session', async (t) => {
  const { store, sessions, user, other, events } = await setup(t)
  t.same(await sessions.refresh('not-a-token', {}, at(1)), { ok: false, reason: 'invalid' }, 'unknown token')

  const expiring = await sessions.create(user.id, {}, T0)
  t.same(await sessions.refresh(expiring.refreshToken, {}, at(TTL)), { ok: false, reason: 'invalid' }, 'expired')

  const bobs = await sessions.create(other.id, {}, T0)
  await store.updateUser(other.id, { disabled: true })
  t.same(await sessions.refresh(bobs.refreshToken, {}, at(1)), { ok: false, reason: 'invalid' }, 'disabled user')
  await store.updateUser(other.id, { disabled: false })
  t.equal((await sessions.refresh(bobs.refreshToken, {}, at(2))).ok, true, 'enabled again, the session was never ended by the refusal')

  const ended = await sessions.create(user.id, {}, T0)
  t.equal(await sessions.end(ended.sessionId, 'logout'), true)
  t.same(await sessions.refresh(ended.refreshToken, {}, at(1)), { ok: false, reason: 'invalid' }, 'ended session')
  t.same(events('token.reuse_detected'), [], 'no refusal counts as reuse')
})

t.test('end, endForUser, endAll, listActive and purge', async (t) => {
  const { sessions, user, other, session, events, store } = await setup(t)
  const now = new Date()
  const a = await sessions.create(user.id, { userAgent: 'curl/8', ip: '127.0.0.1' }, now)
  const b = await sessions.create(user.id, {}, now)
  const c = await sessions.create(user.id, {}, now)
  const old = await sessions.create(user.id, {}, new Date(now.getTime() - 2 * TTL * 1000)) // expired
  const bobs = await sessions.create(other.id, {}, now)

  t.match(await sessions.listActive(user.id, b.sessionId), [
    { id: a.sessionId, user_agent: 'curl/8', ip: '127.0.0.1', current: false, created_at: now.toISOString(), last_used_at: now.toISOString() },
    { id: b.sessionId, current: true },
    { id: c.sessionId, current: false }
  ], 'oldest first, expired ones left out')

  t.equal(await sessions.endForUser(other.id, a.sessionId, 'logout'), false, 'not bob’s session')
  t.equal(session(a.sessionId)!.ended_at, null)
  t.equal(await sessions.endForUser(user.id, a.sessionId, 'logout', { ip: '10.0.0.1' }), true)
  t.equal(await sessions.endForUser(user.id, a.sessionId, 'logout'), false, 'already ended')
  t.equal(session(a.sessionId)!.end_reason, 'logout')
  t.equal(await sessions.end(b.sessionId, 'revoked'), true)
  t.equal(await sessions.end(b.sessionId, 'revoked'), false, 'ending twice is a no-op')
  t.equal(await sessions.endAll(user.id, 'logout_all'), 2, 'every one not yet ended (the expired one too), not bob’s')
  t.match(events('session.ended').map((e) => [e.session_id, JSON.parse(e.detail).reason]), [
    [a.sessionId, 'logout'], [b.sessionId, 'revoked'], [c.sessionId, 'logout_all'], [old.sessionId, 'logout_all']
  ], 'one event per ended session, with its reason')
  t.match(events('session.ended')[0], { ip: '10.0.0.1', actor_id: user.id })
  t.same(await sessions.listActive(user.id, 0), [])
  t.equal((await sessions.listActive(other.id, 0)).length, 1, 'bob keeps his')

  t.equal(await sessions.purge(), 4, 'ended and expired sessions go')
  t.equal(session(old.sessionId), undefined)
  t.equal(store.sqlite.prepare('SELECT count(*) FROM refresh_tokens').pluck().get(), 1, 'their refresh tokens cascade')
  t.ok(session(bobs.sessionId), 'the live one stays')
  t.equal(await sessions.purge(new Date(now.getTime() + TTL * 1000)), 1, 'later it has expired too')
})
