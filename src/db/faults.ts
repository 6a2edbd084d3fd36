// SQLite and PostgreSQL (node-postgres) errors classified in one place: which mean "storage unavailable, retry", which are a constraint, which a bug.

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
  for (const e of chain(err)) {
    if (typeof e.code === 'string' && e.code.startsWith('SQLITE_')) return { code: e.code, message: String(e.message ?? '').split('\n')[0] }
    // PostgreSQL's own message names the constraint or object, never the bound values (those are in `detail`).
    if (typeof e.code === 'string' && typeof e.severity === 'string') return { code: e.code, message: String(e.message ?? '').split('\n')[0] }
  }
  return undefined
}

/**
 * PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html) that say the server
 * cannot serve us right now: class 08 (connection exception), 53 (insufficient resources: too many
 * connections, disk full, out of memory), 57P01-03 (admin/crash shutdown, cannot connect now: starting or
 * in recovery), 57014 (query canceled: our statement_timeout).
 */
const PG_UNAVAILABLE = /^(08...|53...|57P0[123]|57014)$/
const PG_CONSTRAINT = /^23...$/
// Socket-level failures on the way to PostgreSQL (errno codes node-postgres passes through).
const NET_UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])
// node-postgres reports a dropped or never-made connection with these messages and no code.
const PG_CONNECTION_LOST = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end)/

interface ErrorLike { code?: unknown, cause?: unknown, message?: unknown, severity?: unknown, errors?: unknown }

/** Each error in the cause chain (drizzle's DrizzleQueryError keeps the driver's in `cause`), a few levels deep. */
function * chain (err: unknown): Generator<ErrorLike> {
  for (let e = err as ErrorLike | undefined, depth = 0; e !== undefined && e !== null && typeof e === 'object' && depth < 5; e = e.cause as ErrorLike | undefined, depth++) yield e
}

/** The SQLSTATE of a PostgreSQL server error (node-postgres DatabaseError), wherever in the cause chain it sits. */
export function pgCode (err: unknown): string | undefined {
  for (const e of chain(err)) {
    if (typeof e.code === 'string' && typeof e.severity === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code
  }
  return undefined
}

/** True when the error says PostgreSQL could not be reached or the connection was lost (no SQLSTATE). */
function pgConnectionLost (err: unknown): boolean {
  for (const e of chain(err)) {
    if (typeof e.code === 'string' && NET_UNAVAILABLE.has(e.code)) return true
    // net.connect over several addresses (localhost: ::1 and 127.0.0.1) fails with an AggregateError.
    if (Array.isArray(e.errors) && e.errors.some((inner: ErrorLike) => typeof inner?.code === 'string' && NET_UNAVAILABLE.has(inner.code))) return true
    if (typeof e.message === 'string' && PG_CONNECTION_LOST.test(e.message)) return true
  }
  return false
}

/** 'unavailable' (answer 503 + Retry-After), 'constraint' (409), or undefined: not a storage fault (500, logged). */
export function storageFault (err: unknown): StorageFault | undefined {
  const code = sqliteCode(err)
  if (code !== undefined) {
    if (UNAVAILABLE.test(code)) return 'unavailable'
    if (CONSTRAINT.test(code)) return 'constraint'
    return undefined
  }
  const state = pgCode(err)
  if (state !== undefined) {
    if (PG_UNAVAILABLE.test(state)) return 'unavailable'
    if (PG_CONSTRAINT.test(state)) return 'constraint'
    return undefined
  }
  return pgConnectionLost(err) ? 'unavailable' : undefined
}
