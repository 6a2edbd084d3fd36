// TOTP rows: the encrypted secret (pending until confirmed), the last accepted time step, recovery codes.
import { and, count, eq, isNotNull, isNull, lt, or } from 'drizzle-orm'
import type { totpSecrets } from '../db/schema.js'
import { affected, first, type Ctx } from './context.js'

export type TotpSecretRow = typeof totpSecrets.$inferSelect

export function totpQueries ({ db, t }: Ctx) {
  const { totpSecrets, totpRecoveryCodes } = t
  return {
    /** Start or restart an enrolment: a pending secret replaces whatever was there. */
    putPendingTotpSecret: async (userId: number, secretEncrypted: string, now: Date): Promise<void> => {
      await db.insert(totpSecrets).values({ userId, secretEncrypted, createdAt: now })
        .onConflictDoUpdate({ target: totpSecrets.userId, set: { secretEncrypted, createdAt: now, confirmedAt: null, lastUsedStep: null } })
    },

    /** The user's secret row: `confirmed` true for an enabled one, false for a pending one. */
    totpSecret: async (userId: number, confirmed: boolean): Promise<TotpSecretRow | undefined> =>
      first(await db.select().from(totpSecrets)
        .where(and(eq(totpSecrets.userId, userId), confirmed ? isNotNull(totpSecrets.confirmedAt) : isNull(totpSecrets.confirmedAt))).limit(1)),

    /** Record that a code of `step` was accepted; false when that step (or a newer one) was already used. */
    recordTotpStep: async (userId: number, step: number): Promise<boolean> =>
      affected(await db.update(totpSecrets).set({ lastUsedStep: step })
        .where(and(eq(totpSecrets.userId, userId), or(isNull(totpSecrets.lastUsedStep), lt(totpSecrets.lastUsedStep, step))))) === 1,

    confirmTotpSecret: async (userId: number, now: Date): Promise<void> => {
      await db.update(totpSecrets).set({ confirmedAt: now }).where(eq(totpSecrets.userId, userId))
    },

    replaceRecoveryCodes: async (userId: number, codeHashes: string[]): Promise<void> => {
      await db.delete(totpRecoveryCodes).where(eq(totpRecoveryCodes.userId, userId))
      if (codeHashes.length > 0) await db.insert(totpRecoveryCodes).values(codeHashes.map((codeHash) => ({ userId, codeHash })))
    },

    /** Use an unused recovery code up; false when it is unknown or used. */
    useRecoveryCode: async (userId: number, codeHash: string, now: Date): Promise<boolean> =>
      affected(await db.update(totpRecoveryCodes).set({ usedAt: now })
        .where(and(eq(totpRecoveryCodes.userId, userId), eq(totpRecoveryCodes.codeHash, codeHash), isNull(totpRecoveryCodes.usedAt)))) === 1,

    /** The secret and the recovery codes go. */
    deleteTotp: async (userId: number): Promise<void> => {
      await db.delete(totpRecoveryCodes).where(eq(totpRecoveryCodes.userId, userId))
      await db.delete(totpSecrets).where(eq(totpSecrets.userId, userId))
    },

    countTotpSecrets: async (): Promise<number> => first(await db.select({ n: count() }).from(totpSecrets))?.n ?? 0,

    sampleTotpSecret: async (): Promise<TotpSecretRow | undefined> => first(await db.select().from(totpSecrets).limit(1))
  }
}
