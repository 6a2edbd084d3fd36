// The per-account login throttle on PostgreSQL: LoginThrottle's rules, with the counters in `login_throttle`
// shared by every instance and each decision taken by one conditional statement, so instances racing on a
// name cannot together admit more attempts than the threshold (the bug of GHSA-7h8m-vrxx-vr4m).
import { sql } from 'drizzle-orm'
import type { PgDb } from '../db/postgres.js'
import { BASE_DELAY_MS, IN_FLIGHT_TTL_MS, keyOf, MAX_DELAY_MS, type LoginThrottles, type Throttle } from './login-throttle.js'

// Rows untouched this long are dropped by purge(): a name's failure count is forgotten after a quiet day
// (the in-memory throttle forgets least-recently-used names past 100,000 instead).
const DEFAULT_PURGE_AFTER_MS = 24 * 60 * 60 * 1000

export class PgLoginThrottle {
  /** `after`: failures before delays begin; 0 disables the throttle. */
  constructor (private readonly db: PgDb, private readonly after: number) {}

  get enabled (): boolean { return this.after > 0 }

  /**
   * Seconds to wait before this name may try again, or 0: the attempt is admitted and counts as in flight
   * until `failure`, `success` or `release`. The admission is one INSERT … ON CONFLICT DO UPDATE … WHERE:
   * PostgreSQL locks the name's row and evaluates the condition on its newest version, so of N racing
   * attempts on any number of instances exactly as many pass as LoginThrottle would let pass in one process.
   *
   * One counter stands for the in-flight attempts: they stop counting together, IN_FLIGHT_TTL after the
   * newest admission (the in-memory throttle expires each one on its own).
   */
  async retryAfter (login: string, now = Date.now()): Promise<number> {
    if (!this.enabled) return 0
    const key = keyOf(login)
    const at = new Date(now)
    const staleBefore = new Date(now - IN_FLIGHT_TTL_MS)
    const admitted = await this.db.execute(sql`
      INSERT INTO login_throttle AS t (key, failures, blocked_until, in_flight, in_flight_since, updated_at)
      VALUES (${key}, 0, NULL, 1, ${at}, ${at})
      ON CONFLICT (key) DO UPDATE SET
        in_flight = CASE WHEN t.in_flight_since IS NULL OR t.in_flight_since <= ${staleBefore} THEN 1 ELSE t.in_flight + 1 END,
        in_flight_since = ${at},
        updated_at = ${at}
      WHERE (t.blocked_until IS NULL OR t.blocked_until <= ${at})
        AND CASE WHEN t.in_flight_since IS NULL OR t.in_flight_since <= ${staleBefore} THEN 0 ELSE t.in_flight END
          < CASE WHEN t.failures < ${this.after} THEN ${this.after} - t.failures ELSE 1 END
      RETURNING 1 AS admitted`)
    if (admitted.rows.length > 0) return 0
    // Refused: only the wait remains to be told, which a stale read cannot make too short to matter.
    const row = await this.db.execute<{ blocked_until: Date | string | null }>(sql`SELECT blocked_until FROM login_throttle WHERE key = ${key}`)
    const blocked = row.rows[0]?.blocked_until
    const until = blocked === null || blocked === undefined ? 0 : new Date(blocked).getTime()
    return until > now ? Math.ceil((until - now) / 1000) : Math.ceil(BASE_DELAY_MS / 1000)
  }

  /** Count a failure; true when it (re)starts a delay — the throttle engaging, worth an audit event. */
  async failure (login: string, now = Date.now()): Promise<boolean> {
    if (!this.enabled) return false
    const at = new Date(now)
    // The delay for a failure count f at or past the threshold: BASE · 2^min(f − after, 20), capped.
    const delay = (failures: ReturnType<typeof sql>) =>
      sql`(interval '1 millisecond' * LEAST(${BASE_DELAY_MS}::float8 * power(2, LEAST(${failures} - ${this.after}, 20)), ${MAX_DELAY_MS}::float8))`
    const result = await this.db.execute<{ failures: number }>(sql`
      INSERT INTO login_throttle AS t (key, failures, blocked_until, in_flight, in_flight_since, updated_at)
      VALUES (${keyOf(login)}, 1, CASE WHEN 1 >= ${this.after} THEN ${at}::timestamptz + ${delay(sql`1`)} END, 0, NULL, ${at})
      ON CONFLICT (key) DO UPDATE SET
        failures = t.failures + 1,
        in_flight = GREATEST(t.in_flight - 1, 0),
        blocked_until = CASE WHEN t.failures + 1 >= ${this.after}
          THEN GREATEST(t.blocked_until, ${at}::timestamptz + ${delay(sql`(t.failures + 1)`)})
          ELSE t.blocked_until END,
        updated_at = ${at}
      RETURNING failures`)
    return result.rows[0].failures >= this.after
  }

  async success (login: string): Promise<void> {
    if (this.enabled) await this.db.execute(sql`DELETE FROM login_throttle WHERE key = ${keyOf(login)}`)
  }

  /** An admitted attempt ended without a verdict (an error came first): it stops counting as in flight. */
  async release (login: string): Promise<void> {
    if (!this.enabled) return
    await this.db.execute(sql`UPDATE login_throttle SET in_flight = GREATEST(in_flight - 1, 0) WHERE key = ${keyOf(login)} AND in_flight > 0`)
  }

  /**
   * Drop the counters of names untouched for `afterMs` and not blocked any more (a spray of random names
   * must not grow the table without bound). Returns how many rows went.
   */
  async purge (now = Date.now(), afterMs = DEFAULT_PURGE_AFTER_MS): Promise<number> {
    const at = new Date(now)
    const result = await this.db.execute(sql`
      DELETE FROM login_throttle
      WHERE updated_at < ${new Date(now - afterMs)} AND (blocked_until IS NULL OR blocked_until <= ${at})`)
    return result.rowCount ?? 0
  }
}

/** A throttle whose keys carry a prefix: the three throttles share the one login_throttle table. */
function prefixed (throttle: PgLoginThrottle, prefix: string): Throttle {
  return {
    get enabled () { return throttle.enabled },
    retryAfter: async (key) => await throttle.retryAfter(prefix + key),
    failure: async (key) => await throttle.failure(prefix + key),
    success: async (key) => { await throttle.success(prefix + key) },
    release: async (key) => { await throttle.release(prefix + key) }
  }
}

/** The fleet-wide versions of createLoginThrottles' three throttles, counting in PostgreSQL. */
export function createSharedLoginThrottles (db: PgDb, after: number): LoginThrottles & { purge: () => Promise<number> } {
  const throttle = new PgLoginThrottle(db, after)
  return {
    byName: prefixed(throttle, 'name:'),
    byAccount: prefixed(throttle, 'account:'),
    passwordCheck: prefixed(throttle, 'check:'),
    purge: async () => await throttle.purge()
  }
}
