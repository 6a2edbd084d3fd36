// openPostgres / migratePostgres on a real PostgreSQL: migrations once under a lock, newer-schema refusal,
// a non-superuser role, pool settings, and a pool that survives its idle connections being killed.
import { readMigrationFiles } from 'drizzle-orm/migrator'
import pg from 'pg'
import t from 'tap'
import { ConfigError, parseConfig } from '../../src/config.js'
import { migratePostgres, openPostgres, SchemaTooNewError } from '../../src/db/postgres.js'
import { migrationsFolders } from '../../src/paths.js'
import { adminQuery, pgDatabase } from '../pg.js'

const known = readMigrationFiles({ migrationsFolder: migrationsFolders.postgres })
const config = (url: string) => ({ DATABASE_URL: url, DATABASE_POOL_SIZE: 3, DATABASE_STATEMENT_TIMEOUT: 1500 })

async function query<R extends pg.QueryResultRow> (url: string, sql: string): Promise<R[]> {
  return (await adminQuery(sql, url)).rows as R[]
}

t.test('migratePostgres creates every table on an empty database, as a role that is not a superuser', async (t) => {
  const url = await pgDatabase(t)
  const [role] = await query<{ rolsuper: boolean, rolcreaterole: boolean }>(url, 'SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user')
  t.same(role, { rolsuper: false, rolcreaterole: false }, 'the test role is a plain LOGIN (CREATEDB) role')
  const [owner] = await query<{ owner: string, me: string }>(url, 'SELECT pg_get_userbyid(datdba) AS owner, current_user AS me FROM pg_database WHERE datname = current_database()')
  t.equal(owner.owner, owner.me, 'it owns the database')

  t.same(await migratePostgres(url), { applied: known.length })
  const tables = (await query<{ tablename: string }>(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).map((r) => r.tablename)
  t.same(tables, ['account_tokens', 'audit_events', 'login_throttle', 'refresh_tokens', 'server_secrets', 'sessions', 'signing_keys', 'tasks', 'totp_recovery_codes', 'totp_secrets', 'users'])
  const [index] = await query<{ indexdef: string }>(url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'users_username_lower_unique'")
  t.match(index.indexdef, /UNIQUE INDEX .* \(lower\(username\)\)/, 'usernames are unique case-insensitively, as on SQLite')
  const cascades = await query<{ n: string }>(url, "SELECT count(*) AS n FROM pg_constraint WHERE contype = 'f' AND confdeltype = 'c'")
  t.equal(Number(cascades[0].n), 6, 'six ON DELETE CASCADE foreign keys, as on SQLite')

  t.same(await migratePostgres(url), { applied: 0 }, 'a second run applies nothing')
  const rows = await query<{ n: string }>(url, 'SELECT count(*) AS n FROM drizzle.__drizzle_migrations')
  t.equal(Number(rows[0].n), known.length)
})

t.test('three instances starting at once on an empty database apply the migrations once', async (t) => {
  const url = await pgDatabase(t)
  const opened = await Promise.all([0, 1, 2].map(() => openPostgres(config(url))))
  t.teardown(() => Promise.all(opened.map((o) => o.close())))
  const rows = await query<{ hash: string }>(url, 'SELECT hash FROM drizzle.__drizzle_migrations')
  t.same(rows.map((r) => r.hash), known.map((m) => m.hash), 'each migration recorded exactly once')
  for (const { db } of opened) t.same((await db.execute('SELECT count(*)::int AS n FROM users')).rows, [{ n: 0 }])
})

t.test('a database migrated by a newer build is refused with one clear sentence', async (t) => {
  const url = await pgDatabase(t)
  await migratePostgres(url)
  await adminQuery(`INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('f00d', ${Date.UTC(2031, 0, 2)})`, url)
  const err = await openPostgres(config(url)).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof SchemaTooNewError, 'SchemaTooNewError')
  t.equal((err as Error).message, 'the PostgreSQL database has 1 migration(s) this Latchkey build does not know (the newest from 2031-01-02T00:00:00.000Z): ' +
    'upgrade Latchkey to the version that migrated it, or point DATABASE_URL at another database')
  t.notMatch((err as Error).message, /\n/, 'one line')
  const rows = await query<{ n: string }>(url, 'SELECT count(*) AS n FROM drizzle.__drizzle_migrations')
  t.equal(Number(rows[0].n), known.length + 1, 'nothing was applied or removed')
})

t.test('the pool: size, statement_timeout, and a PostgreSQL-side kill of idle connections does not crash it', async (t) => {
  const url = await pgDatabase(t)
  const errors: Error[] = []
  const { pool, db, close } = await openPostgres(config(url), { onPoolError: (err) => errors.push(err) })
  t.teardown(close)
  t.equal(pool.options.max, 3, 'max = DATABASE_POOL_SIZE')
  t.same((await pool.query('SHOW statement_timeout')).rows, [{ statement_timeout: '1500ms' }])
  const slow = await pool.query('SELECT pg_sleep(3)').then(() => undefined, (e: { code?: string }) => e.code)
  t.equal(slow, '57014', 'a statement past DATABASE_STATEMENT_TIMEOUT is cancelled')

  // Three idle connections in the pool, then PostgreSQL terminates them (as a restart would).
  await Promise.all([0, 1, 2].map(() => pool.query('SELECT 1')))
  t.equal(pool.idleCount, 3)
  const killed = await adminQuery('SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND usename = current_user', url)
  t.equal(killed.rows[0].n, 3, 'three backends terminated')
  for (let i = 0; i < 100 && errors.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(errors.length, 3, 'each idle client\'s error reached the listener instead of crashing the process')
  t.same((await db.execute('SELECT 1 AS one')).rows, [{ one: 1 }], 'the next query opens a fresh connection')
})

t.test('config: DATABASE_URL accepts postgres:// and postgresql:// only and is never echoed; pool defaults', async (t) => {
  const base = { DATABASE_PATH: '/tmp/x.db' }
  const defaults = parseConfig(base)
  t.equal(defaults.DATABASE_URL, undefined, 'unset by default: SQLite')
  t.equal(defaults.DATABASE_POOL_SIZE, 10)
  t.equal(defaults.DATABASE_STATEMENT_TIMEOUT, 5000)
  t.equal(defaults.KEY_REFRESH_INTERVAL, 60)
  for (const url of ['postgres://u:p@db:5432/x', 'postgresql://u:p@db/x']) t.equal(parseConfig({ ...base, DATABASE_URL: url }).DATABASE_URL, url)
  for (const bad of ['mysql://u:s3cretpw@db/x', 'sqlite:///tmp/x.db', 'not a url']) {
    const err = (() => { try { parseConfig({ ...base, DATABASE_URL: bad }) } catch (e) { return e } })()
    t.ok(err instanceof ConfigError, `${bad} is refused`)
    t.match((err as ConfigError).problems, ['DATABASE_URL is not valid: expected postgres://user:password@host:port/database or postgresql://…'])
    t.notMatch((err as Error).message, /s3cretpw/, 'the value is not echoed')
  }
  const pool = (() => { try { parseConfig({ ...base, DATABASE_POOL_SIZE: 0, KEY_REFRESH_INTERVAL: 'soon' }) } catch (e) { return e as ConfigError } })()
  t.equal(pool?.problems.length, 2, 'a zero pool and a non-numeric interval are both reported')
})
