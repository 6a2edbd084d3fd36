// What every query module of the store is built on: a Drizzle database (the root connection or a
// transaction), the tables of its engine, and the engine's few differences.
//
// The query modules (src/store/users.ts, sessions.ts, …) are written once, against Drizzle's query builder,
// and run on both engines: SQLite (better-sqlite3) and PostgreSQL (node-postgres). Both schemas
// (src/db/schema.ts, src/db/schema-pg.ts) have the same tables, columns and JS property names, and the
// same inferred row types, so the code is typed against the SQLite tables and PostgreSQL's are passed in
// their place. Only what both builders share is used: `await` on a query (never `.all()`, `.get()` or
// `.run()`, which only the synchronous SQLite driver has), `.returning()`, `onConflictDoUpdate`.
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import type * as schema from '../db/schema.js'

export type Tables = typeof schema
/** The query-builder surface both engines share, typed as SQLite's. */
export type Db = BetterSQLite3Database<typeof schema>
export type Engine = 'sqlite' | 'postgres'

export type LockTarget = 'admins' | { user: number } | { session: number }

export interface Ctx {
  db: Db
  t: Tables
  engine: Engine
  /** Whether `db` is an open transaction (PostgreSQL then locks the user rows it reads: see userById). */
  inTransaction: boolean
  /**
   * Inside a transaction: serialise with every other transaction that takes the same lock, until commit.
   * SQLite's BEGIN IMMEDIATE already serialises all writers, so there it is a no-op. PostgreSQL runs READ
   * COMMITTED, where a check read before another transaction commits goes stale: 'admins' takes a transaction
   * advisory lock (two demotions must not both see two admins), a user or session row is locked FOR UPDATE.
   */
  lock (what: LockTarget): Promise<void>
}

/** Rows a write touched: better-sqlite3 says `changes`, node-postgres `rowCount`. */
export function affected (result: unknown): number {
  const r = result as { changes?: number, rowCount?: number | null }
  return Number(r.changes ?? r.rowCount ?? 0)
}

/** The first row of a result, or undefined. */
export const first = <T>(rows: T[]): T | undefined => rows[0]
