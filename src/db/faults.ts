// SQLite errors classified in one place: which mean "storage unavailable, retry", which are a constraint, which a bug.

/** Seconds a client should wait before retrying a write refused because the storage is unavailable. */
export const STORAGE_RETRY_AFTER = 5

/**
 * Result codes that say the storage cannot take writes right now, not that the request or the code is
 * wrong: a full disk, a read-only or immutable file, an I/O error, another writer holding the lock past
 * busy_timeout, a file that cannot be opened (https://www.sqlite.org/rescode.html). Extended codes
 * (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED, SQLITE_BUSY_SNAPSHOT, …) share their primary's prefix.
 */
const UNAVAILABLE = /^SQLITE_(FULL|READONLY|IOERR|BUSY|LOCKED|CANTOPEN)(_|$)/
const CONSTRAINT = /^SQLITE_CONSTRAINT(_|$)/

export type StorageFault = 'unavailable' | 'constraint'

/** The SQLite error code, also when an ORM wrapped the driver's error (drizzle's DrizzleQueryError keeps it in `cause`). */
export function sqliteCode (err: unknown): string | undefined {
  for (let e = err as { code?: unknown, cause?: unknown } | undefined, depth = 0; e !== undefined && e !== null && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && e.code.startsWith('SQLITE_')) return e.code
  }
  return undefined
}

/**
 * The SQLite code and the driver's own message (its first line), wherever in the cause chain the driver's
 * error sits, or undefined for an error that is not SQLite's. Never the wrapper's message, which lists the
 * query's bound values (emails, hashes).
 */
export function driverError (err: unknown): { code: string, message: string } | undefined {
  for (let e = err as { code?: unknown, cause?: unknown, message?: unknown } | undefined, depth = 0; e !== undefined && e !== null && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && e.code.startsWith('SQLITE_')) return { code: e.code, message: String(e.message ?? '').split('\n')[0] }
  }
  return undefined
}

/** 'unavailable' (answer 503 + Retry-After), 'constraint' (409), or undefined: not a storage fault (500, logged). */
export function storageFault (err: unknown): StorageFault | undefined {
  const code = sqliteCode(err)
  if (code === undefined) return undefined
  if (UNAVAILABLE.test(code)) return 'unavailable'
  if (CONSTRAINT.test(code)) return 'constraint'
  return undefined
}
