// Sessions and their refresh tokens: the rows behind a login, the state a refresh decides on, ending.
import { and, asc, eq, gt, isNull, lte, ne, or, sql } from 'drizzle-orm'
import type { SessionRow, UserRow } from '../db/schema.js'
import { affected, first, type Ctx } from './context.js'

/** What a refresh decides on: the presented token, its session, the session's user. */
export interface RefreshState {
  token: { id: number, createdAt: Date, rotatedAt: Date | null }
  session: { id: number, endedAt: Date | null, expiresAt: Date, lastRotatedTokenId: number | null }
  user: UserRow
}

export interface NewSession {
  userId: number
  now: Date
  expiresAt: Date
  userAgent: string | null
  ip: string | null
}

/** Which active sessions to end: one (optionally only if it is the user's), all of a user's, all but one. */
export interface SessionSelector { userId?: number, sessionId?: number, exceptSessionId?: number }

export function sessionQueries ({ db, t }: Ctx) {
  const { users, sessions, refreshTokens } = t
  return {
    /** The user behind an access token: the session is live and the user enabled. */
    activeSessionUser: async (userId: number, sessionId: number, now: Date): Promise<UserRow | undefined> =>
      first(await db.select({ user: users }).from(sessions).innerJoin(users, eq(users.id, sessions.userId))
        .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId), isNull(sessions.endedAt),
          gt(sessions.expiresAt, now), eq(users.disabled, false))).limit(1))?.user,

    insertSession: async (s: NewSession): Promise<number> =>
      (await db.insert(sessions).values({
        userId: s.userId, createdAt: s.now, lastUsedAt: s.now, expiresAt: s.expiresAt, userAgent: s.userAgent, ip: s.ip
      }).returning({ id: sessions.id }))[0].id,

    insertRefreshToken: async (sessionId: number, tokenHash: string, now: Date): Promise<void> => {
      await db.insert(refreshTokens).values({ sessionId, tokenHash, createdAt: now })
    },

    /** The session id of a refresh token hash, whatever its state. */
    sessionIdOfToken: async (tokenHash: string): Promise<number | undefined> =>
      first(await db.select({ id: refreshTokens.sessionId }).from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash)).limit(1))?.id,

    refreshState: async (tokenHash: string): Promise<RefreshState | undefined> =>
      first(await db.select({
        token: { id: refreshTokens.id, createdAt: refreshTokens.createdAt, rotatedAt: refreshTokens.rotatedAt },
        session: { id: sessions.id, endedAt: sessions.endedAt, expiresAt: sessions.expiresAt, lastRotatedTokenId: sessions.lastRotatedTokenId },
        user: users
      }).from(refreshTokens)
        .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(eq(refreshTokens.tokenHash, tokenHash)).limit(1)),

    /** Mark a token exchanged; false when another request did first. */
    markRotated: async (tokenId: number, now: Date): Promise<boolean> =>
      affected(await db.update(refreshTokens).set({ rotatedAt: now })
        .where(and(eq(refreshTokens.id, tokenId), isNull(refreshTokens.rotatedAt)))) === 1,

    /** After a rotation: the token that was exchanged, the session's use and its new expiry. */
    touchSession: async (sessionId: number, rotatedTokenId: number, now: Date, expiresAt: Date): Promise<void> => {
      await db.update(sessions).set({ lastRotatedTokenId: rotatedTokenId, lastUsedAt: now, expiresAt }).where(eq(sessions.id, sessionId))
    },

    sessionOfTokenHash: async (tokenHash: string): Promise<SessionRow | undefined> =>
      first(await db.select({ session: sessions }).from(refreshTokens).innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
        .where(eq(refreshTokens.tokenHash, tokenHash)).limit(1))?.session,

    /** End the active sessions selected; returns the ended ones (for their `session.ended` events). */
    endSessions: async (which: SessionSelector, reason: string, now: Date): Promise<Array<{ id: number, userId: number }>> => {
      const filters = [isNull(sessions.endedAt)]
      if (which.userId !== undefined) filters.push(eq(sessions.userId, which.userId))
      if (which.sessionId !== undefined) filters.push(eq(sessions.id, which.sessionId))
      if (which.exceptSessionId !== undefined) filters.push(ne(sessions.id, which.exceptSessionId))
      return await db.update(sessions).set({ endedAt: now, endReason: reason }).where(and(...filters))
        .returning({ id: sessions.id, userId: sessions.userId })
    },

    /** A user's live sessions, oldest first. */
    activeSessions: async (userId: number, now: Date): Promise<SessionRow[]> =>
      await db.select().from(sessions)
        .where(and(eq(sessions.userId, userId), isNull(sessions.endedAt), gt(sessions.expiresAt, now)))
        .orderBy(asc(sessions.id)),

    /** Delete ended and expired sessions (their refresh tokens cascade). */
    purgeSessions: async (now: Date): Promise<number> =>
      affected(await db.delete(sessions).where(or(lte(sessions.expiresAt, now), sql`${sessions.endedAt} IS NOT NULL`)))
  }
}
