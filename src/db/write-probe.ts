// Readiness write probe: can the database commit a write right now? Cached, so /ready stays cheap.
import type Database from 'better-sqlite3'
import { sqliteCode } from './faults.js'

export type ProbeResult = { ok: true } | { ok: false, code: string }

/**
 * A read (SELECT 1) answers from the page cache on a full disk or an immutable file, and
 * `BEGIN IMMEDIATE; ROLLBACK` writes nothing either. What fails exactly when a write would is a write
 * that commits: rewriting `PRAGMA user_version` with its own value dirties page 1 and appends one WAL
 * frame at COMMIT, without a probe table or a schema change (drizzle's migrator does not use
 * user_version). The result is kept for `intervalMs`, so a busy load balancer costs one frame per interval.
 */
export function createWriteProbe (sqlite: Database.Database, intervalMs = 2000) {
  const userVersion = sqlite.prepare('PRAGMA user_version').pluck()
  const rewrite = sqlite.transaction(() => {
    const version = Number(userVersion.get())
    sqlite.pragma(`user_version = ${version}`)
  })
  let checkedAt = -Infinity
  let last: ProbeResult = { ok: true }
  return {
    check (now = Date.now()): ProbeResult {
      if (now - checkedAt < intervalMs) return last
      checkedAt = now
      try {
        rewrite.immediate()
        last = { ok: true }
      } catch (err) {
        last = { ok: false, code: sqliteCode(err) ?? (err as Error).name }
      }
      return last
    }
  }
}
