// Accounts: registration, password login, profile changes and the admin's user management.
import { and, asc, count, eq, gt, isNull, or, sql } from 'drizzle-orm'
import type { Db } from '../db/open.js'
import { sessions, tasks, users, type UserRow } from '../db/schema.js'
import { storageFault } from '../db/faults.js'
import { conflict, EmailNotVerified, isUniqueViolation, Problem, unprocessable } from '../errors.js'
import { createAuditService, type AuditContext, type AuditService } from './audit.js'
import { checkPasswordPolicy, isForeignHash, type PasswordHasher } from './passwords.js'
import { endSessions } from './sessions.js'

export type Role = 'user' | 'admin'

/** A transaction handle, as `db.transaction` passes it. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

export interface PublicUser {
  id: number
  username: string
  email: string
  role: Role
  disabled: boolean
  email_verified: boolean
  totp_enabled: boolean
  created_at: string
}

export const toPublicUser = (row: Pick<UserRow, 'id' | 'username' | 'email' | 'role' | 'disabled' | 'emailVerified' | 'totpEnabled' | 'createdAt'>): PublicUser => ({
  id: row.id,
  username: row.username,
  email: row.email,
  email_verified: row.emailVerified,
  role: row.role,
  disabled: row.disabled,
  totp_enabled: row.totpEnabled,
  created_at: row.createdAt.toISOString()
})

const TAKEN = 'Username or email already registered'
const lowerUsername = sql`lower(${users.username})`

export { decodeCursor, encodeCursor, pageOf, type Page } from './pages.js'
import { decodeCursor, pageOf, type Page } from './pages.js'

/** How long a login trusts its last look for imported hashes (`latchkey import` may run beside the server). */
const FOREIGN_LOOKUP_TTL_MS = 60_000

/** `q` matches as a literal substring: %, _ and the escape character itself are escaped. */
const likeLiteral = (q: string): string => `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`

