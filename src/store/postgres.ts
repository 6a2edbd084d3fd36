// The PostgreSQL store: a pool (src/db/postgres.ts), the engine-neutral query modules over schema-pg's
// tables, and explicit concurrency where SQLite's single writer gave it for free: a transaction advisory
// lock for the last-admin guard, and the session row locked (FOR UPDATE) for each refresh, so racing
// refreshes of one session — on any instance — are decided one after another on committed state.
import { sql, type SQL } from 'drizzle-orm'
import { openPostgres, type PgDb, type PostgresConfig } from '../db/postgres.js'
import * as pgSchema from '../db/schema-pg.js'
import { driverError, storageFault } from '../db/faults.js'
import type { Ctx, Db, Tables } from './context.js'
import { composite, type Store } from './index.js'
import { queries } from './queries.js'

/** pg_advisory_xact_lock keys: 'lkad' (admins). */
const ADMINS_LOCK = 0x6c6b6164

interface Executes { execute (query: SQL): Promise<unknown> }

export interface PostgresStore extends Store {
  /** Drizzle over the pool, for what lives only in PostgreSQL (signing keys, the TOTP key, the login throttle). */
  readonly db: PgDb
}

export interface PostgresStoreOptions {
  /** Told about errors of idle pooled connections (PostgreSQL restarted); the pool replaces them. */
  onPoolError?: (err: Error) => void
}

export async function openPostgresStore (config: PostgresConfig, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  const { pool, db: pgDb, close } = await openPostgres(config, { onPoolError: options.onPoolError })
  // The tables are schema-pg's; their row types equal SQLite's (checked in schema-pg.ts), see ./context.ts.
  const t = pgSchema as unknown as Tables
  const ctxOf = (db: Db, inTransaction = true): Ctx => ({
    db,
    t,
    engine: 'postgres',
    inTransaction,
    lock: async (what) => {
      const run = async (query: SQL) => { await (db as unknown as Executes).execute(query) }
      if (what === 'admins') await run(sql`SELECT pg_advisory_xact_lock(${ADMINS_LOCK})`)
      else if ('user' in what) await run(sql`SELECT 1 FROM users WHERE id = ${what.user} FOR UPDATE`)
      else await run(sql`SELECT 1 FROM sessions WHERE id = ${what.session} FOR UPDATE`)
    }
  })

  async function ready (): Promise<{ ok: boolean, code?: string }> {
    try {
      await pool.query('SELECT 1')
      return { ok: true }
    } catch (err) {
      return { ok: false, code: storageFault(err) === 'unavailable' ? (driverError(err)?.code ?? 'unavailable') : (err as Error).name }
    }
  }

  /** The store bound to one open transaction. */
  function bound (tx: Db): Store {
    const ctx = ctxOf(tx)
    const lockSession = async (id: number): Promise<void> => { await ctx.lock({ session: id }) }
    const store: Store = {
      ...queries(ctx),
      engine: 'postgres',
      transaction: async (fn) => await fn(store),
      startSession: async (s, tokenHash, event) => await composite.startSession(store, s, tokenHash, event),
      rotateRefreshToken: async (input, decide, onReuse) => await composite.rotateRefreshToken(store, lockSession, input, decide, onReuse),
      ready,
      close: async () => {}
    }
    return store
  }

  const root = pgDb as unknown as Db
  let closing: Promise<void> | undefined
  const transaction: Store['transaction'] = async (fn) =>
    await pgDb.transaction(async (tx) => await fn(bound(tx as unknown as Db)))

  return {
    ...queries({ ...ctxOf(root, false), lock: async () => { throw new Error('a lock needs a transaction') } }),
    engine: 'postgres',
    db: pgDb,
    transaction,
    startSession: async (s, tokenHash, event) => await transaction(async (tx) => await tx.startSession(s, tokenHash, event)),
    rotateRefreshToken: async (input, decide, onReuse) => await transaction(async (tx) => await tx.rotateRefreshToken(input, decide, onReuse)),
    ready,
    // Idempotent: the app's onClose may follow an explicit close (pg's Pool.end throws when called twice).
    close: async () => { closing ??= close(); await closing }
  }
}
