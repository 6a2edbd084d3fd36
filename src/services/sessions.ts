// Sessions (one per password login) and their refresh-token family: rotation, reuse detection, ending.
import { createHash, randomBytes } from 'node:crypto'
import { and, asc, eq, gt, isNull, lte, or, sql } from 'drizzle-orm'
import type { Db } from '../db/open.js'
import { refreshTokens, sessions, users, type SessionRow, type UserRow } from '../db/schema.js'

export type EndReason = 'logout' | 'logout_all' | 'revoked' | 'refresh_token_reuse' | 'deleted' | 'password_changed' | 'user_disabled'

/** 256 random bits, URL-safe. Only its SHA-256 is stored: a database leak yields no usable token. */
export const newRefreshToken = (): string => randomBytes(32).toString('base64url')
export const hashRefreshToken = (token: string): string => createHash('sha256').update(token).digest('base64url')

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

export function createSessionsService (db: Db, options: SessionOptions) {
  const ttlMs = options.refreshTtl * 1000
  const graceMs = options.reuseGrace * 1000

  // The hot path of every authenticated request: the user and the token's session in one indexed query.
  const activeSessionUser = db.select({ user: users }).from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(
      eq(sessions.id, sql.placeholder('sessionId')),
      eq(sessions.userId, sql.placeholder('userId')),
      isNull(sessions.endedAt),
      gt(sessions.expiresAt, sql.placeholder('now')),
      eq(users.disabled, false)
    ))
    .prepare()

  const tokenByHash = db.select({ token: refreshTokens, session: sessions, user: users }).from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(refreshTokens.tokenHash, sql.placeholder('hash')))
    .prepare()

  function issueToken (tx: Pick<Db, 'insert'>, sessionId: number, now: Date): string {
    const token = newRefreshToken()
    tx.insert(refreshTokens).values({ sessionId, tokenHash: hashRefreshToken(token), createdAt: now }).run()
    return token
  }

  function end (where: ReturnType<typeof and>, reason: EndReason, now = new Date()): number {
    return db.update(sessions).set({ endedAt: now, endReason: reason })
      .where(and(isNull(sessions.endedAt), where)).run().changes
  }

  return {
    /** The user behind an access token, or undefined when the user or the session is no longer valid. */
    findActiveUser (userId: number, sessionId: number, now = Date.now()): UserRow | undefined {
      return activeSessionUser.get({ userId, sessionId, now })?.user
    },

    /** Start a session for a successful password grant; returns its first refresh token. */
    create (userId: number, meta: { userAgent?: string, ip?: string }, now = new Date()): { sessionId: number, refreshToken: string } {
      return db.transaction((tx) => {
        const session = tx.insert(sessions).values({
          userId,
          createdAt: now,
          lastUsedAt: now,
          expiresAt: new Date(now.getTime() + ttlMs),
          userAgent: meta.userAgent?.slice(0, 512) ?? null,
          ip: meta.ip ?? null
        }).returning({ id: sessions.id }).get()
        return { sessionId: session.id, refreshToken: issueToken(tx, session.id, now) }
      })
    },

    /**
     * Exchange a refresh token for a new one. Runs as one synchronous SQLite transaction, so concurrent
     * refreshes of one token are serialised: the first rotates, later ones within the grace period are
     * "two tabs" and get a sibling token, any other reuse ends the session.
     */
    refresh (token: string, now = new Date()): RefreshOutcome {
      return db.transaction((tx): RefreshOutcome => {
        const row = tokenByHash.get({ hash: hashRefreshToken(token) })
        if (row === undefined) return { ok: false, reason: 'invalid' }
        const { token: stored, session, user } = row
        const t = now.getTime()
        if (session.endedAt !== null || session.expiresAt.getTime() <= t || user.disabled ||
            stored.createdAt.getTime() + ttlMs <= t) {
          return { ok: false, reason: 'invalid' }
        }
        if (stored.rotatedAt !== null) {
          const concurrent = session.lastRotatedTokenId === stored.id && t - stored.rotatedAt.getTime() <= graceMs
          if (!concurrent) {
            tx.update(sessions).set({ endedAt: now, endReason: 'refresh_token_reuse' }).where(eq(sessions.id, session.id)).run()
            return { ok: false, reason: 'reused' }
          }
        } else {
          tx.update(refreshTokens).set({ rotatedAt: now }).where(eq(refreshTokens.id, stored.id)).run()
        }
        tx.update(sessions).set({ lastRotatedTokenId: stored.id, lastUsedAt: now, expiresAt: new Date(t + ttlMs) })
          .where(eq(sessions.id, session.id)).run()
        return { ok: true, user, sessionId: session.id, refreshToken: issueToken(tx, session.id, now) }
      }, { behavior: 'immediate' })
    },

    /** The session a refresh token belongs to, whatever its state (for logout and revocation). */
    sessionOfToken (token: string): SessionRow | undefined {
      return tokenByHash.get({ hash: hashRefreshToken(token) })?.session
    },

    end: (sessionId: number, reason: EndReason): boolean => end(eq(sessions.id, sessionId), reason) > 0,

    endForUser: (userId: number, sessionId: number, reason: EndReason): boolean =>
      end(and(eq(sessions.id, sessionId), eq(sessions.userId, userId)), reason) > 0,

    endAll: (userId: number, reason: EndReason): number => end(eq(sessions.userId, userId), reason),

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
