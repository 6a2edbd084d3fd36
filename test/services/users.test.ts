// The users service without HTTP: conflicts, concurrent registration, rehash on login, the last-admin guard.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { sessions, tasks, users } from '../../src/db/schema.js'
import { DomainError } from '../../src/errors.js'
import { createAuditService } from '../../src/services/audit.js'
import { decodeCursor, encodeCursor } from '../../src/services/pages.js'
import { createPasswordHasher, type Argon2Cost } from '../../src/services/passwords.js'
import { createSessionsService } from '../../src/services/sessions.js'
import { createUsersService } from '../../src/services/users.js'
import { openStore } from '../../src/store/index.js'
import type { SqliteStore } from '../../src/store/sqlite.js'
import { tempDir } from '../helper.js'

const CHEAP: Argon2Cost = { memoryCost: 1024, timeCost: 1, parallelism: 1 }
const PASSWORD = 'correct horse battery staple'

/** The argon2 PHC string's parameters, e.g. { m: 1024, t: 1, p: 1 } (the order in the string varies by version). */
const paramsOf = (hash: string): Record<string, number> =>
  Object.fromEntries(hash.split('$')[3].split(',').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]))

async function setup (t: Test, cost: Argon2Cost = CHEAP, path?: string) {
  const file = path ?? join(tempDir(t), 'latchkey.db')
  const store = await openStore({ DATABASE_PATH: file }) as SqliteStore
  const { db, sqlite } = store
  t.teardown(async () => { if (sqlite.open) await store.close() }) // joins the checkpoint worker too
  const audit = createAuditService(store)
  return {
    file,
    db,
    sqlite,
    store,
    service: createUsersService(store, createPasswordHasher(cost), audit),
    sessionsService: createSessionsService(store, { refreshTtl: 3600, reuseGrace: 10 }, audit)
  }
}

/** A refusal as the error plugin answers it: status, sentence, field errors. */
interface Refusal { statusCode: number, detail: string, errors?: DomainError['errors'] }
const refusal = (err: unknown): Refusal => {
  const e = err as DomainError
  return { statusCode: e.status, detail: e.message, errors: e.errors }
}

/** The rejection of a promise, or a thrown error, as a domain error (fails the test otherwise). */
async function problemOf (t: Test, action: () => unknown): Promise<Refusal | undefined> {
  try {
    await action()
  } catch (err) {
    t.type(err, DomainError)
    return refusal(err)
  }
  t.fail('expected a domain error to be thrown')
  return undefined
}

t.test('register', async (t) => {
  const { db, service } = await setup(t)
  const alice = await service.register({ username: 'Alice', email: 'Alice@Example.com', password: PASSWORD })
  t.match(alice, { id: 1, username: 'Alice', email: 'alice@example.com', role: 'user', disabled: false })
  t.type(alice.createdAt, Date)
  t.match(alice.passwordHash, /^\$argon2id\$v=19\$/, 'argon2id')
  t.same(paramsOf(alice.passwordHash), { m: 1024, t: 1, p: 1 }, 'with the configured cost')
  t.notMatch(alice.passwordHash, PASSWORD)

  t.test('conflicts map to 409 with the contract’s sentence', async (t) => {
    for (const input of [
      { username: 'Alice', email: 'other1@example.com' },
      { username: 'alice', email: 'other2@example.com' },
      { username: 'ALICE', email: 'other3@example.com' },
      { username: 'someone', email: 'alice@example.com' },
      { username: 'someone2', email: 'ALICE@EXAMPLE.COM' }
    ]) {
      const err = await problemOf(t, () => service.register({ ...input, password: PASSWORD }))
      t.equal(err?.statusCode, 409, JSON.stringify(input))
      t.equal(err?.detail, 'Username or email already registered')
    }
    t.equal((await db.select().from(users)).length, 1, 'nothing inserted')
  })

  t.test('policy failures map to 422 on /password, before any conflict check', async (t) => {
    for (const password of ['short', 'password1', 'Alice', 'newbie@example.com']) {
      const err = await problemOf(t, () => service.register({ username: 'newbie', email: 'newbie@example.com', password }))
      t.equal(err?.statusCode, 422, password)
      t.equal(err?.errors?.[0].field, '/password')
    }
    const clash = await problemOf(t, () => service.register({ username: 'alice', email: 'x@example.com', password: 'short' }))
    t.equal(clash?.statusCode, 422, 'a weak password is reported even when the name is taken')
  })

  t.test('role', async (t) => {
    const admin = await service.register({ username: 'root', email: 'root@example.com', password: PASSWORD, role: 'admin' })
    t.equal(admin.role, 'admin')
  })

  t.test('errors other than unique violations are not turned into 409', async (t) => {
    const other = await setup(t)
    other.sqlite.close()
    let error: unknown
    try {
      await other.service.register({ username: 'closed', email: 'closed@example.com', password: PASSWORD })
    } catch (err) {
      error = err
    }
    t.ok(error instanceof Error, 'the database error propagates')
    t.notOk(error instanceof DomainError, 'not as a domain error')
  })
})

