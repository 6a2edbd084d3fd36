// Ending sessions as part of a change (logout, password change, disabling a user, TOTP enrolment): the
// sessions end and each gets its `session.ended` event, in the caller's transaction.
import type { SessionSelector, Store } from '../store/index.js'
import type { AuditContext, AuditService } from './audit.js'

export type EndReason = 'logout' | 'logout_all' | 'revoked' | 'refresh_token_reuse' | 'deleted' | 'password_changed' | 'password_reset' | 'user_disabled' | 'totp_enabled'

/** End the active sessions `which` selects inside `tx`, one `session.ended` event each; returns how many. */
export async function endSessions (tx: Store, audit: AuditService, which: SessionSelector, reason: EndReason,
  ctx: AuditContext = {}, now = new Date()): Promise<number> {
  const ended = await tx.endSessions(which, reason, now)
  for (const s of ended) {
    await audit.record({ type: 'session.ended', userId: s.userId, sessionId: s.id, ...ctx, detail: { reason } }, now, tx)
  }
  return ended.length
}
