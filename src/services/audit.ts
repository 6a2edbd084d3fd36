// The audit trail: `record`, which writes inside the caller's transaction, newest-first
// pages of events, retention, and the warn log line for the events a human should look at.
import type { AuditEventRow } from '../db/schema.js'
import type { NewAuditEvent, Store } from '../store/index.js'
import { decodeCursor, pageOf, type Page } from './pages.js'

/** Every event type of the contract (API.md "Audit log"), in the order it lists them. */
export const AUDIT_EVENT_TYPES = [
  'user.registered',
  'login.succeeded',
  'login.failed',
  'login.throttled',
  'token.reuse_detected',
  'session.ended',
  'password.changed',
  'password.reset_requested',
  'password.reset',
  'email.verification_sent',
  'email.verified',
  'totp.enabled',
  'totp.disabled',
  'user.updated',
  'user.deleted',
  'keys.rotated'
] as const

export type AuditEventType = typeof AUDIT_EVENT_TYPES[number]

/**
 * Who caused a change and from where, passed from the route (request.auditContext) into the services.
 * `actorId` undefined means "the user the event is about, acting on their own account"; `null` means
 * no account acted (the CLI, the server itself).
 */
export interface AuditContext {
  ip?: string | null
  userAgent?: string | null
  actorId?: number | null
}

export interface AuditEvent extends AuditContext {
  type: AuditEventType
  userId?: number | null
  sessionId?: number | null
  detail?: Record<string, unknown>
}

export interface AuditEventView {
  id: number
  at: string
  type: AuditEventType
  user_id: number | null
  actor_id: number | null
  session_id: number | null
  ip: string | null
  user_agent: string | null
  detail: Record<string, unknown>
}

export interface AuditFilter { userId?: number, type?: AuditEventType, limit: number, cursor?: string }

/** What the audit service needs of a logger (pino's signature). */
export interface WarnLogger { warn (obj: object, msg: string): void }

// A detail key that names a credential is a bug in the caller: the event (and with it the change, since
// both share a transaction) is refused rather than stored. Values are the caller's to keep clean; keys
// are what a careless `detail: { ...body }` would leak.
const SECRET_KEY = /(^|_)(passwords?|(access|refresh|reset|verify)?_?tokens?|secrets?|codes?|hash(es)?|otp|totp_code)($|_)/i

function assertNoSecrets (detail: Record<string, unknown>, path = 'detail'): void {
  for (const [key, value] of Object.entries(detail)) {
    if (SECRET_KEY.test(key)) throw new TypeError(`audit event ${path}.${key}: credentials are never recorded`)
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) assertNoSecrets(value as Record<string, unknown>, `${path}.${key}`)
  }
}

const MAX_USER_AGENT = 512

/** The sentence of the warn log line for events a human should look at, or undefined for the others. */
export function securityAlert (event: AuditEvent): string | undefined {
  switch (event.type) {
    case 'token.reuse_detected': return 'Refresh token reuse detected: the session was revoked (possible token theft)'
    case 'login.throttled': return 'Login throttle engaged for an account name after repeated failures'
    case 'user.updated': {
      const d = event.detail ?? {}
      const role = d.role as { from?: string, to?: string } | undefined
      const disabled = d.disabled as { to?: boolean } | undefined
      if (role?.from === 'admin' && role.to !== 'admin') return 'An admin was demoted'
      if (d.target_was_admin === true && disabled?.to === true) return 'An admin was disabled'
      return undefined
    }
    default: return undefined
  }
}

const toView = (row: AuditEventRow): AuditEventView => ({
  id: row.id,
  at: row.at.toISOString(),
  type: row.type as AuditEventType,
  user_id: row.userId,
  actor_id: row.actorId,
  session_id: row.sessionId,
  ip: row.ip,
  user_agent: row.userAgent,
  detail: JSON.parse(row.detail) as Record<string, unknown>
})

export function createAuditService (store: Store, log?: WarnLogger) {
  /** The row of an event: checked for credentials, the actor defaulted, the user agent capped. */
  function row (event: AuditEvent, now: Date | number = Date.now()): NewAuditEvent {
    const detail = event.detail ?? {}
    assertNoSecrets(detail)
    const userId = event.userId ?? null
    return {
      at: typeof now === 'number' ? new Date(now) : now,
      type: event.type,
      userId,
      actorId: event.actorId === undefined ? userId : event.actorId,
      sessionId: event.sessionId ?? null,
      ip: event.ip ?? null,
      userAgent: event.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
      detail: JSON.stringify(detail)
    }
  }

  /** The warn log line of an event a human should look at (see securityAlert), once it is stored as `id`. */
  function alert (event: AuditEvent, id: number): void {
    const sentence = log === undefined ? undefined : securityAlert(event)
    if (sentence === undefined) return
    const r = row(event)
    log!.warn({ audit: { id, type: event.type, user_id: r.userId, actor_id: r.actorId, session_id: r.sessionId, ip: r.ip } }, sentence)
  }

  return {
    row,
    alert,

    /**
     * Write one event through `tx` — the transaction of the change it records (the root store for an event
     * that records no change, such as a failed login). Returns the event id.
     */
    async record (event: AuditEvent, now: Date | number = Date.now(), tx: Store = store): Promise<number> {
      const id = await tx.insertAuditEvent(row(event, now))
      alert(event, id)
      return id
    },

    /** Events newest first (keyset on id, descending), optionally one user's or one type's. */
    async list ({ userId, type, limit, cursor }: AuditFilter): Promise<Page<AuditEventView>> {
      const rows = await store.listAuditEvents({ before: decodeCursor(cursor), userId, type, limit: limit + 1 })
      const page = pageOf(rows, limit)
      return { items: page.items.map(toView), next_cursor: page.next_cursor }
    },

    /** Delete events older than `retentionDays` days (0: every event up to now). Returns how many. */
    purge: async (retentionDays: number, now = Date.now()): Promise<number> =>
      await store.purgeAuditEvents(new Date(now - retentionDays * 86_400_000))
  }
}

export type AuditService = ReturnType<typeof createAuditService>
