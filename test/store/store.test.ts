// The store contract, on both engines: unique indexes answered as Taken, transactions all or nothing, the
// admin lock and the per-session refresh serialisation under real concurrency, single-use rows used once.
import t from 'tap'
import { Taken } from '../../src/errors.js'
import type { NewAuditEvent, RefreshState, Store } from '../../src/store/index.js'
import { onEveryEngine } from './engines.js'

const T0 = new Date('2026-01-01T00:00:00Z')
const at = (s: number) => new Date(T0.getTime() + s * 1000)
const newUser = (name: string, extra: Partial<{ role: 'user' | 'admin', disabled: boolean }> = {}) =>
  ({ username: name, email: `${name.toLowerCase()}@example.com`, passwordHash: `$argon2id$v=19$x-${name}`, createdAt: T0, ...extra })
const loginEvent = (userId: number) => (sessionId: number): NewAuditEvent =>
  ({ at: T0, type: 'login.succeeded', userId, actorId: userId, sessionId, ip: '127.0.0.1', userAgent: 'test', detail: '{}' })
const session = (userId: number) => ({ userId, now: T0, expiresAt: at(3600), userAgent: 'test', ip: '127.0.0.1' })

onEveryEngine(t, 'users: unique names and emails, any case, also when 20 inserts race', async (t, store) => {
  const alice = await store.insertUser(newUser('Alice'))
  t.match(alice, { id: Number, username: 'Alice', role: 'user', disabled: false, emailVerified: false, totpEnabled: false })
  t.ok(alice.createdAt instanceof Date && alice.createdAt.getTime() === T0.getTime(), 'times come back as Dates')
  await t.rejects(store.insertUser({ ...newUser('other'), username: 'ALICE' }), Taken, 'username, any case')
  await t.rejects(store.insertUser({ ...newUser('other2'), email: 'alice@example.com' }), Taken, 'email')
  const results = await Promise.allSettled(Array.from({ length: 20 }, async () => await store.insertUser(newUser('racer'))))
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'one insert wins')
  t.ok(results.every((r) => r.status === 'fulfilled' || r.reason instanceof Taken), 'the others are Taken')
  t.equal((await store.userByLogin('alice'))?.id, alice.id, 'by lower-cased username')
  t.equal((await store.userByLogin('alice@example.com'))?.id, alice.id, 'by email')
  t.equal(await store.userById(999_999), undefined)
})

onEveryEngine(t, 'users: compare-and-set update, list with literal patterns, counts, delete cascades', async (t, store) => {
  const u = await store.insertUser(newUser('carol'))
  t.equal(await store.updateUser(u.id, { passwordHash: 'new' }, 'not the stored hash'), undefined, 'a stale hash changes nothing')
  t.equal((await store.updateUser(u.id, { passwordHash: 'new' }, u.passwordHash))?.passwordHash, 'new')
  await store.insertUser(newUser('per%cent'))
  await store.insertUser(newUser('under_score'))
  await store.insertUser(newUser('bang!x'))
  await store.insertUser(newUser('underXscore'))
  const names = async (q: string) => (await store.listUsers({ after: 0, limit: 10, q })).map((r) => r.username)
  t.same(await names('%'), ['per%cent'], '% is literal')
  t.same(await names('_'), ['under_score'], '_ is literal')
  t.same(await names('!'), ['bang!x'], 'the escape character is literal')
  t.same(await names('CAROL'), ['carol'], 'case-insensitive')
  const page = await store.listUsers({ after: u.id, limit: 2 })
  t.equal(page.length, 2)
  t.ok(page.every((r) => r.id > u.id), 'keyset after')
  await store.insertUser(newUser('admin1', { role: 'admin' }))
  await store.insertUser(newUser('admin2', { role: 'admin', disabled: true }))
  t.equal(await store.countActiveAdmins(), 1)
  t.equal(await store.countUsers(), 7)
  const sessionId = await store.startSession(session(u.id), 'hash-carol', loginEvent(u.id))
  await store.insertTask({ userId: u.id, title: 't', description: null, done: false, createdAt: T0, updatedAt: T0 })
  t.equal(await store.countActiveSessions(at(1)), 1)
  t.ok(await store.deleteUser(u.id))
  t.equal(await store.sessionIdOfToken('hash-carol'), undefined, 'refresh tokens cascade')
  t.equal((await store.activeSessions(u.id, at(1))).length, 0, 'sessions cascade')
  t.same(await store.listTasks(u.id, 0, 10), [], 'tasks cascade')
  t.equal(typeof sessionId, 'number')
  t.notOk(await store.deleteUser(u.id), 'deleting twice: nothing')
})

