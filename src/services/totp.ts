// TOTP second factor (RFC 6238): enrolment, confirmation, recovery codes, code checks with replay protection, reset.
import { createHash } from 'node:crypto'
import { and, count, eq, isNotNull, isNull, lt, or, sql } from 'drizzle-orm'
import { Secret, TOTP } from 'otpauth'
import QRCode from 'qrcode'
import type { Db } from '../db/open.js'
import { sessions, totpRecoveryCodes, totpSecrets, users, type UserRow } from '../db/schema.js'
import { createAuditService, type AuditContext, type AuditService } from './audit.js'
import { endSessions } from './sessions.js'
import type { TotpCipher } from './totp-key.js'

export const TOTP_ISSUER = 'Latchkey'
// RFC 6238's defaults, which every authenticator app understands.
const ALGORITHM = 'SHA1'
const DIGITS = 6
const PERIOD = 30
// ±1 step (RFC 6238 §5.2): a code from the previous or next 30 s window still counts, for clock drift and typing time.
const WINDOW = 1
const SECRET_BYTES = 20 // 160 bits, RFC 4226 §4's recommendation
const RECOVERY_CODES = 10
const RECOVERY_CODE_BYTES = 10 // 80 bits: a plain SHA-256 is then as good as a slow hash against guessing

export type TotpRefusal = 'already_enabled' | 'not_enabled' | 'nothing_pending' | 'wrong_code'

/** An expected refusal, in domain terms; src/routes/totp.ts turns it into a problem. */
export class TotpRefused extends Error {
  constructor (readonly reason: TotpRefusal) {
    super(reason)
    this.name = 'TotpRefused'
  }
}

export interface Enrolment { secret: string, otpauthUri: string }

export type LoginVerdict = 'ok' | 'code_required' | 'wrong_code'

/** The encryption context of a user's secret (AES-GCM additional data). */
export const contextOf = (userId: number): string => `latchkey-totp-secret:user:${userId}`

const totpFor = (secret: Secret, label = '') =>
  new TOTP({ issuer: TOTP_ISSUER, label, algorithm: ALGORITHM, digits: DIGITS, period: PERIOD, secret })

/** The time step (RFC 6238 T) of a moment. */
export const timeStep = (now: number): number => TOTP.counter({ period: PERIOD, timestamp: now })

/** What a person may type: spaces and dashes are ignored, recovery codes in any case. */
const normalise = (code: string): string => code.replace(/[\s-]/g, '').toLowerCase()
const hashRecoveryCode = (code: string): string => createHash('sha256').update(normalise(code)).digest('base64url')

/** `abcd-efgh-ijkl-mnop`: 16 base32 characters (80 bits), grouped so a person can copy them from paper. */
function newRecoveryCode (): string {
  return new Secret({ size: RECOVERY_CODE_BYTES }).base32.toLowerCase().replace(/(.{4})(?!$)/g, '$1-')
}

/** An SVG QR code of the otpauth URI, for authenticator apps to scan. */
export async function qrSvg (otpauthUri: string): Promise<string> {
  return await QRCode.toString(otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 })
}

/**
 * Turn TOTP off for a user (admin reset, CLI): secret and recovery codes go. Needs no key. False for an
 * unknown user. `totp.disabled` is recorded when TOTP was on, with `ctx.actorId` the admin (null: the CLI).
 */
export function resetTotp (db: Db, userId: number, ctx: AuditContext = {}, audit: AuditService = createAuditService(db)): boolean {
  return db.transaction((tx) => {
    const before = tx.select({ enabled: users.totpEnabled }).from(users).where(eq(users.id, userId)).get()
    if (before === undefined) return false
    tx.update(users).set({ totpEnabled: false }).where(eq(users.id, userId)).run()
    tx.delete(totpRecoveryCodes).where(eq(totpRecoveryCodes.userId, userId)).run()
    tx.delete(totpSecrets).where(eq(totpSecrets.userId, userId)).run()
    if (before.enabled) audit.record({ type: 'totp.disabled', userId, ...ctx, detail: { via: 'reset' } })
    return true
  }, { behavior: 'immediate' })
}

/** Rows holding a secret (pending or confirmed): whether the key is needed at start-up. */
export const countTotpSecrets = (db: Db): number => db.select({ n: count() }).from(totpSecrets).get()?.n ?? 0

/** One stored secret, to prove at start-up that the key opens it. */
export function sampleTotpSecret (db: Db): { stored: string, context: string } | undefined {
  const row = db.select().from(totpSecrets).limit(1).get()
  return row === undefined ? undefined : { stored: row.secretEncrypted, context: contextOf(row.userId) }
}

export interface TotpOptions {
  /** Milliseconds since the epoch; tests pin it to step boundaries. */
  clock?: () => number
  /** Where totp.enabled / totp.disabled (and the sessions enabling ends) are recorded. */
  audit?: AuditService
}

