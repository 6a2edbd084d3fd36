// Sessions (one per password login) and their refresh-token family: the refresh rule, rotation, reuse detection, ending, purging.
import type { SessionRow, UserRow } from '../db/schema.js'
import type { SessionView } from '../schemas/sessions.js'
import type { RefreshState, RefreshVerdict, SessionSelector, Store } from '../store/index.js'
import type { AuditContext, AuditEvent, AuditService } from './audit.js'
import { endSessions, type EndReason } from './end-sessions.js'
import { hashSecretToken, newSecretToken } from './secret-tokens.js'

export type { EndReason } from './end-sessions.js'

export interface SessionOptions {
  refreshTtl: number // seconds
  reuseGrace: number // seconds
}

export type RefreshOutcome =
  | { ok: true, user: UserRow, sessionId: number, refreshToken: string }
  /** `reason` labels the refresh counter (latchkey_refreshes_total{outcome}): a reuse detection is its own outcome. */
  | { ok: false, reason: 'invalid' | 'reused' }

/**
 * The refresh rule. Invalid when the session ended or expired, the user is disabled or the token itself
 * expired; a token already exchanged is a second tab ('sibling') only if it is the session's last rotated
 * token and within the grace period, any other reuse is 'reuse'; a fresh token rotates.
 */
export function refreshVerdict (state: RefreshState, now: Date, ttlMs: number, graceMs: number): RefreshVerdict {
  const t = now.getTime()
  if (state.session.endedAt !== null || state.session.expiresAt.getTime() <= t || state.user.disabled ||
      state.token.createdAt.getTime() + ttlMs <= t) return 'invalid'
  if (state.token.rotatedAt === null) return 'rotate'
  const sibling = state.session.lastRotatedTokenId === state.token.id && t - state.token.rotatedAt.getTime() <= graceMs
  return sibling ? 'sibling' : 'reuse'
}

const MAX_USER_AGENT = 512

export function createSessionsService (store: Store, options: SessionOptions, audit: AuditService) {
  const ttlMs = options.refreshTtl * 1000
  const graceMs = options.reuseGrace * 1000

  /** End the selected active sessions, one `session.ended` event each, in one transaction. */
  const end = async (which: SessionSelector, reason: EndReason, ctx: AuditContext = {}, now = new Date()): Promise<number> =>
    await store.transaction(async (tx) => await endSessions(tx, audit, which, reason, ctx, now))

  return {
    /** The user behind an access token, or undefined when the user or the session is no longer valid. */
    // Every authenticated request: the store's promise is handed on as it is, no extra await.
    findActiveUser: (userId: number, sessionId: number, now = Date.now()): Promise<UserRow | undefined> =>
      store.activeSessionUser(userId, sessionId, new Date(now)),

    /** Start a session for a successful password grant (with its login.succeeded event); returns its first refresh token. */
    async create (userId: number, meta: AuditContext, now = new Date()): Promise<{ sessionId: number, refreshToken: string }> {
      const refreshToken = newSecretToken()
      const sessionId = await store.startSession({
        userId, now, expiresAt: new Date(now.getTime() + ttlMs), userAgent: meta.userAgent?.slice(0, MAX_USER_AGENT) ?? null, ip: meta.ip ?? null
      }, hashSecretToken(refreshToken), (id) => audit.row({ type: 'login.succeeded', userId, sessionId: id, ip: meta.ip, userAgent: meta.userAgent }, now))
      return { sessionId, refreshToken }
    },

    /**
     * Exchange a refresh token for a new one, atomically and serialised per session: the first use rotates,
     * later ones within the grace period are "two tabs" and get a sibling token, any other reuse ends the session.
     */
    async refresh (token: string, meta: AuditContext = {}, now = new Date()): Promise<RefreshOutcome> {
      const refreshToken = newSecretToken()
      let events: AuditEvent[] = []
      const result = await store.rotateRefreshToken(
        { tokenHash: hashSecretToken(token), newTokenHash: hashSecretToken(refreshToken), now, expiresAt: new Date(now.getTime() + ttlMs) },
        (state) => refreshVerdict(state, now, ttlMs, graceMs),
        (state) => {
          // The server acts here, not the user: whoever presented the token may be the thief.
          const event = { userId: state.user.id, sessionId: state.session.id, actorId: null, ip: meta.ip, userAgent: meta.userAgent }
          events = [{ ...event, type: 'token.reuse_detected' }, { ...event, type: 'session.ended', detail: { reason: 'refresh_token_reuse' } }]
          return events.map((e) => audit.row(e, now))
        })
      if (result.verdict === 'invalid') return { ok: false, reason: 'invalid' }
      if (result.verdict === 'reuse') {
        result.eventIds.forEach((id, i) => { audit.alert(events[i], id) })
        return { ok: false, reason: 'reused' }
      }
      return { ok: true, user: result.user, sessionId: result.state.session.id, refreshToken }
    },

    /** The session a refresh token belongs to, whatever its state (for logout and revocation). */
    sessionOfToken: async (token: string): Promise<SessionRow | undefined> => await store.sessionOfTokenHash(hashSecretToken(token)),

    end: async (sessionId: number, reason: EndReason, ctx?: AuditContext): Promise<boolean> => await end({ sessionId }, reason, ctx) > 0,

    endForUser: async (userId: number, sessionId: number, reason: EndReason, ctx?: AuditContext): Promise<boolean> =>
      await end({ userId, sessionId }, reason, ctx) > 0,

    endAll: async (userId: number, reason: EndReason, ctx?: AuditContext): Promise<number> => await end({ userId }, reason, ctx),

    /** Active sessions of a user, oldest first. */
    async listActive (userId: number, currentSessionId: number, now = new Date()): Promise<SessionView[]> {
      return (await store.activeSessions(userId, now)).map((s) => ({
        id: s.id,
        created_at: s.createdAt.toISOString(),
        last_used_at: s.lastUsedAt.toISOString(),
        user_agent: s.userAgent,
        ip: s.ip,
        current: s.id === currentSessionId
      }))
    },

    /** Delete ended and expired sessions (their refresh tokens cascade), keeping the table proportional to live ones. */
    purge: async (now = new Date()): Promise<number> => await store.purgeSessions(now)
  }
}

export type SessionsService = ReturnType<typeof createSessionsService>

/**
 * The housekeeping timer: `pass` (the purge of ended and expired sessions, with whatever else expires) every
 * `intervalSeconds`, never keeping the process alive; a failed pass goes to `onError`. Returns the stop function.
 */
export function schedulePurge (intervalSeconds: number, pass: () => Promise<unknown>, onError: (err: unknown) => void): () => void {
  const timer = setInterval(() => { pass().catch(onError) }, intervalSeconds * 1000)
  timer.unref()
  return () => { clearInterval(timer) }
}
