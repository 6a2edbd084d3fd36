// The storage seam: every persistence operation the services need, in domain terms, async, on either engine.
// `openStore(config)` picks the engine: PostgreSQL when DATABASE_URL is set, else the SQLite file.
//
// A Store is the query modules (src/store/users.ts, sessions.ts, tasks.ts, account-tokens.ts, totp.ts,
// audit.ts) bound to a connection, plus what each engine does its own way: transactions, the two hot
// write paths (starting a session, rotating a refresh token), readiness and closing.
import type { UserRow } from '../db/schema.js'
import type { NewAuditEvent } from './audit.js'
import type { Engine } from './context.js'
import type { NewSession, RefreshState } from './sessions.js'
import type { Queries } from './queries.js'

export type { NewAuditEvent } from './audit.js'
export type { NewSession, RefreshState, SessionSelector } from './sessions.js'
export type { NewUser, UserChanges } from './users.js'
export type { NewTask, TaskChanges } from './tasks.js'
export type { AccountTokenKind, NewAccountToken } from './account-tokens.js'
export type { TotpSecretRow } from './totp.js'

export { queries, type Queries } from './queries.js'

/**
 * What a refresh does with a presented token, decided by the sessions service's rule from the stored state:
 * refuse it, rotate it (first use), hand out a sibling (a second tab within the grace period), or treat it
 * as reuse (end the session).
 */
export type RefreshVerdict = 'invalid' | 'rotate' | 'sibling' | 'reuse'

export interface RefreshInput {
  tokenHash: string
  /** The hash of the token to issue if the verdict allows one. */
  newTokenHash: string
  now: Date
  /** The session's new expiry when a token is issued. */
  expiresAt: Date
}

export type RefreshResult =
  | { verdict: 'invalid' }
  | { verdict: 'reuse' | 'rotate' | 'sibling', state: RefreshState, user: UserRow, eventIds: number[] }

export interface ReadyResult { ok: boolean, code?: string }

export interface Store extends Queries {
  readonly engine: Engine
  /**
   * Run `fn` in one transaction and commit, or roll back if it throws. `fn` gets the store bound to the
   * transaction; calling `transaction` on that one runs inline (no nesting).
   */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>
  /** Insert a session, its first refresh token and the event `event(sessionId)`, atomically. */
  startSession(session: NewSession, tokenHash: string, event: (sessionId: number) => NewAuditEvent): Promise<number>
  /**
   * Refresh rotation, atomic and serialised per session: reads the token's state, asks `decide`, then
   * rotates (or issues a sibling) or, on reuse, ends the session and appends `onReuse(state)`'s events.
   */
  rotateRefreshToken(input: RefreshInput, decide: (state: RefreshState) => RefreshVerdict,
    onReuse: (state: RefreshState) => NewAuditEvent[]): Promise<RefreshResult>
  /** Can the database take a write right now (SQLite: a committed probe write; PostgreSQL: a round trip)? */
  ready(): Promise<ReadyResult>
  close(): Promise<void>
}

/**
 * The engine-neutral versions of the composite operations, on a transaction-bound store: PostgreSQL
 * uses them as they are; SQLite has synchronous prepared-statement twins (src/store/sqlite.ts).
 */
export const composite = {
  async startSession (tx: Store, session: NewSession, tokenHash: string, event: (sessionId: number) => NewAuditEvent): Promise<number> {
    const sessionId = await tx.insertSession(session)
    await tx.insertRefreshToken(sessionId, tokenHash, session.now)
    await tx.insertAuditEvent(event(sessionId))
    return sessionId
  },

  async rotateRefreshToken (tx: Store, lockSession: (id: number) => Promise<void>, input: RefreshInput,
    decide: (state: RefreshState) => RefreshVerdict, onReuse: (state: RefreshState) => NewAuditEvent[]): Promise<RefreshResult> {
    const sessionId = await tx.sessionIdOfToken(input.tokenHash)
    if (sessionId === undefined) return { verdict: 'invalid' }
    // Every refresh of one session queues here; the state is read again once the lock is held.
    await lockSession(sessionId)
    const state = await tx.refreshState(input.tokenHash)
    if (state === undefined) return { verdict: 'invalid' }
    const verdict = decide(state)
    if (verdict === 'invalid') return { verdict }
    if (verdict === 'reuse') {
      await tx.endSessions({ sessionId }, 'refresh_token_reuse', input.now)
      const eventIds: number[] = []
      for (const event of onReuse(state)) eventIds.push(await tx.insertAuditEvent(event))
      return { verdict, state, user: state.user, eventIds }
    }
    if (verdict === 'rotate' && !await tx.markRotated(state.token.id, input.now)) return { verdict: 'invalid' }
    await tx.touchSession(sessionId, state.token.id, input.now, input.expiresAt)
    await tx.insertRefreshToken(sessionId, input.newTokenHash, input.now)
    return { verdict, state, user: state.user, eventIds: [] }
  }
}

export { openStore } from './open.js'