t.test('concurrent registration of identical users: one fulfilled, one 409', async (t) => {
  for (let round = 0; round < 5; round++) {
    const { db, service } = await setup(t)
    const input = { username: `twin${round}`, email: `twin${round}@example.com`, password: PASSWORD }
    const results = await Promise.allSettled([service.register(input), service.register({ ...input })])
    const fulfilled = results.filter((r) => r.status === 'fulfilled')
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    t.equal(fulfilled.length, 1, `round ${round}: exactly one fulfilled`)
    t.equal(rejected.length, 1, `round ${round}: exactly one rejected`)
    t.type(rejected[0]?.reason, DomainError, 'the rejection is a domain error, never another error')
    t.equal(refusal(rejected[0]?.reason).statusCode, 409)
    t.equal((await db.select().from(users)).length, 1)
  }

  t.test('same username in another case, same email in another case', async (t) => {
    const { db, service } = await setup(t)
    const results = await Promise.allSettled([
      service.register({ username: 'Twin', email: 'one@example.com', password: PASSWORD }),
      service.register({ username: 'tWIN', email: 'two@example.com', password: PASSWORD }),
      service.register({ username: 'third', email: 'ONE@example.com', password: PASSWORD })
    ])
    // Which one wins depends on which hash finishes first: 'Twin' clashes with both others, which do not
    // clash with each other, so the winners are either ['Twin'] or ['tWIN', 'third'] — never a clash stored.
    const won = results.flatMap((r, i) => r.status === 'fulfilled' ? [['Twin', 'tWIN', 'third'][i]] : [])
    t.ok(JSON.stringify(won) === '["Twin"]' || JSON.stringify(won) === '["tWIN","third"]', `winners ${JSON.stringify(won)}`)
    for (const r of results) if (r.status === 'rejected') t.equal(refusal(r.reason).statusCode, 409)
    t.equal((await db.select().from(users)).length, won.length)
  })
})

t.test('verifyLogin', async (t) => {
  const { service } = await setup(t)
  const user = await service.register({ username: 'Bob', email: 'bob@example.com', password: PASSWORD })
  t.equal((await service.verifyLogin('Bob', PASSWORD))?.id, user.id)
  t.equal((await service.verifyLogin('BOB', PASSWORD))?.id, user.id, 'username, any case')
  t.equal((await service.verifyLogin('Bob@Example.COM', PASSWORD))?.id, user.id, 'email, any case')
  t.equal(await service.verifyLogin('Bob', 'wrong password'), undefined)
  t.equal(await service.verifyLogin('nobody', PASSWORD), undefined)
  t.equal((await service.verifyLogin('Bob', PASSWORD.normalize('NFKD')))?.id, user.id)

  const racing = service.verifyLogin('Bob', PASSWORD) // reads the row, then awaits argon2
  await service.setRoleOrDisabled(user.id, { role: 'admin' })
  t.equal((await racing)?.role, 'admin', 'the row returned is read after the password check')
  const deleted = await service.register({ username: 'gone', email: 'gone@example.com', password: PASSWORD })
  const deleting = service.verifyLogin('gone', PASSWORD)
  await service.remove(deleted.id)
  t.equal(await deleting, undefined, 'a user deleted during the check does not log in')

  await service.register({ username: 'keep-admin', email: 'ka@example.com', password: PASSWORD, role: 'admin' })
  const disabling = service.verifyLogin('Bob', PASSWORD)
  await service.setRoleOrDisabled(user.id, { disabled: true })
  t.equal(await disabling, undefined, 'a user disabled during the password check does not log in')
  t.equal(await service.verifyLogin('Bob', PASSWORD), undefined, 'a disabled user cannot log in')
})

