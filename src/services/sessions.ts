// Sessions (one per password login) and their refresh-token family: rotation, reuse detection, ending.
import { and, asc, eq, gt, isNull, lte, or, sql, type SQL } from 'drizzle-orm'
import type Database from 'better-sqlite3'
import type { Db } from '../db/open.js'
import { refreshTokens, sessions, users, type SessionRow, type UserRow } from '../db/schema.js'
import { createAuditService, type AuditContext, type AuditService } from './audit.js'
import { hashSecretToken, newSecretToken } from './secret-tokens.js'

export type EndReason = 'logout' | 'logout_all' | 'revoked' | 'refresh_token_reuse' | 'deleted' | 'password_changed' | 'password_reset' | 'user_disabled' | 'totp_enabled'

export interface SessionOptions {
  refreshTtl: number // seconds
  reuseGrace: number // seconds
}

export type RefreshOutcome =
  | { ok: true, user: UserRow, sessionId: number, refreshToken: string }
  | { ok: false, reason: 'invalid' | 'reused' }

export interface SessionView {
  id: number
  created_at: string
  last_used_at: string
  user_agent: string | null
  ip: string | null
  current: boolean
}

export function createSessionsService (db: Db, options: SessionOptions, audit: AuditService = createAuditService(db)) {
  const ttlMs = options.refreshTtl * 1000
  const graceMs = options.reuseGrace * 1000

  // The hot paths (every authenticated request, every refresh) use raw better-sqlite3 statements prepared
  // once for the life of the process and read in array mode: no per-call SQL building or statement
  // preparation, and no generic row mapping. Columns map exactly as Drizzle maps them (timestamp_ms → Date,
  // boolean → `Number(v) === 1`); see userFrom.
  const sqlite = (db as Db & { $client: Database.Database }).$client
  const USER_COLUMNS = 'u.id, u.username, u.email, u.password_hash, u.role, u.disabled, u.created_at, u.email_verified, u.totp_enabled'

  // The user and the token's session in one indexed query (both primary-key lookups).
  const activeSessionUser = sqlite.prepare(
    `SELECT ${USER_COLUMNS} FROM sessions s INNER JOIN users u ON u.id = s.user_id ` +
    'WHERE s.id = ? AND s.user_id = ? AND s.ended_at IS NULL AND s.expires_at > ? AND u.disabled = 0'
  ).raw(true)

  // A refresh token with its session and user: [token id, created_at, rotated_at,
  // session id, ended_at, expires_at, last_rotated_token_id, ...user columns].
  const tokenWithSession = sqlite.prepare(
    'SELECT t.id, t.created_at, t.rotated_at, s.id, s.ended_at, s.expires_at, s.last_rotated_token_id, ' +
    `${USER_COLUMNS} FROM refresh_tokens t INNER JOIN sessions s ON s.id = t.session_id ` +
    'INNER JOIN users u ON u.id = s.user_id WHERE t.token_hash = ?'
  ).raw(true)
  const insertToken = sqlite.prepare('INSERT INTO refresh_tokens (session_id, token_hash, created_at) VALUES (?, ?, ?)')
  const markRotated = sqlite.prepare('UPDATE refresh_tokens SET rotated_at = ? WHERE id = ?')
  const endForReuse = sqlite.prepare('UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ?')
  const touchSession = sqlite.prepare('UPDATE sessions SET last_rotated_token_id = ?, last_used_at = ?, expires_at = ? WHERE id = ?')
  const insertSession = sqlite.prepare(
    'INSERT INTO sessions (user_id, created_at, last_used_at, expires_at, user_agent, ip) VALUES (?, ?, ?, ?, ?, ?)'
  )

  /** A users row read in array mode from USER_COLUMNS starting at `at`, shaped as Drizzle returns it. */
  const userFrom = (row: unknown[], at: number): UserRow => ({
    id: row[at] as number,
    username: row[at + 1] as string,
    email: row[at + 2] as string,
    passwordHash: row[at + 3] as string,
    role: row[at + 4] as UserRow['role'],
    disabled: Number(row[at + 5]) === 1,
    createdAt: new Date(row[at + 6] as number),
    emailVerified: Number(row[at + 7]) === 1,
    totpEnabled: Number(row[at + 8]) === 1
  })

  const tokenByHash = db.select({ token: refreshTokens, session: sessions, user: users }).from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(refreshTokens.tokenHash, sql.placeholder('hash')))
    .prepare()

  function issueToken (sessionId: number, now: number): string {
    const token = newSecretToken()
    insertToken.run(sessionId, hashSecretToken(token), now)
    return token
  }

  const createSession = sqlite.transaction((userId: number, meta: AuditContext, now: number) => {
    const sessionId = Number(insertSession.run(
      userId, now, now, now + ttlMs, meta.userAgent?.slice(0, 512) ?? null, meta.ip ?? null
    ).lastInsertRowid)
    audit.record({ type: 'login.succeeded', userId, sessionId, ip: meta.ip, userAgent: meta.userAgent }, now)
    return { sessionId, refreshToken: issueToken(sessionId, now) }
  })

  const rotate = sqlite.transaction((token: string, meta: AuditContext, now: Date): RefreshOutcome => {
    const row = tokenWithSession.get(hashSecretToken(token)) as unknown[] | undefined
    if (row === undefined) return { ok: false, reason: 'invalid' }
    const [storedId, storedCreatedAt, storedRotatedAt, sessionId, sessionEndedAt, sessionExpiresAt, lastRotatedTokenId] =
      row as [number, number, number | null, number, number | null, number, number | null]
    const t = now.getTime()
    if (sessionEndedAt !== null || sessionExpiresAt <= t || Number(row[12]) === 1 ||
        storedCreatedAt + ttlMs <= t) {
      return { ok: false, reason: 'invalid' }
    }
    if (storedRotatedAt !== null) {
      const concurrent = lastRotatedTokenId === storedId && t - storedRotatedAt <= graceMs
      if (!concurrent) {
        endForReuse.run(t, 'refresh_token_reuse', sessionId)
        // The server acts here, not the user: whoever presented the token may be the thief.
        const event = { userId: row[7] as number, sessionId, actorId: null, ip: meta.ip, userAgent: meta.userAgent }
        audit.record({ ...event, type: 'token.reuse_detected' }, t)
        audit.record({ ...event, type: 'session.ended', detail: { reason: 'refresh_token_reuse' } }, t)
        return { ok: false, reason: 'reused' }
      }
    } else {
      markRotated.run(t, storedId)
    }
    touchSession.run(storedId, t, t + ttlMs, sessionId)
    return { ok: true, user: userFrom(row, 7), sessionId, refreshToken: issueToken(sessionId, t) }
  })

  /** End the active sessions matching `where`, one `session.ended` event each, in one transaction. */
  const end = (where: ReturnType<typeof and>, reason: EndReason, ctx: AuditContext = {}, now = new Date()): number =>
    db.transaction((tx) => endSessions(tx, audit, where, reason, ctx, now))

  return {
    /** The user behind an access token, or undefined when the user or the session is no longer valid. */
    findActiveUser (userId: number, sessionId: number, now = Date.now()): UserRow | undefined {
      const row = activeSessionUser.get(sessionId, userId, now) as unknown[] | undefined
      return row === undefined ? undefined : userFrom(row, 0)
    },

    /** Start a session for a successful password grant; returns its first refresh token. */
    create (userId: number, meta: AuditContext, now = new Date()): { sessionId: number, refreshToken: string } {
      return createSession(userId, meta, now.getTime())
    },

    /**
     * Exchange a refresh token for a new one. Runs as one synchronous SQLite transaction, so concurrent
     * refreshes of one token are serialised: the first rotates, later ones within the grace period are
     * "two tabs" and get a sibling token, any other reuse ends the session.
     */
    refresh (token: string, meta: AuditContext = {}, now = new Date()): RefreshOutcome {
      return rotate.immediate(token, meta, now)
    },

    /** The session a refresh token belongs to, whatever its state (for logout and revocation). */
    sessionOfToken (token: string): SessionRow | undefined {
      return tokenByHash.get({ hash: hashSecretToken(token) })?.session
    },

    end: (sessionId: number, reason: EndReason, ctx?: AuditContext): boolean => end(eq(sessions.id, sessionId), reason, ctx) > 0,

    endForUser: (userId: number, sessionId: number, reason: EndReason, ctx?: AuditContext): boolean =>
      end(and(eq(sessions.id, sessionId), eq(sessions.userId, userId)), reason, ctx) > 0,

    endAll: (userId: number, reason: EndReason, ctx?: AuditContext): number => end(eq(sessions.userId, userId), reason, ctx),

    /** Active sessions of a user, oldest first. */
    listActive (userId: number, currentSessionId: number, now = new Date()): SessionView[] {
      return db.select().from(sessions)
        .where(and(eq(sessions.userId, userId), isNull(sessions.endedAt), gt(sessions.expiresAt, now)))
        .orderBy(asc(sessions.id)).all()
        .map((s) => ({
          id: s.id,
          created_at: s.createdAt.toISOString(),
          last_used_at: s.lastUsedAt.toISOString(),
          user_agent: s.userAgent,
          ip: s.ip,
          current: s.id === currentSessionId
        }))
    },

    /** Delete ended and expired sessions (their refresh tokens cascade), keeping the table proportional to live ones. */
    purge (now = new Date()): number {
      return db.delete(sessions).where(or(lte(sessions.expiresAt, now), sql`${sessions.endedAt} IS NOT NULL`)).run().changes
    }
  }
}

export type SessionsService = ReturnType<typeof createSessionsService>

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

/**
 * Inside a transaction: end the active sessions matching `where` and record `session.ended` (with the
 * reason) for each. Shared with the users service, which ends sessions as part of its own changes.
 */
export function endSessions (tx: Tx | Db, audit: AuditService, where: SQL | undefined, reason: EndReason, ctx: AuditContext, now = new Date()): number {
  const ended = tx.update(sessions).set({ endedAt: now, endReason: reason })
    .where(and(isNull(sessions.endedAt), where)).returning({ id: sessions.id, userId: sessions.userId }).all()
  for (const s of ended) {
    audit.record({ type: 'session.ended', userId: s.userId, sessionId: s.id, ...ctx, detail: { reason } }, now)
  }
  return ended.length
}