onEveryEngine(t, 'transactions: all or nothing; inside one, transaction() runs inline', async (t, store) => {
  await t.rejects(store.transaction(async (tx) => {
    await tx.insertUser(newUser('ghost'))
    await tx.transaction(async (inner) => { await inner.insertUser(newUser('ghost2')) })
    throw new Error('refused')
  }), /refused/)
  t.equal(await store.userByLogin('ghost'), undefined, 'rolled back')
  t.equal(await store.userByLogin('ghost2'), undefined, 'the inner one too')
  const id = await store.transaction(async (tx) => (await tx.insertUser(newUser('kept'))).id)
  t.equal((await store.userByLogin('kept'))?.id, id, 'committed')
  // Statements outside a transaction wait for it (SQLite) or do not see it (PostgreSQL): never join it.
  let release!: () => void
  const held = new Promise<void>((resolve) => { release = resolve })
  const tx = store.transaction(async (tx) => { await tx.insertUser(newUser('slow')); await held; throw new Error('rolled back') })
  const outside = store.insertUser(newUser('outside'))
  setTimeout(release, 50)
  await t.rejects(tx, /rolled back/)
  await outside
  t.equal(await store.userByLogin('slow'), undefined)
  t.ok(await store.userByLogin('outside'), 'the write outside the transaction is kept')
})

onEveryEngine(t, 'the admin lock: two admins demoting each other at once leave one admin', async (t, store) => {
  const a = await store.insertUser(newUser('boss1', { role: 'admin' }))
  const b = await store.insertUser(newUser('boss2', { role: 'admin' }))
  const demote = async (target: number) => await store.transaction(async (tx) => {
    await tx.lockAdmins()
    if (await tx.countActiveAdmins() <= 1) return 'refused'
    await tx.updateUser(target, { role: 'user' })
    return 'demoted'
  })
  const outcomes = await Promise.all([demote(a.id), demote(b.id)])
  t.same(outcomes.sort(), ['demoted', 'refused'])
  t.equal(await store.countActiveAdmins(), 1)
})

onEveryEngine(t, 'refresh rotation is serialised per session: 20 racing refreshes, one rotation, 19 siblings', async (t, store) => {
  const u = await store.insertUser(newUser('tabs'))
  const sessionId = await store.startSession(session(u.id), 'first', loginEvent(u.id))
  const decide = (s: RefreshState) => s.token.rotatedAt === null ? 'rotate' as const : 'sibling' as const
  const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => await store.rotateRefreshToken(
    { tokenHash: 'first', newTokenHash: `next-${i}`, now: at(1), expiresAt: at(3601) }, decide, () => [])))
  t.equal(results.filter((r) => r.verdict === 'rotate').length, 1, 'one rotation')
  t.equal(results.filter((r) => r.verdict === 'sibling').length, 19, 'the others saw it rotated')
  for (let i = 0; i < 20; i++) t.equal(await store.sessionIdOfToken(`next-${i}`), sessionId, `token ${i} is of the session`)
  const reuse = await store.rotateRefreshToken({ tokenHash: 'first', newTokenHash: 'never', now: at(100), expiresAt: at(3700) },
    () => 'reuse', (s) => [{ at: at(100), type: 'token.reuse_detected', userId: s.user.id, actorId: null, sessionId: s.session.id, ip: null, userAgent: null, detail: '{}' }])
  t.equal(reuse.verdict, 'reuse')
  t.equal(reuse.verdict === 'reuse' ? reuse.eventIds.length : 0, 1, 'the reuse event is stored')
  t.equal(await store.activeSessionUser(u.id, sessionId, at(101)), undefined, 'reuse ends the session')
  t.equal(await store.sessionIdOfToken('never'), undefined, 'no token issued on reuse')
  t.same((await store.rotateRefreshToken({ tokenHash: 'unknown', newTokenHash: 'x', now: at(1), expiresAt: at(2) }, decide, () => [])).verdict, 'invalid')
})