t.test('rehash on login when the stored parameters are weaker', async (t) => {
  const weak = await setup(t, CHEAP)
  const user = await weak.service.register({ username: 'carol', email: 'carol@example.com', password: PASSWORD })
  t.same(paramsOf(user.passwordHash), { m: 1024, t: 1, p: 1 })
  weak.sqlite.close()

  const strong = await setup(t, { memoryCost: 2048, timeCost: 2, parallelism: 1 }, weak.file)
  const stored = () => strong.db.select().from(users).where(eq(users.id, user.id)).get()!.passwordHash

  t.equal(await strong.service.verifyLogin('carol', 'wrong password'), undefined)
  t.equal(stored(), user.passwordHash, 'a failed login does not rehash')

  t.equal((await strong.service.verifyLogin('carol', PASSWORD))?.id, user.id)
  const upgraded = stored()
  t.not(upgraded, user.passwordHash, 'the stored hash changed')
  t.match(upgraded, /^\$argon2id\$/)
  t.same(paramsOf(upgraded), { m: 2048, t: 2, p: 1 }, 'now with the stronger parameters')
  t.equal((await strong.service.verifyLogin('carol', PASSWORD))?.id, user.id, 'the new hash verifies')
  t.equal(stored(), upgraded, 'no rehash once the parameters match')

  t.test('a password changed while the rehash runs is not reverted', async (t) => {
    const weakAgain = await setup(t, CHEAP)
    const erin = await weakAgain.service.register({ username: 'erin', email: 'erin@example.com', password: PASSWORD })
    weakAgain.sqlite.close()
    const up = await setup(t, { memoryCost: 2048, timeCost: 2, parallelism: 1 }, weakAgain.file)
    const changedHash = await createPasswordHasher(CHEAP).hash('the changed passphrase')
    const pending = up.service.verifyLogin('erin', PASSWORD) // reads the row, then awaits argon2
    up.db.update(users).set({ passwordHash: changedHash }).where(eq(users.id, erin.id)).run() // a password change commits meanwhile
    await pending
    t.equal(up.db.select().from(users).where(eq(users.id, erin.id)).get()!.passwordHash, changedHash, 'the new password’s hash stays')
    t.equal(await up.service.verifyLogin('erin', PASSWORD), undefined, 'the old password does not come back')
  })

  t.test('a disabled user is not rehashed', async (t) => {
    const again = await setup(t, CHEAP)
    const dave = await again.service.register({ username: 'dave', email: 'dave@example.com', password: PASSWORD })
    again.db.update(users).set({ disabled: true }).where(eq(users.id, dave.id)).run()
    again.sqlite.close()
    const up = await setup(t, { memoryCost: 2048, timeCost: 2, parallelism: 1 }, again.file)
    t.equal(await up.service.verifyLogin('dave', PASSWORD), undefined)
    t.equal(up.db.select().from(users).where(eq(users.id, dave.id)).get()!.passwordHash, dave.passwordHash)
  })
})

