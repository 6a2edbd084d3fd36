// The SQLite store's own statements for logins and registrations answer exactly as the query modules do, and
// the query modules' statement cache hands out statements as fresh ones, bounded.
import Database from 'better-sqlite3'
import { join } from 'node:path'
import t from 'tap'
import * as schema from '../../src/db/schema.js'
import { Taken } from '../../src/errors.js'
import { queries } from '../../src/store/queries.js'
import { cachingStatements, openSqliteStore } from '../../src/store/sqlite.js'
import { tempDir } from '../helper.js'

const T0 = new Date('2026-01-01T00:00:00Z')

t.test('userById, userByLogin, insertUser, lastAccountTokenAt and the audit insert: the query modules\' rows', async (t) => {
  const store = openSqliteStore(join(tempDir(t), 'latchkey.db'))
  t.teardown(() => store.close())
  // The query modules over the plain Drizzle instance: what the store answered before its own statements.
  const drizzleOnly = queries({ db: store.db, t: schema, engine: 'sqlite', inTransaction: false, lock: async () => {} })
  const plain = await store.insertUser({ username: 'Alice', email: 'alice@example.com', passwordHash: 'h1', createdAt: T0 })
  const full = await store.transaction(async (tx) => await tx.insertUser({
    username: 'Bob', email: 'bob@example.com', passwordHash: 'h2', role: 'admin', disabled: true, emailVerified: true, totpEnabled: true, createdAt: T0
  }))
  t.same(plain, await drizzleOnly.userById(plain.id), 'defaults: as Drizzle reads the row back')
  t.same(full, await drizzleOnly.userById(full.id), 'every column set')
  t.match(full, { role: 'admin', disabled: true, emailVerified: true, totpEnabled: true })
  for (const login of ['alice', 'alice@example.com', 'bob', 'nobody', 'ALICE']) {
    t.same(await store.userByLogin(login), await drizzleOnly.userByLogin(login), `userByLogin(${login})`)
    t.same(await store.transaction(async (tx) => await tx.userByLogin(login)), await drizzleOnly.userByLogin(login), `in a transaction: ${login}`)
  }
  for (const id of [plain.id, full.id, 999]) {
    t.same(await store.userById(id), await drizzleOnly.userById(id), `userById(${id})`)
    t.same(await store.transaction(async (tx) => await tx.userById(id)), await drizzleOnly.userById(id), `in a transaction: ${id}`)
  }
  await t.rejects(store.insertUser({ username: 'ALICE', email: 'x@example.com', passwordHash: 'h', createdAt: T0 }), Taken)
  await t.rejects(store.transaction(async (tx) => await tx.insertUser({ username: 'x', email: 'bob@example.com', passwordHash: 'h', createdAt: T0 })), Taken)

  t.equal(await store.lastAccountTokenAt('verify', 'alice@example.com'), undefined)
  for (const [i, kind] of (['verify', 'verify', 'reset'] as const).entries()) {
    await store.transaction(async (tx) => {
      await tx.replaceAccountToken({ userId: plain.id, kind, email: 'alice@example.com', tokenHash: `t${i}`, createdAt: new Date(T0.getTime() + i * 1000), expiresAt: new Date(T0.getTime() + 3_600_000) })
    })
  }
  for (const kind of ['verify', 'reset'] as const) {
    t.same(await store.lastAccountTokenAt(kind, 'alice@example.com'), await drizzleOnly.lastAccountTokenAt(kind, 'alice@example.com'), kind)
  }
  t.same(await store.lastAccountTokenAt('verify', 'alice@example.com'), new Date(T0.getTime() + 1000), 'the newest')
  t.equal(await drizzleOnly.liveAccountToken('t0', 'verify', T0), undefined, 'the older link of the kind is gone')
  t.match(await drizzleOnly.liveAccountToken('t1', 'verify', T0), { userId: plain.id, kind: 'verify', email: 'alice@example.com', usedAt: null })

  const event = { at: T0, type: 'user.registered', userId: plain.id, actorId: null, sessionId: null, ip: '127.0.0.1', userAgent: 'test', detail: '{"role":"user"}' }
  const id = await store.insertAuditEvent(event)
  const inTx = await store.transaction(async (tx) => await tx.insertAuditEvent({ ...event, ip: null, userAgent: null }))
  t.equal(inTx, id + 1)
  const rows = await drizzleOnly.listAuditEvents({ before: 0, limit: 10 })
  t.same(rows.filter((r) => r.id >= id).reverse(), [{ id, ...event }, { id: id + 1, ...event, ip: null, userAgent: null }])
})

t.test('the statement cache: one statement per SQL text, in object mode when handed out again, bounded', async (t) => {
  const sqlite = new Database(':memory:')
  t.teardown(() => { sqlite.close() })
  const client = cachingStatements(sqlite, 2)
  client.exec('CREATE TABLE x (a INTEGER, b TEXT)')
  client.prepare('INSERT INTO x VALUES (?, ?)').run(1, 'one')
  const select = client.prepare('SELECT a, b FROM x')
  t.equal(client.prepare('SELECT a, b FROM x'), select, 'the same SQL: the same statement')
  t.same(select.raw(true).all(), [[1, 'one']], 'raw mode, as Drizzle\'s values() sets it')
  t.same(client.prepare('SELECT a, b FROM x').all(), [{ a: 1, b: 'one' }], 'handed out again: object rows')
  // Size 2: using a statement keeps it; the least recently used one goes when a third text comes.
  const insert = client.prepare('INSERT INTO x VALUES (?, ?)')
  t.equal(client.prepare('SELECT a, b FROM x'), select)
  client.prepare('SELECT b FROM x')
  t.equal(client.prepare('SELECT a, b FROM x'), select, 'recently used: kept')
  const again = client.prepare('INSERT INTO x VALUES (?, ?)')
  t.not(again, insert, 'the least recently used: evicted, then prepared anew')
  t.equal(client.inTransaction, false, 'the connection\'s properties')
  client.transaction(() => { again.run(2, 'two') })()
  t.same(select.all(), [{ a: 1, b: 'one' }, { a: 2, b: 'two' }], 'and its methods, bound to it')
})
