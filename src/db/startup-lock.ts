// One start-up at a time per data directory: migrations and first-key creation run under an OS lock.
import { join } from 'node:path'
import Database from 'better-sqlite3'

/** The lock file: an empty SQLite database beside latchkey.db, never written, safe to delete while nothing runs. */
export const startupLockFile = (dataDir: string): string => join(dataDir, 'startup.lock')

/**
 * Run `work` holding an exclusive lock on `<data dir>/startup.lock`, so any number of processes starting
 * at once on an empty data directory end with one schema and one signing key (drizzle's migrator reads
 * "nothing applied" in each and then races to CREATE TABLE). The lock is SQLite's own `BEGIN EXCLUSIVE`
 * on a separate file: a POSIX advisory lock that the kernel drops when its process dies, so a crash
 * mid-start leaves no stale lock to clean up (unlike an O_EXCL lock file). Waiters sleep in SQLite's
 * busy handler up to `timeoutMs`, then fail with SQLITE_BUSY.
 */
export function withStartupLock<T> (dataDir: string, work: () => T, timeoutMs = 60_000): T {
  const lock = new Database(startupLockFile(dataDir))
  try {
    lock.pragma(`busy_timeout = ${timeoutMs}`)
    lock.exec('BEGIN EXCLUSIVE')
    try {
      return work()
    } finally {
      lock.exec('ROLLBACK')
    }
  } finally {
    lock.close()
  }
}