t.test('update and changePassword', async (t) => {
  const { db, service, sessionsService } = await setup(t)
  const erin = await service.register({ username: 'erin', email: 'erin@example.com', password: PASSWORD })
  await service.register({ username: 'frank', email: 'frank@example.com', password: PASSWORD })

  t.match(await service.updateProfile(erin, { username: 'Erin2', email: 'ERIN2@example.com' }), { username: 'Erin2', email: 'erin2@example.com' })
  t.equal(await service.updateProfile(erin, {}), erin, 'no changes returns the row as given')
  for (const changes of [{ username: 'FRANK' }, { email: 'Frank@Example.com' }]) {
    const err = await problemOf(t, () => service.updateProfile(erin, changes))
    t.equal(err?.statusCode, 409, JSON.stringify(changes))
  }

  const current = await sessionsService.create(erin.id, {})
  const other = await sessionsService.create(erin.id, {})
  const row = (await service.findById(erin.id))!
  const wrong = await problemOf(t, () => service.changePassword(row, 'not it', 'another fine passphrase', current.sessionId))
  t.equal(wrong?.statusCode, 403)
  const weak = await problemOf(t, () => service.changePassword(row, PASSWORD, 'erin2@example.com', current.sessionId))
  t.equal(weak?.statusCode, 422)
  t.equal(weak?.errors?.[0].field, '/new_password')

  await service.changePassword(row, PASSWORD, 'another fine passphrase', current.sessionId)
  t.ok(await sessionsService.findActiveUser(erin.id, current.sessionId), 'the current session continues')
  t.equal(await sessionsService.findActiveUser(erin.id, other.sessionId), undefined, 'other sessions end')
  t.equal(db.select().from(sessions).where(eq(sessions.id, other.sessionId)).get()!.endReason, 'password_changed')
  t.ok(await service.verifyLogin('erin2', 'another fine passphrase'))
  t.equal(await service.verifyLogin('erin2', PASSWORD), undefined)

  t.test('a change checked against a password that has since changed is refused', async (t) => {
    const stale = (await service.findById(erin.id))!
    const a = await sessionsService.create(erin.id, {})
    const b = await sessionsService.create(erin.id, {})
    const results = await Promise.allSettled([
      service.changePassword(stale, 'another fine passphrase', 'third fine passphrase', a.sessionId),
      service.changePassword(stale, 'another fine passphrase', 'fourth fine passphrase', b.sessionId)
    ])
    t.same(results.map((r) => r.status).sort(), ['fulfilled', 'rejected'])
    const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!
    t.type(refused.reason, DomainError)
    t.equal(refusal(refused.reason).statusCode, 409)
    const winner = results[0].status === 'fulfilled' ? a : b
    t.ok(await sessionsService.findActiveUser(erin.id, winner.sessionId), 'the winner’s session continues')
    t.ok(await service.verifyLogin('erin2', results[0].status === 'fulfilled' ? 'third fine passphrase' : 'fourth fine passphrase'))
  })
})

