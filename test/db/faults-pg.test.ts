// storageFault / isUniqueViolation / driverError on errors produced by a real PostgreSQL and node-postgres:
// a stopped server, a terminated backend, a statement timeout, a connection limit, constraint violations.
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { sql } from 'drizzle-orm'
import pg from 'pg'
import t from 'tap'
import { driverError, pgCode, storageFault } from '../../src/db/faults.js'
import { openPostgres } from '../../src/db/postgres.js'
import { sessions, users } from '../../src/db/schema-pg.js'
import { isUniqueViolation } from '../../src/errors.js'
import { adminQuery, pgDatabase, startPgServer } from '../pg.js'

const caught = async (p: Promise<unknown>): Promise<unknown> => await p.then(() => { throw new Error('expected a rejection') }, (err: unknown) => err)
const open = (url: string, timeout = 5000) => openPostgres({ DATABASE_URL: url, DATABASE_POOL_SIZE: 2, DATABASE_STATEMENT_TIMEOUT: timeout })

t.test('a statement past statement_timeout (57014), through drizzle too, is "unavailable"', async (t) => {
  const { db, pool, close } = await open(await pgDatabase(t), 100)
  t.teardown(close)
  const raw = await caught(pool.query('SELECT pg_sleep(2)'))
  t.equal(pgCode(raw), '57014')
  t.equal(storageFault(raw), 'unavailable')
  const wrapped = await caught(db.execute(sql`SELECT pg_sleep(2)`))
  t.not(wrapped, raw)
  t.equal(storageFault(wrapped), 'unavailable', 'found in the DrizzleQueryError\'s cause')
})

t.test('a backend terminated mid-query (57P01), and the dead client afterwards, are "unavailable"', async (t) => {
  const url = await pgDatabase(t)
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => {})
  await client.connect()
  const { rows: [{ pid }] } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  const running = caught(client.query('SELECT pg_sleep(30)'))
  // Only once the sleep is running, or the kill could land before it.
  for (let i = 0; i < 200; i++) {
    const active = await adminQuery(`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid} AND state = 'active'`, url)
    if (active.rowCount === 1) break
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  await adminQuery(`SELECT pg_terminate_backend(${pid})`, url)
  const err = await running
  t.equal(pgCode(err), '57P01', 'terminating connection due to administrator command')
  t.equal(storageFault(err), 'unavailable')
  const after = await caught(client.query('SELECT 1'))
  t.match((after as Error).message, /not queryable|Connection terminated/)
  t.equal(storageFault(after), 'unavailable', 'the next query on the dead connection')
})

t.test('the server stopped: queries in flight and new connections are "unavailable"; nothing crashes', async (t) => {
  const server = startPgServer(t)
  const { pool, close } = await open(await pgDatabase(t, server.url))
  t.teardown(close)
  await pool.query('SELECT 1')
  const inFlight = caught(pool.query('SELECT pg_sleep(30)'))
  await new Promise((resolve) => setTimeout(resolve, 100))
  server.stop()
  const lost = await inFlight
  t.equal(storageFault(lost), 'unavailable', `in flight: ${(lost as Error).message}`)
  const refused = await caught(pool.query('SELECT 1'))
  t.match(refused, { code: 'ECONNREFUSED' })
  t.equal(storageFault(refused), 'unavailable', 'connection refused')
})

t.test('a connection that never answers times out as "unavailable"', async (t) => {
  // A TCP listener that accepts and never speaks: the pool's connectionTimeoutMillis fires.
  const silent = createServer(() => {})
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  const held: Socket[] = []
  silent.on('connection', (s) => held.push(s))
  t.teardown(() => { held.forEach((s) => s.destroy()); silent.close() })
  const pool = new pg.Pool({ connectionString: `postgres://x:y@127.0.0.1:${(silent.address() as AddressInfo).port}/z`, connectionTimeoutMillis: 100 })
  t.teardown(() => pool.end())
  const err = await caught(pool.query('SELECT 1'))
  t.match((err as Error).message, /timeout/)
  t.equal(storageFault(err), 'unavailable')
})

t.test('too many connections (53300) is "unavailable"', async (t) => {
  const url = await pgDatabase(t)
  const name = new URL(url).pathname.slice(1)
  // The owner may limit its own database; the admin connection is on `postgres`, unaffected.
  await adminQuery(`ALTER DATABASE ${name} CONNECTION LIMIT 1`)
  const first = new pg.Client({ connectionString: url })
  await first.connect()
  t.teardown(() => first.end())
  const second = new pg.Client({ connectionString: url })
  const err = await caught(second.connect())
  t.equal(pgCode(err), '53300')
  t.equal(storageFault(err), 'unavailable')
})

t.test('constraint violations: 23505 is a unique violation and a "constraint"; 23503 a "constraint"; a bug is neither', async (t) => {
  const { db, close } = await open(await pgDatabase(t))
  t.teardown(close)
  const row = { username: 'Alice', email: 'alice@example.com', passwordHash: 'secret-hash-value', createdAt: new Date() }
  await db.insert(users).values(row)
  const duplicate = await caught(db.insert(users).values({ ...row, username: 'ALICE', email: 'other@example.com' }))
  t.equal(pgCode(duplicate), '23505', 'lower(username) is unique')
  t.ok(isUniqueViolation(duplicate), 'isUniqueViolation sees it through drizzle\'s wrapper')
  t.equal(storageFault(duplicate), 'constraint')
  const driver = driverError(duplicate)
  t.equal(driver?.code, '23505')
  t.match(driver?.message, /users_username_lower_unique/)
  t.notMatch(driver?.message, /secret-hash-value|other@example/, 'the driver\'s message, never the bound values')

  const orphan = await caught(db.insert(sessions).values({ userId: 999, createdAt: new Date(), lastUsedAt: new Date(), expiresAt: new Date() }))
  t.equal(pgCode(orphan), '23503')
  t.notOk(isUniqueViolation(orphan), 'a foreign key is not a unique violation')
  t.equal(storageFault(orphan), 'constraint')

  const bug = await caught(db.execute(sql`SELEC 1`))
  t.equal(pgCode(bug), '42601')
  t.equal(storageFault(bug), undefined, 'a syntax error is a bug (500), not a storage fault')
  t.equal(storageFault(new Error('Connection refused by the user')), undefined, 'a plain error is not a storage fault')
  t.equal(storageFault(Object.assign(new Error('x'), { code: '57014' })), undefined, 'a 5-character code without a PostgreSQL severity is not taken for one')
})