export function createTotpService (db: Db, cipher: TotpCipher, { clock = Date.now, audit = createAuditService(db) }: TotpOptions = {}) {
  type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

  const secretOf = (row: { userId: number, secretEncrypted: string }): Secret =>
    Secret.fromBase32(cipher.decrypt(row.secretEncrypted, contextOf(row.userId)))

  /**
   * Accept a current code once: the matching step must be newer than the last one used, and the update
   * that records it checks that in SQL, so two requests racing with one code cannot both pass.
   */
  function acceptTotp (tx: Tx, row: typeof totpSecrets.$inferSelect, code: string, now: number): number | undefined {
    if (!/^\d{6}$/.test(code)) return undefined
    const delta = totpFor(secretOf(row)).validate({ token: code, timestamp: now, window: WINDOW })
    if (delta === null) return undefined
    const step = timeStep(now) + delta
    const recorded = tx.update(totpSecrets).set({ lastUsedStep: step })
      .where(and(eq(totpSecrets.userId, row.userId), or(isNull(totpSecrets.lastUsedStep), lt(totpSecrets.lastUsedStep, step))))
      .run().changes
    return recorded === 1 ? step : undefined
  }

  /** A current code or an unused recovery code of an enabled user; consumes it. */
  function acceptAnyCode (tx: Tx, userId: number, raw: string, now: number): boolean {
    const row = tx.select().from(totpSecrets).where(and(eq(totpSecrets.userId, userId), isNotNull(totpSecrets.confirmedAt))).get()
    if (row === undefined) return false
    const code = normalise(raw)
    if (/^\d{6}$/.test(code)) return acceptTotp(tx, row, code, now) !== undefined
    return tx.update(totpRecoveryCodes).set({ usedAt: new Date(now) })
      .where(and(eq(totpRecoveryCodes.userId, userId), eq(totpRecoveryCodes.codeHash, hashRecoveryCode(code)), isNull(totpRecoveryCodes.usedAt)))
      .run().changes === 1
  }

  return {
    /** Start (or restart) an enrolment: a fresh secret, pending until a code confirms it. */
    enrol (user: Pick<UserRow, 'id' | 'username'>): Enrolment {
      const secret = new Secret({ size: SECRET_BYTES })
      const secretEncrypted = cipher.encrypt(secret.base32, contextOf(user.id))
      db.transaction((tx) => {
        const current = tx.select({ enabled: users.totpEnabled }).from(users).where(eq(users.id, user.id)).get()
        if (current?.enabled !== false) throw new TotpRefused('already_enabled')
        tx.insert(totpSecrets).values({ userId: user.id, secretEncrypted, createdAt: new Date(clock()) })
          .onConflictDoUpdate({
            target: totpSecrets.userId,
            set: { secretEncrypted, createdAt: new Date(clock()), confirmedAt: null, lastUsedStep: null }
          }).run()
      }, { behavior: 'immediate' })
      return { secret: secret.base32, otpauthUri: totpFor(secret, user.username).toString() }
    },

    /**
     * Confirm the pending enrolment with a current code: TOTP is on, ten recovery codes are issued (returned
     * this once, stored hashed) and every other session of the user ends — all in one transaction.
     */
    confirm (userId: number, code: string, keepSessionId: number, ctx: AuditContext = {}): string[] {
      const now = clock()
      const codes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode)
      return db.transaction((tx) => {
        const user = tx.select({ enabled: users.totpEnabled }).from(users).where(eq(users.id, userId)).get()
        if (user?.enabled !== false) throw new TotpRefused('already_enabled')
        const row = tx.select().from(totpSecrets).where(and(eq(totpSecrets.userId, userId), isNull(totpSecrets.confirmedAt))).get()
        if (row === undefined) throw new TotpRefused('nothing_pending')
        // The confirming code's step is recorded, so the same code cannot then sign in (replay).
        if (acceptTotp(tx, row, normalise(code), now) === undefined) throw new TotpRefused('wrong_code')
        tx.update(totpSecrets).set({ confirmedAt: new Date(now) }).where(eq(totpSecrets.userId, userId)).run()
        tx.update(users).set({ totpEnabled: true }).where(eq(users.id, userId)).run()
        tx.delete(totpRecoveryCodes).where(eq(totpRecoveryCodes.userId, userId)).run()
        tx.insert(totpRecoveryCodes).values(codes.map((c) => ({ userId, codeHash: hashRecoveryCode(c) }))).run()
        const at = new Date(now)
        audit.record({ type: 'totp.enabled', userId, sessionId: keepSessionId, ...ctx }, at)
        endSessions(tx, audit, and(eq(sessions.userId, userId), sql`${sessions.id} <> ${keepSessionId}`), 'totp_enabled', ctx, at)
        return codes
      }, { behavior: 'immediate' })
    },

    /** Turn TOTP off with a current or recovery code (the password is the route's to check). */
    disable (userId: number, code: string, ctx: AuditContext = {}, sessionId?: number): void {
      const now = clock()
      db.transaction((tx) => {
        const user = tx.select({ enabled: users.totpEnabled }).from(users).where(eq(users.id, userId)).get()
        if (user?.enabled !== true) throw new TotpRefused('not_enabled')
        if (!acceptAnyCode(tx, userId, code, now)) throw new TotpRefused('wrong_code')
        tx.update(users).set({ totpEnabled: false }).where(eq(users.id, userId)).run()
        tx.delete(totpRecoveryCodes).where(eq(totpRecoveryCodes.userId, userId)).run()
        tx.delete(totpSecrets).where(eq(totpSecrets.userId, userId)).run()
        audit.record({ type: 'totp.disabled', userId, sessionId: sessionId ?? null, ...ctx, detail: { via: 'user' } }, now)
      }, { behavior: 'immediate' })
    },

    /**
     * The second step of a password grant, after the password was verified: a user without TOTP passes;
     * one with it needs a current code (each step once) or an unused recovery code (each once).
     */
    checkLogin (user: Pick<UserRow, 'id' | 'totpEnabled'>, code: string | undefined): LoginVerdict {
      if (!user.totpEnabled) return 'ok'
      if (code === undefined || normalise(code) === '') return 'code_required'
      const now = clock()
      const accepted = db.transaction((tx) => acceptAnyCode(tx, user.id, code, now), { behavior: 'immediate' })
      return accepted ? 'ok' : 'wrong_code'
    },

    reset: (userId: number, ctx: AuditContext = {}): boolean => resetTotp(db, userId, ctx, audit)
  }
}

export type TotpService = ReturnType<typeof createTotpService>
