// TOTP second factor (RFC 6238): enrolment, confirmation, recovery codes, code checks with replay protection, reset.
import { createHash } from 'node:crypto'
import { Secret, TOTP } from 'otpauth'
import type { UserRow } from '../db/schema.js'
import type { Store, TotpSecretRow } from '../store/index.js'
import { createAuditService, type AuditContext, type AuditService } from './audit.js'
import { endSessions } from './end-sessions.js'
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
  // qrcode is imported on the first enrolment, not at start.
  const { default: QRCode } = await import('qrcode')
  return await QRCode.toString(otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 })
}

/**
 * Turn TOTP off for a user (admin reset, CLI): secret and recovery codes go. Needs no key. False for an
 * unknown user. `totp.disabled` is recorded when TOTP was on, with `ctx.actorId` the admin (null: the CLI).
 */
export async function resetTotp (store: Store, userId: number, ctx: AuditContext = {}, audit: AuditService = createAuditService(store)): Promise<boolean> {
  return await store.transaction(async (tx) => {
    const before = await tx.userById(userId)
    if (before === undefined) return false
    const now = new Date()
    await tx.updateUser(userId, { totpEnabled: false })
    await tx.deleteTotp(userId)
    if (before.totpEnabled) await audit.record({ type: 'totp.disabled', userId, ...ctx, detail: { via: 'reset' } }, now, tx)
    return true
  })
}

/** Rows holding a secret (pending or confirmed): whether the key is needed at start-up. */
export const countTotpSecrets = async (store: Store): Promise<number> => await store.countTotpSecrets()

/** One stored secret, to prove at start-up that the key opens it. */
export async function sampleTotpSecret (store: Store): Promise<{ stored: string, context: string } | undefined> {
  const row = await store.sampleTotpSecret()
  return row === undefined ? undefined : { stored: row.secretEncrypted, context: contextOf(row.userId) }
}

export interface TotpOptions {
  /** Milliseconds since the epoch; tests pin it to step boundaries. */
  clock?: () => number
  /** Where totp.enabled / totp.disabled (and the sessions enabling ends) are recorded. */
  audit?: AuditService
}

export function createTotpService (store: Store, cipher: TotpCipher, { clock = Date.now, audit = createAuditService(store) }: TotpOptions = {}) {
  const secretOf = (row: { userId: number, secretEncrypted: string }): Secret =>
    Secret.fromBase32(cipher.decrypt(row.secretEncrypted, contextOf(row.userId)))

  /**
   * Accept a current code once: the matching step must be newer than the last one used, and the update
   * that records it checks that in SQL, so two requests racing with one code cannot both pass.
   */
  async function acceptTotp (tx: Store, row: TotpSecretRow, code: string, now: number): Promise<number | undefined> {
    if (!/^\d{6}$/.test(code)) return undefined
    const delta = totpFor(secretOf(row)).validate({ token: code, timestamp: now, window: WINDOW })
    if (delta === null) return undefined
    const step = timeStep(now) + delta
    return await tx.recordTotpStep(row.userId, step) ? step : undefined
  }

  /** A current code or an unused recovery code of an enabled user; consumes it. */
  async function acceptAnyCode (tx: Store, userId: number, raw: string, now: number): Promise<boolean> {
    const row = await tx.totpSecret(userId, true)
    if (row === undefined) return false
    const code = normalise(raw)
    if (/^\d{6}$/.test(code)) return await acceptTotp(tx, row, code, now) !== undefined
    return await tx.useRecoveryCode(userId, hashRecoveryCode(code), new Date(now))
  }

  return {
    /** Start (or restart) an enrolment: a fresh secret, pending until a code confirms it. */
    async enrol (user: Pick<UserRow, 'id' | 'username'>): Promise<Enrolment> {
      const secret = new Secret({ size: SECRET_BYTES })
      const secretEncrypted = cipher.encrypt(secret.base32, contextOf(user.id))
      await store.transaction(async (tx) => {
        const current = await tx.userById(user.id)
        if (current?.totpEnabled !== false) throw new TotpRefused('already_enabled')
        await tx.putPendingTotpSecret(user.id, secretEncrypted, new Date(clock()))
      })
      return { secret: secret.base32, otpauthUri: totpFor(secret, user.username).toString() }
    },

    /**
     * Confirm the pending enrolment with a current code: TOTP is on, ten recovery codes are issued (returned
     * this once, stored hashed) and every other session of the user ends — all in one transaction.
     */
    async confirm (userId: number, code: string, keepSessionId: number, ctx: AuditContext = {}): Promise<string[]> {
      const now = clock()
      const codes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode)
      return await store.transaction(async (tx) => {
        const user = await tx.userById(userId)
        if (user?.totpEnabled !== false) throw new TotpRefused('already_enabled')
        const row = await tx.totpSecret(userId, false)
        if (row === undefined) throw new TotpRefused('nothing_pending')
        // The confirming code's step is recorded, so the same code cannot then sign in (replay).
        if (await acceptTotp(tx, row, normalise(code), now) === undefined) throw new TotpRefused('wrong_code')
        const at = new Date(now)
        await tx.confirmTotpSecret(userId, at)
        await tx.updateUser(userId, { totpEnabled: true })
        await tx.replaceRecoveryCodes(userId, codes.map(hashRecoveryCode))
        await audit.record({ type: 'totp.enabled', userId, sessionId: keepSessionId, ...ctx }, at, tx)
        await endSessions(tx, audit, { userId, exceptSessionId: keepSessionId }, 'totp_enabled', ctx, at)
        return codes
      })
    },

    /** Turn TOTP off with a current or recovery code (the password is the route's to check). */
    async disable (userId: number, code: string, ctx: AuditContext = {}, sessionId?: number): Promise<void> {
      const now = clock()
      await store.transaction(async (tx) => {
        const user = await tx.userById(userId)
        if (user?.totpEnabled !== true) throw new TotpRefused('not_enabled')
        if (!await acceptAnyCode(tx, userId, code, now)) throw new TotpRefused('wrong_code')
        await tx.updateUser(userId, { totpEnabled: false })
        await tx.deleteTotp(userId)
        await audit.record({ type: 'totp.disabled', userId, sessionId: sessionId ?? null, ...ctx, detail: { via: 'user' } }, now, tx)
      })
    },

    /**
     * The second step of a password grant, after the password was verified: a user without TOTP passes;
     * one with it needs a current code (each step once) or an unused recovery code (each once).
     */
    async checkLogin (user: Pick<UserRow, 'id' | 'totpEnabled'>, code: string | undefined): Promise<LoginVerdict> {
      if (!user.totpEnabled) return 'ok'
      if (code === undefined || normalise(code) === '') return 'code_required'
      const now = clock()
      const accepted = await store.transaction(async (tx) => await acceptAnyCode(tx, user.id, code, now))
      return accepted ? 'ok' : 'wrong_code'
    },

    reset: async (userId: number, ctx: AuditContext = {}): Promise<boolean> => await resetTotp(store, userId, ctx, audit)
  }
}

export type TotpService = ReturnType<typeof createTotpService>