export function createUsersService (db: Db, hasher: PasswordHasher, options: { requireVerifiedEmail?: boolean, audit?: AuditService, onAuditLost?: (err: unknown) => void } = {}) {
  const audit = options.audit ?? createAuditService(db)
  const byLogin = db.select().from(users)
    .where(or(eq(lowerUsername, sql.placeholder('login')), eq(users.email, sql.placeholder('login'))))
    .prepare()
  const byId = db.select().from(users).where(eq(users.id, sql.placeholder('id'))).prepare()
  const anyForeignHash = db.select({ hash: users.passwordHash }).from(users)
    .where(sql`${users.passwordHash} NOT LIKE '$argon2id$%'`).limit(1).prepare()
  let foreign: { hash: string | undefined, at: number } | undefined
  /** One imported hash still stored, if any: while there are some, logins pad themselves with it. */
  function foreignSample (now = Date.now()): string | undefined {
    if (foreign === undefined || now - foreign.at > FOREIGN_LOOKUP_TTL_MS) foreign = { hash: anyForeignHash.get()?.hash, at: now }
    return foreign.hash
  }

  function insertOrConflict<T> (write: () => T): T {
    try {
      return write()
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(TAKEN)
      throw err
    }
  }

  const activeAdmins = (): number =>
    db.select({ n: count() }).from(users).where(and(eq(users.role, 'admin'), eq(users.disabled, false))).get()?.n ?? 0

  /**
   * The one way a password is set: the policy check (422), the hash, then in one IMMEDIATE transaction
   * `check(tx)` (the caller's own conditions, which may throw to refuse, and may return more columns to
   * set), the new hash, the event, and every session of the user but `keepSessionId` ended with `reason`.
   */
  async function setPassword (user: UserRow, next: string, how: {
    event: 'password.changed' | 'password.reset'
    reason: 'password_changed' | 'password_reset'
    keepSessionId?: number
    check?: (tx: Tx, now: Date) => Partial<UserRow> | undefined
  }, ctx: AuditContext = {}): Promise<void> {
    const problems = checkPasswordPolicy(next, '/new_password', { username: user.username, email: user.email })
    if (problems.length > 0) throw unprocessable(problems)
    const passwordHash = await hasher.hash(next)
    const now = new Date()
    db.transaction((tx) => {
      const extra = how.check?.(tx, now) ?? {}
      tx.update(users).set({ ...extra, passwordHash }).where(eq(users.id, user.id)).run()
      audit.record({ type: how.event, userId: user.id, sessionId: how.keepSessionId ?? null, ...ctx }, now)
      const others = how.keepSessionId === undefined ? undefined : sql`${sessions.id} <> ${how.keepSessionId}`
      endSessions(tx, audit, and(eq(sessions.userId, user.id), others), how.reason, ctx, now)
    }, { behavior: 'immediate' })
  }

  return {
    findById: (id: number): UserRow | undefined => byId.get({ id }),

    findByLogin: (login: string): UserRow | undefined => byLogin.get({ login: login.toLowerCase() }),

    async register (input: { username: string, email: string, password: string, role?: Role, emailVerified?: boolean }, ctx: AuditContext = {}): Promise<UserRow> {
      const email = input.email.toLowerCase()
      const problems = checkPasswordPolicy(input.password, '/password', { username: input.username, email })
      if (problems.length > 0) throw unprocessable(problems)
      // Cheap pre-check so a taken name does not cost a hash; the unique indexes stay the real guard.
      if (byLogin.get({ login: input.username.toLowerCase() }) !== undefined || byLogin.get({ login: email }) !== undefined) {
        throw conflict(TAKEN)
      }
      const passwordHash = await hasher.hash(input.password)
      // .all(), never .get(), on a write: see eslint.config.js (a COMMIT failure is lost by get()).
      return insertOrConflict(() => db.transaction((tx) => {
        const [user] = tx.insert(users).values({
          username: input.username,
          email,
          passwordHash,
          role: input.role ?? 'user',
          emailVerified: input.emailVerified ?? false,
          createdAt: new Date()
        }).returning().all()
        audit.record({ type: 'user.registered', userId: user.id, ...ctx, detail: { role: user.role } }, user.createdAt)
        return user
      }))
    },

    /**
     * Check a login. The password is verified before the account's state is looked at, and an unknown
     * name costs a verify against a dummy hash, so neither answers nor timing reveal who exists.
     * While imported hashes remain (bcrypt, say, slower or faster than argon2id), every check runs one
     * argon2id verify and one verify against an imported hash side by side: the account's own, the other
     * one against the dummy or a sample. Unknown, imported and native accounts then cost the same.
     * With REQUIRE_VERIFIED_EMAIL, the right password for an unverified address throws EmailNotVerified.
     */
    async verifyLogin (login: string, password: string, ctx: AuditContext = {}): Promise<UserRow | undefined> {
      // The one who typed is not known to be the account's owner: no actor. An unknown name is not
      // recorded at all (it may be a password typed into the wrong field), only the address.
      const failed = (userId: number | null, reason: string): undefined => {
        try {
          audit.record({ type: 'login.failed', userId, ip: ctx.ip, userAgent: ctx.userAgent, actorId: null, detail: { reason } })
        } catch (err) {
          // A failed login changes nothing, so a database that cannot take the event (full, read-only)
          // must not turn a wrong password into a 503: the answer stays 401 and the loss is reported.
          if (storageFault(err) !== 'unavailable' || options.onAuditLost === undefined) throw err
          options.onAuditLost(err)
        }
        return undefined
      }
      const user = byLogin.get({ login: login.toLowerCase() })
      const ownIsForeign = user !== undefined && isForeignHash(user.passwordHash)
      // An imported hash pads with the dummy whatever the cached sample says: the cache may predate a
      // `latchkey import` run beside this server. It is stale then, so this hash becomes the sample.
      if (ownIsForeign && foreignSample() === undefined) foreign = { hash: user.passwordHash, at: Date.now() }
      const sample = ownIsForeign ? undefined : foreignSample()
      const [ok] = await Promise.all([
        user === undefined ? hasher.verifyDummy(password) : hasher.verify(user.passwordHash, password),
        ownIsForeign ? hasher.verifyDummy(password) : sample === undefined ? undefined : hasher.verify(sample, password)
      ])
      if (user === undefined) return failed(null, 'unknown_account')
      if (!ok) return failed(user.id, 'wrong_password')
      if (user.disabled) return failed(user.id, 'disabled')
      if (hasher.needsRehash(user.passwordHash)) {
        const passwordHash = await hasher.hash(password)
        // Only over the hash that was verified: a password changed meanwhile must not be reverted.
        db.update(users).set({ passwordHash })
          .where(and(eq(users.id, user.id), eq(users.passwordHash, user.passwordHash))).run()
      }
      // The row was read before argon2 ran: the account may have been disabled or deleted since.
      const current = byId.get({ id: user.id })
      if (current === undefined || current.disabled) return failed(user.id, current === undefined ? 'deleted' : 'disabled')
      if (options.requireVerifiedEmail === true && !current.emailVerified) {
        failed(user.id, 'email_unverified')
        throw new EmailNotVerified()
      }
      return current
    },

    async checkPassword (user: UserRow, password: string): Promise<boolean> {
      return await hasher.verify(user.passwordHash, password)
    },

    update (user: UserRow, changes: { username?: string, email?: string }, ctx: AuditContext = {}): UserRow {
      const set: Partial<UserRow> = {}
      if (changes.username !== undefined) set.username = changes.username
      // A new address is unverified until its owner opens the link mailed to it.
      if (changes.email !== undefined && changes.email.toLowerCase() !== user.email) {
        set.email = changes.email.toLowerCase()
        set.emailVerified = false
      }
      if (Object.keys(set).length === 0) return user
      return insertOrConflict(() => db.transaction((tx) => {
        const [updated] = tx.update(users).set(set).where(eq(users.id, user.id)).returning().all()
        if (updated === undefined) return user
        const detail = changed(user, updated, ['username', 'email'])
        if (Object.keys(detail).length > 0) audit.record({ type: 'user.updated', userId: user.id, ...ctx, detail })
        return updated
      }))
    },

    setPassword,

    /** Change the password and end every other session of the user, atomically. */
    async changePassword (user: UserRow, current: string, next: string, keepSessionId: number, ctx: AuditContext = {}): Promise<void> {
      if (!await hasher.verify(user.passwordHash, current)) throw new Problem(403, 'Current password is incorrect')
      await setPassword(user, next, {
        event: 'password.changed',
        reason: 'password_changed',
        keepSessionId,
        // The checks above awaited argon2: another request may have changed the password (and ended this
        // session) meanwhile. Writing anyway would let a stale check win and log out every session.
        check: (tx) => {
          const stored = tx.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, user.id)).get()
          if (stored?.passwordHash !== user.passwordHash) throw conflict('The password was changed by another request; sign in again')
          return undefined
        }
      }, ctx)
    },

    /** Delete a user; tasks, sessions and refresh tokens go with it (ON DELETE CASCADE). */
    remove (userId: number, ctx: AuditContext = {}): void {
      db.transaction((tx) => {
        const target = tx.select().from(users).where(eq(users.id, userId)).get()
        if (target === undefined) return
        if (target.role === 'admin' && !target.disabled && activeAdmins() <= 1) throw lastAdmin()
        const now = new Date()
        endSessions(tx, audit, eq(sessions.userId, userId), 'deleted', ctx, now)
        // The row goes; the event keeps who it was (audit_events has no foreign key, see src/db/schema.ts).
        audit.record({ type: 'user.deleted', userId, ...ctx, detail: { username: target.username, role: target.role } }, now)
        // Explicit deletes document intent; the foreign keys would cascade anyway.
        tx.delete(tasks).where(eq(tasks.userId, userId)).run()
        tx.delete(sessions).where(eq(sessions.userId, userId)).run()
        tx.delete(users).where(eq(users.id, userId)).run()
      }, { behavior: 'immediate' })
    },

    /** Admin changes; the last active admin can be neither demoted nor disabled. */
    adminUpdate (userId: number, changes: { role?: Role, disabled?: boolean, email_verified?: boolean }, ctx: AuditContext = {}): UserRow | undefined {
      return db.transaction((tx) => {
        const target = tx.select().from(users).where(eq(users.id, userId)).get()
        if (target === undefined) return undefined
        const staysActiveAdmin = (changes.role ?? target.role) === 'admin' && !(changes.disabled ?? target.disabled)
        if (target.role === 'admin' && !target.disabled && !staysActiveAdmin && activeAdmins() <= 1) throw lastAdmin()
        const set: Partial<UserRow> = {}
        if (changes.role !== undefined) set.role = changes.role
        if (changes.disabled !== undefined) set.disabled = changes.disabled
        if (changes.email_verified !== undefined) set.emailVerified = changes.email_verified
        if (Object.keys(set).length === 0) return target
        const [updated] = tx.update(users).set(set).where(eq(users.id, userId)).returning().all()
        const detail = changed(target, updated, ['role', 'disabled', 'emailVerified'])
        const now = new Date()
        if (Object.keys(detail).length > 0) {
          const targetWasAdmin = target.role === 'admin' && !target.disabled
          audit.record({ type: 'user.updated', userId, ...ctx, detail: { ...detail, target_was_admin: targetWasAdmin } }, now)
        }
        if (changes.disabled === true && !target.disabled) {
          endSessions(tx, audit, eq(sessions.userId, userId), 'user_disabled', ctx, now)
        }
        return updated
      }, { behavior: 'immediate' })
    },

    list ({ limit, cursor, q }: { limit: number, cursor?: string, q?: string }): Page<PublicUser> {
      const after = decodeCursor(cursor)
      const filters = [gt(users.id, after)]
      if (q !== undefined && q !== '') {
        const pattern = likeLiteral(q)
        filters.push(or(
          sql`lower(${users.username}) LIKE ${pattern} ESCAPE '\\'`,
          sql`${users.email} LIKE ${pattern} ESCAPE '\\'`
        )!)
      }
      const rows = db.select().from(users).where(and(...filters)).orderBy(asc(users.id)).limit(limit + 1).all()
      const page = pageOf(rows, limit)
      return { items: page.items.map(toPublicUser), next_cursor: page.next_cursor }
    },

    stats (now = new Date()): { users: number, admins: number, active_sessions: number } {
      const total = db.select({ n: count() }).from(users).get()?.n ?? 0
      const active = db.select({ n: count() }).from(sessions)
        .where(and(isNull(sessions.endedAt), gt(sessions.expiresAt, now))).get()?.n ?? 0
      return { users: total, admins: activeAdmins(), active_sessions: active }
    },

    countActiveAdmins: activeAdmins
  }
}

/** `{ field: { from, to } }` for each of `fields` that differs between two versions of a row. */
function changed<K extends keyof UserRow> (before: UserRow, after: UserRow, fields: K[]): Record<string, { from: UserRow[K], to: UserRow[K] }> {
  return Object.fromEntries(fields.filter((f) => before[f] !== after[f]).map((f) => [f, { from: before[f], to: after[f] }]))
}

const lastAdmin = () => conflict('Cannot demote, disable or delete the last active admin')

export type UsersService = ReturnType<typeof createUsersService>
