// Reading and writing rows in tests on whichever engine the app runs (LATCHKEY_TEST_ENGINE picks it for the
// suite): Drizzle over the app's own connection with that engine's tables, and portable raw counts.
import type pg from 'pg'
import type { App } from '../src/app.js'
import * as pgSchema from '../src/db/schema-pg.js'
import * as sqliteSchema from '../src/db/schema.js'
import type { Db, Tables } from '../src/store/context.js'
import type { PostgresStore } from '../src/store/postgres.js'

/** The engine the suite runs on: PostgreSQL when LATCHKEY_TEST_ENGINE=postgres (the matrix), else SQLite. */
export const testEngine: 'sqlite' | 'postgres' = process.env.LATCHKEY_TEST_ENGINE === 'postgres' ? 'postgres' : 'sqlite'

const handle = (app: App): { db: Db, s: Tables } => app.store.engine === 'postgres'
  ? { db: (app.store as PostgresStore).db as unknown as Db, s: pgSchema as unknown as Tables }
  : { db: app.db, s: sqliteSchema }

/** Run a Drizzle query built over the app's engine: `await query(app, (db, s) => db.select().from(s.users))`. */
export async function query<T> (app: App, build: (db: Db, s: Tables) => PromiseLike<T>): Promise<T> {
  const { db, s } = handle(app)
  return await build(db, s)
}

/** `SELECT count(*) FROM table [WHERE …]`, on either engine (the SQL must be portable). */
export async function count (app: App, table: string, where = ''): Promise<number> {
  const text = `SELECT count(*) AS n FROM ${table}${where === '' ? '' : ` WHERE ${where}`}`
  if (app.store.engine === 'sqlite') return Number((app.sqlite.prepare(text).get() as { n: number }).n)
  const pool = ((app.store as PostgresStore).db as unknown as { $client: pg.Pool }).$client
  const result = await pool.query<{ n: string }>(text)
  return Number(result.rows[0].n)
}

/** Every row of a table (for "never stored" checks on the raw contents), on either engine. */
export async function rawRows (app: App, table: string): Promise<unknown[]> {
  if (app.store.engine === 'sqlite') return app.sqlite.prepare(`SELECT * FROM ${table}`).all()
  const pool = ((app.store as PostgresStore).db as unknown as { $client: pg.Pool }).$client
  return (await pool.query(`SELECT * FROM ${table}`)).rows
}

/**
 * Make every `event` on `table` fail inside the database (a trigger raising a constraint-class error, as a
 * broken table would), until the returned function is called. `event`: 'INSERT' or 'UPDATE OF column'.
 */
export async function failing (app: App, table: string, event: string): Promise<() => Promise<void>> {
  const name = `fail_${table}_${event.replace(/\W+/g, '_').toLowerCase()}`
  if (app.store.engine === 'sqlite') {
    app.sqlite.exec(`CREATE TRIGGER ${name} BEFORE ${event} ON ${table} BEGIN SELECT RAISE(ABORT, '${table} down'); END`)
    return async () => { app.sqlite.exec(`DROP TRIGGER ${name}`) }
  }
  const pool = ((app.store as PostgresStore).db as unknown as { $client: pg.Pool }).$client
  await pool.query(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${table} down' USING ERRCODE = 'check_violation'; END $$`)
  await pool.query(`CREATE TRIGGER ${name} BEFORE ${event} ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}()`)
  return async () => { await pool.query(`DROP TRIGGER ${name} ON ${table}; DROP FUNCTION ${name}()`) }
}
