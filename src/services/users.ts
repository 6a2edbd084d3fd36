// Accounts: registration, password login, profile changes and the admin's user management.
import type { UserRow } from '../db/schema.js'
import { storageFault } from '../db/faults.js'
import { ChangedMeanwhile, EmailNotVerified, InvalidInput, invalidRequestSentence, LastAdmin, Taken, WrongPassword } from '../errors.js'
import type { Store } from '../store/index.js'
import type { AuditContext, AuditService } from './audit.js'
import { endSessions } from './end-sessions.js'
import { decodeCursor, pageOf, type Page } from './pages.js'
import { checkPasswordPolicy, isForeignHash, type PasswordHasher } from './passwords.js'

import type { PublicUser, Role } from '../schemas/users.js'

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

/** How long a login trusts its last look for imported hashes (`latchkey import` may run beside the server). */
const FOREIGN_LOOKUP_TTL_MS = 60_000

/** The password policy's refusal, as the domain's InvalidInput (422 with field errors). */
function assertPolicy (password: string, field: string, account: { username: string, email: string }): void {
  const problems = checkPasswordPolicy(password, field, account)
  if (problems.length > 0) throw new InvalidInput(problems, invalidRequestSentence(problems))
}

export interface SetPasswordHow {
  event: 'password.changed' | 'password.reset'
  reason: 'password_changed' | 'password_reset'
  keepSessionId?: number
  /** The caller's own conditions, inside the transaction: may throw to refuse, may return more columns to set. */
  check?: (tx: Store, now: Date) => Promise<Partial<UserRow> | undefined>
}