t.test('setRoleOrDisabled and remove: the last-admin guard', async (t) => {
  const { db, service, sessionsService } = await setup(t)
  const root = await service.register({ username: 'root', email: 'root@example.com', password: PASSWORD, role: 'admin' })
  const user = await service.register({ username: 'plain', email: 'plain@example.com', password: PASSWORD })
  t.equal(await service.countActiveAdmins(), 1)

  for (const changes of [{ role: 'user' as const }, { disabled: true }, { role: 'user' as const, disabled: true }]) {
    const err = await problemOf(t, () => service.setRoleOrDisabled(root.id, changes))
    t.equal(err?.statusCode, 409, JSON.stringify(changes))
    t.match(err?.detail, /last active admin/)
  }
  const del = await problemOf(t, () => service.remove(root.id))
  t.equal(del?.statusCode, 409)
  t.match(await service.findById(root.id), { role: 'admin', disabled: false }, 'unchanged')
  t.equal((await service.setRoleOrDisabled(root.id, { role: 'admin', disabled: false }))?.role, 'admin', 'a change that keeps them an active admin is fine')
  t.equal(await service.setRoleOrDisabled(999, { role: 'user' }), undefined, 'unknown id')
  await t.resolves(service.remove(999), 'removing an unknown id is a no-op')

  t.test('disabling ends sessions; enabling keeps them ended', async (t) => {
    const s = await sessionsService.create(user.id, {})
    t.match(await service.setRoleOrDisabled(user.id, { disabled: true }), { disabled: true })
    t.equal(db.select().from(sessions).where(eq(sessions.id, s.sessionId)).get()!.endReason, 'user_disabled')
    t.match(await service.setRoleOrDisabled(user.id, { disabled: false }), { disabled: false })
    t.equal(await sessionsService.findActiveUser(user.id, s.sessionId), undefined)
  })

  t.test('with two admins, one may go; then the other is the last', async (t) => {
    const second = await service.register({ username: 'second', email: 'second@example.com', password: PASSWORD, role: 'admin' })
    t.equal(await service.countActiveAdmins(), 2)
    t.match(await service.setRoleOrDisabled(root.id, { disabled: true }), { disabled: true })
    t.equal(await service.countActiveAdmins(), 1)
    t.equal((await problemOf(t, () => service.setRoleOrDisabled(second.id, { role: 'user' })))?.statusCode, 409)
    t.equal((await problemOf(t, () => service.remove(second.id)))?.statusCode, 409)
    await t.resolves(service.remove(root.id), 'a disabled admin can be removed')
    t.equal(await service.findById(root.id), undefined)
  })

  t.test('remove cascades to tasks and sessions', async (t) => {
    const s = await sessionsService.create(user.id, {})
    await db.insert(tasks).values({ userId: user.id, title: 't', createdAt: new Date(), updatedAt: new Date() })
    await service.remove(user.id)
    t.equal(await service.findById(user.id), undefined)
    t.equal(db.select().from(tasks).where(eq(tasks.userId, user.id)).all().length, 0)
    t.equal(db.select().from(sessions).where(eq(sessions.id, s.sessionId)).all().length, 0)
  })
})

t.test('list, stats and cursors', async (t) => {
  const { service, sessionsService } = await setup(t)
  const a = await service.register({ username: 'under_score', email: 'u@example.com', password: PASSWORD, role: 'admin' })
  const b = await service.register({ username: 'underXscore', email: 'percent%sign@example.com', password: PASSWORD })
  t.same((await service.list({ limit: 10, q: 'R_S' })).items.map((u) => u.id), [a.id])
  t.same((await service.list({ limit: 10, q: '%' })).items.map((u) => u.id), [b.id])
  t.same((await service.list({ limit: 10, q: '' })).items.map((u) => u.id), [a.id, b.id])
  const first = await service.list({ limit: 1 })
  t.same(first.items.map((u) => u.id), [a.id])
  t.same(await service.list({ limit: 1, cursor: first.next_cursor! }), { items: [(await service.list({ limit: 10 })).items[1]], next_cursor: null })

  t.equal(decodeCursor(encodeCursor(42)), 42)
  t.equal(decodeCursor(undefined), 0)
  for (const bad of ['', 'x', encodeCursor(1) + '=', Buffer.from('id:01').toString('base64url'), Buffer.from('id:0').toString('base64url'), Buffer.from('id:1 ').toString('base64url')]) {
    const err = await problemOf(t, () => decodeCursor(bad))
    t.equal(err?.statusCode, 422, `cursor ${JSON.stringify(bad)}`)
    t.equal(err?.errors?.[0].field, '/cursor')
  }

  const s1 = await sessionsService.create(a.id, {})
  await sessionsService.create(b.id, {}, new Date(Date.now() - 2 * 3600_000)) // already expired
  const s3 = await sessionsService.create(b.id, {})
  t.same(await service.stats(), { users: 2, admins: 1, active_sessions: 2 })
  await sessionsService.end(s1.sessionId, 'logout')
  t.same(await service.stats(), { users: 2, admins: 1, active_sessions: 1 })
  t.same(await service.stats(new Date(Date.now() + 2 * 3600_000)), { users: 2, admins: 1, active_sessions: 0 }, 'later, the rest have expired')
  t.ok(s3)
})