onEveryEngine(t, 'concurrent refreshes fail alone: a failing one rolls back only its own writes, the others commit', async (t, store) => {
  const u = await store.insertUser(newUser('batch'))
  for (let i = 0; i < 6; i++) await store.startSession(session(u.id), `chain-${i}`, loginEvent(u.id))
  const decide = () => 'rotate' as const
  // Issued in one turn of the event loop. Chain 2 reuses chain 0's new token hash (a unique-index violation after
  // its own markRotated), chain 4's decision throws.
  const settled = await Promise.allSettled(Array.from({ length: 6 }, async (_, i) => await store.rotateRefreshToken(
    { tokenHash: `chain-${i}`, newTokenHash: i === 2 ? 'next-0' : `next-${i}`, now: at(1), expiresAt: at(3601) },
    i === 4 ? () => { throw new Error('decide failed') } : decide, () => [])))
  t.same(settled.map((s) => s.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled'])
  for (const i of [0, 1, 3, 5]) {
    t.equal(await store.sessionIdOfToken(`next-${i}`) !== undefined, true, `chain ${i} rotated`)
    t.equal((await store.rotateRefreshToken({ tokenHash: `chain-${i}`, newTokenHash: `again-${i}`, now: at(2), expiresAt: at(3602) },
      (s) => s.token.rotatedAt === null ? 'rotate' : 'reuse', () => [])).verdict, 'reuse', `chain ${i}'s old token is spent`)
  }
  for (const i of [2, 4]) {
    t.equal((await store.rotateRefreshToken({ tokenHash: `chain-${i}`, newTokenHash: `retry-${i}`, now: at(2), expiresAt: at(3602) },
      (s) => s.token.rotatedAt === null ? 'rotate' : 'reuse', () => [])).verdict, 'rotate', `chain ${i}'s failed refresh left its token unspent`)
  }
})

onEveryEngine(t, 'sessions: the active user, ending by selector, purge', async (t, store) => {
  const u = await store.insertUser(newUser('dave'))
  const ids = [] as number[]
  for (let i = 0; i < 3; i++) ids.push(await store.startSession(session(u.id), `dave-${i}`, loginEvent(u.id)))
  t.equal((await store.activeSessionUser(u.id, ids[0], at(1)))?.username, 'dave')
  t.equal(await store.activeSessionUser(u.id, ids[0], at(3600)), undefined, 'expired')
  t.same((await store.endSessions({ userId: u.id, exceptSessionId: ids[2] }, 'logout_all', at(2))).map((s) => s.id).sort(), ids.slice(0, 2))
  t.same(await store.endSessions({ sessionId: ids[0] }, 'logout', at(3)), [], 'an ended session is not ended again')
  t.same((await store.activeSessions(u.id, at(4))).map((s) => s.id), [ids[2]])
  t.equal((await store.sessionOfTokenHash('dave-0'))?.endReason, 'logout_all')
  await store.updateUser(u.id, { disabled: true })
  t.equal(await store.activeSessionUser(u.id, ids[2], at(5)), undefined, 'a disabled user has no active session')
  t.equal(await store.purgeSessions(at(5)), 2, 'the ended ones go')
  t.equal(await store.purgeSessions(at(7200)), 1, 'then the expired one')
})

onEveryEngine(t, 'single-use rows: a link, a TOTP step and a recovery code are used once under a race', async (t, store) => {
  const u = await store.insertUser(newUser('erin'))
  await store.transaction(async (tx) => {
    await tx.replaceAccountToken({ userId: u.id, kind: 'reset', tokenHash: 'link1', email: 'erin@example.com', createdAt: T0, expiresAt: at(1800) })
  })
  await store.transaction(async (tx) => {
    await tx.replaceAccountToken({ userId: u.id, kind: 'reset', tokenHash: 'link2', email: 'erin@example.com', createdAt: at(1), expiresAt: at(1801) })
  })
  t.equal(await store.liveAccountToken('link1', 'reset', at(2)), undefined, 'a newer link replaces the older')
  const link = await store.liveAccountToken('link2', 'reset', at(2))
  t.ok(link)
  t.equal((await store.lastAccountTokenAt('reset', 'erin@example.com'))?.getTime(), at(1).getTime())
  const used = await Promise.all(Array.from({ length: 10 }, async () => await store.consumeAccountToken(link!.id, at(3))))
  t.equal(used.filter(Boolean).length, 1, 'one consumer')
  await store.putPendingTotpSecret(u.id, 'v1.secret', T0)
  t.ok(await store.totpSecret(u.id, false), 'pending')
  t.equal(await store.totpSecret(u.id, true), undefined)
  await store.confirmTotpSecret(u.id, at(1))
  const steps = await Promise.all(Array.from({ length: 10 }, async () => await store.recordTotpStep(u.id, 1000)))
  t.equal(steps.filter(Boolean).length, 1, 'a time step is accepted once')
  t.notOk(await store.recordTotpStep(u.id, 999), 'an older step is refused')
  await store.replaceRecoveryCodes(u.id, ['c1', 'c2'])
  const codes = await Promise.all(Array.from({ length: 10 }, async () => await store.useRecoveryCode(u.id, 'c1', at(2))))
  t.equal(codes.filter(Boolean).length, 1, 'a recovery code is used once')
  t.equal(await store.countTotpSecrets(), 1)
  await store.deleteTotp(u.id)
  t.equal(await store.countTotpSecrets(), 0)
  t.equal(await store.purgeAccountTokens(at(1802)), 1)
})

onEveryEngine(t, 'audit events: newest first, filtered, purged by age; ready()', async (t, store) => {
  const ev = (type: string, userId: number | null, s: number): NewAuditEvent =>
    ({ at: at(s), type, userId, actorId: userId, sessionId: null, ip: null, userAgent: null, detail: JSON.stringify({ n: s }) })
  const ids = [] as number[]
  for (let i = 0; i < 5; i++) ids.push(await store.insertAuditEvent(ev(i % 2 === 0 ? 'login.failed' : 'user.updated', i, i)))
  t.same((await store.listAuditEvents({ before: 0, limit: 3 })).map((e) => e.id), ids.slice(2).reverse())
  t.same((await store.listAuditEvents({ before: ids[4], limit: 10, type: 'login.failed' })).map((e) => e.id), [ids[2], ids[0]])
  t.same((await store.listAuditEvents({ before: 0, limit: 10, userId: 3 })).map((e) => JSON.parse(e.detail)), [{ n: 3 }])
  t.equal(await store.purgeAuditEvents(at(2)), 3)
  t.same(await store.ready(), { ok: true })
})

/** The tasks of one user, paged. */
onEveryEngine(t, 'tasks: owned rows only, keyset pages', async (t, store: Store) => {
  const u = await store.insertUser(newUser('frank'))
  const o = await store.insertUser(newUser('grace'))
  const mine = [] as number[]
  for (let i = 0; i < 3; i++) mine.push((await store.insertTask({ userId: u.id, title: `t${i}`, description: null, done: false, createdAt: T0, updatedAt: T0 })).id)
  const theirs = await store.insertTask({ userId: o.id, title: 'x', description: 'd', done: true, createdAt: T0, updatedAt: T0 })
  t.same((await store.listTasks(u.id, mine[0], 10)).map((r) => r.id), mine.slice(1))
  t.equal(await store.task(u.id, theirs.id), undefined, "another user's task is not found")
  t.equal(await store.updateTask(u.id, theirs.id, { done: false }), undefined)
  t.equal((await store.updateTask(u.id, mine[0], { done: true, updatedAt: at(1) }))?.done, true)
  t.notOk(await store.deleteTask(u.id, theirs.id))
  t.ok(await store.deleteTask(u.id, mine[0]))
})