export function createUsersService (store: Store, hasher: PasswordHasher, audit: AuditService,
  options: { requireVerifiedEmail?: boolean, onAuditLost?: (err: unknown) => void } = {}) {
  let foreign: { hash: string | undefined, at: number } | undefined
  /** One imported hash still stored, if any: while there are some, logins pad themselves with it. */
  async function foreignSample (now = Date.now()): Promise<string | undefined> {
    if (foreign === undefined || now - foreign.at > FOREIGN_LOOKUP_TTL_MS) foreign = { hash: await store.foreignHashSample(), at: now }
    return foreign.hash
  }

  /**
   * The last-admin guard, inside the transaction, for a change that takes an active admin away: the admin
   * lock first, then the count it relies on. Throws LastAdmin when that admin is the only one.
   */
  async function guardLastAdmin (tx: Store): Promise<void> {
    await tx.lockAdmins()
    if (await tx.countActiveAdmins() <= 1) throw new LastAdmin()
  }

  /**
   * The one way a password is set: the policy check (422), the hash, then in one transaction
   * `check(tx)` (the caller's own conditions, which may throw to refuse, and may return more columns to
   * set), the new hash, the event, and every session of the user but `keepSessionId` ended with `reason`.
   */
  async function setPassword (user: UserRow, next: string, how: SetPasswordHow, ctx: AuditContext = {}): Promise<void> {
    assertPolicy(next, '/new_password', { username: user.username, email: user.email })
    const passwordHash = await hasher.hash(next)
    const now = new Date()
    await store.transaction(async (tx) => {
      const extra = await how.check?.(tx, now) ?? {}
      await tx.updateUser(user.id, { ...extra, passwordHash })
      await audit.record({ type: how.event, userId: user.id, sessionId: how.keepSessionId ?? null, ...ctx }, now, tx)
      await endSessions(tx, audit, { userId: user.id, exceptSessionId: how.keepSessionId }, how.reason, ctx, now)
    })
  }

  return {
    findById: async (id: number): Promise<UserRow | undefined> => await store.userById(id),

    findByLogin: async (login: string): Promise<UserRow | undefined> => await store.userByLogin(login.toLowerCase()),

    async register (input: { username: string, email: string, password: string, role?: Role, emailVerified?: boolean }, ctx: AuditContext = {}): Promise<UserRow> {
      const email = input.email.toLowerCase()
      assertPolicy(input.password, '/password', { username: input.username, email })
      // Cheap pre-check so a taken name does not cost a hash; the unique indexes stay the real guard.
      if (await store.userByLogin(input.username.toLowerCase()) !== undefined || await store.userByLogin(email) !== undefined) {
        throw new Taken()
      }
      const passwordHash = await hasher.hash(input.password)
      return await store.transaction(async (tx) => {
        const user = await tx.insertUser({
          username: input.username,
          email,
          passwordHash,
          role: input.role ?? 'user',
          emailVerified: input.emailVerified ?? false,
          createdAt: new Date()
        })
        await audit.record({ type: 'user.registered', userId: user.id, ...ctx, detail: { role: user.role } }, user.createdAt, tx)
        return user
      })
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
      const failed = async (userId: number | null, reason: string): Promise<undefined> => {
        try {
          await audit.record({ type: 'login.failed', userId, ip: ctx.ip, userAgent: ctx.userAgent, actorId: null, detail: { reason } })
        } catch (err) {
          // A failed login changes nothing, so a database that cannot take the event (full, read-only)
          // must not turn a wrong password into a 503: the answer stays 401 and the loss is reported.
          if (storageFault(err) !== 'unavailable' || options.onAuditLost === undefined) throw err
          options.onAuditLost(err)
        }
        return undefined
      }
      const user = await store.userByLogin(login.toLowerCase())
      const ownIsForeign = user !== undefined && isForeignHash(user.passwordHash)
      // An imported hash pads with the dummy whatever the cached sample says: the cache may predate a
      // `latchkey import` run beside this server. It is stale then, so this hash becomes the sample.
      if (ownIsForeign && await foreignSample() === undefined) foreign = { hash: user.passwordHash, at: Date.now() }
      const sample = ownIsForeign ? undefined : await foreignSample()
      const [ok] = await Promise.all([
        user === undefined ? hasher.verifyDummy(password) : hasher.verify(user.passwordHash, password),
        ownIsForeign ? hasher.verifyDummy(password) : sample === undefined ? undefined : hasher.verify(sample, password)
      ])
      if (user === undefined) return await failed(null, 'unknown_account')
      if (!ok) return await failed(user.id, 'wrong_password')
      if (user.disabled) return await failed(user.id, 'disabled')
      if (hasher.needsRehash(user.passwordHash)) {
        const passwordHash = await hasher.hash(password)
        // Only over the hash that was verified: a password changed meanwhile must not be reverted.
        await store.updateUser(user.id, { passwordHash }, user.passwordHash)
      }
      // The row was read before argon2 ran: the account may have been disabled or deleted since.
      const current = await store.userById(user.id)
      if (current === undefined || current.disabled) return await failed(user.id, current === undefined ? 'deleted' : 'disabled')
      if (options.requireVerifiedEmail === true && !current.emailVerified) {
        await failed(user.id, 'email_unverified')
        throw new EmailNotVerified()
      }
      return current
    },

    /** WrongPassword ("Password is incorrect") unless `password` is the user's: the check before a sensitive change. */
    async requirePassword (user: UserRow, password: string): Promise<void> {
      if (!await hasher.verify(user.passwordHash, password)) throw new WrongPassword('Password is incorrect')
    },

    /** Change username or email (a new address is unverified); Taken when another account holds either. */
    async updateProfile (user: UserRow, changes: { username?: string, email?: string }, ctx: AuditContext = {}): Promise<UserRow> {
      const set: Partial<UserRow> = {}
      if (changes.username !== undefined) set.username = changes.username
      // A new address is unverified until its owner opens the link mailed to it.
      if (changes.email !== undefined && changes.email.toLowerCase() !== user.email) {
        set.email = changes.email.toLowerCase()
        set.emailVerified = false
      }
      if (Object.keys(set).length === 0) return user
      return await store.transaction(async (tx) => {
        const updated = await tx.updateUser(user.id, set)
        if (updated === undefined) return user
        const detail = changed(user, updated, ['username', 'email'])
        if (Object.keys(detail).length > 0) await audit.record({ type: 'user.updated', userId: user.id, ...ctx, detail }, Date.now(), tx)
        return updated
      })
    },

    setPassword,

    /** Change the password and end every other session of the user, atomically. */
    async changePassword (user: UserRow, current: string, next: string, keepSessionId: number, ctx: AuditContext = {}): Promise<void> {
      if (!await hasher.verify(user.passwordHash, current)) throw new WrongPassword()
      await setPassword(user, next, {
        event: 'password.changed',
        reason: 'password_changed',
        keepSessionId,
        // The checks above awaited argon2: another request may have changed the password (and ended this
        // session) meanwhile. Writing anyway would let a stale check win and log out every session.
        check: async (tx) => {
          const stored = await tx.userById(user.id)
          if (stored?.passwordHash !== user.passwordHash) throw new ChangedMeanwhile('The password was changed by another request; sign in again')
          return undefined
        }
      }, ctx)
    },

    /** Delete a user; tasks, sessions and refresh tokens go with it (ON DELETE CASCADE). */
    async remove (userId: number, ctx: AuditContext = {}): Promise<void> {
      await store.transaction(async (tx) => {
        const target = await tx.userById(userId)
        if (target === undefined) return
        if (target.role === 'admin' && !target.disabled) await guardLastAdmin(tx)
        const now = new Date()
        await endSessions(tx, audit, { userId }, 'deleted', ctx, now)
        // The row goes; the event keeps who it was (audit_events has no foreign key, see src/db/schema.ts).
        await audit.record({ type: 'user.deleted', userId, ...ctx, detail: { username: target.username, role: target.role } }, now, tx)
        await tx.deleteUser(userId)
      })
    },

    /** Admin changes; the last active admin can be neither demoted nor disabled. Undefined when the user does not exist. */
    async setRoleOrDisabled (userId: number, changes: { role?: Role, disabled?: boolean, email_verified?: boolean }, ctx: AuditContext = {}): Promise<UserRow | undefined> {
      return await store.transaction(async (tx) => {
        const target = await tx.userById(userId)
        if (target === undefined) return undefined
        const staysActiveAdmin = (changes.role ?? target.role) === 'admin' && !(changes.disabled ?? target.disabled)
        if (target.role === 'admin' && !target.disabled && !staysActiveAdmin) await guardLastAdmin(tx)
        const set: Partial<UserRow> = {}
        if (changes.role !== undefined) set.role = changes.role
        if (changes.disabled !== undefined) set.disabled = changes.disabled
        if (changes.email_verified !== undefined) set.emailVerified = changes.email_verified
        if (Object.keys(set).length === 0) return target
        const updated = await tx.updateUser(userId, set)
        if (updated === undefined) return undefined
        const detail = changed(target, updated, ['role', 'disabled', 'emailVerified'])
        const now = new Date()
        if (Object.keys(detail).length > 0) {
          const targetWasAdmin = target.role === 'admin' && !target.disabled
          await audit.record({ type: 'user.updated', userId, ...ctx, detail: { ...detail, target_was_admin: targetWasAdmin } }, now, tx)
        }
        if (changes.disabled === true && !target.disabled) {
          await endSessions(tx, audit, { userId }, 'user_disabled', ctx, now)
        }
        return updated
      })
    },

    async list ({ limit, cursor, q }: { limit: number, cursor?: string, q?: string }): Promise<Page<PublicUser>> {
      const rows = await store.listUsers({ after: decodeCursor(cursor), limit: limit + 1, q })
      const page = pageOf(rows, limit)
      return { items: page.items.map(toPublicUser), next_cursor: page.next_cursor }
    },

    async stats (now = new Date()): Promise<{ users: number, admins: number, active_sessions: number }> {
      return { users: await store.countUsers(), admins: await store.countActiveAdmins(), active_sessions: await store.countActiveSessions(now) }
    },

    countActiveAdmins: async (): Promise<number> => await store.countActiveAdmins()
  }
}

/** `{ field: { from, to } }` for each of `fields` that differs between two versions of a row. */
function changed<K extends keyof UserRow> (before: UserRow, after: UserRow, fields: K[]): Record<string, { from: UserRow[K], to: UserRow[K] }> {
  return Object.fromEntries(fields.filter((f) => before[f] !== after[f]).map((f) => [f, { from: before[f], to: after[f] }]))
}

export type UsersService = ReturnType<typeof createUsersService>
