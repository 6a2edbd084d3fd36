// Mailed single-use links (password reset, email verification), stored as SHA-256 hashes.
import { and, desc, eq, gt, isNull, lte, ne } from 'drizzle-orm'
import type { AccountTokenRow } from '../db/schema.js'
import { affected, first, type Ctx } from './context.js'

export type AccountTokenKind = AccountTokenRow['kind']
export type NewAccountToken = Omit<AccountTokenRow, 'id' | 'usedAt'>

export function accountTokenQueries ({ db, t }: Ctx) {
  const { accountTokens } = t
  return {
    /** Insert a link; the user's older links of the kind are deleted first (call inside a transaction). */
    replaceAccountToken: async (values: NewAccountToken): Promise<void> => {
      await db.delete(accountTokens).where(and(eq(accountTokens.userId, values.userId), eq(accountTokens.kind, values.kind)))
      await db.insert(accountTokens).values(values)
    },

    /** When the newest link of the kind was made for this address (rate limit on mails). */
    lastAccountTokenAt: async (kind: AccountTokenKind, email: string): Promise<Date | undefined> =>
      first(await db.select({ createdAt: accountTokens.createdAt }).from(accountTokens)
        .where(and(eq(accountTokens.email, email), eq(accountTokens.kind, kind)))
        .orderBy(desc(accountTokens.createdAt)).limit(1))?.createdAt,

    /** The unused, unexpired link with this hash and kind. */
    liveAccountToken: async (tokenHash: string, kind: AccountTokenKind, now: Date): Promise<AccountTokenRow | undefined> =>
      first(await db.select().from(accountTokens).where(and(eq(accountTokens.tokenHash, tokenHash), eq(accountTokens.kind, kind),
        isNull(accountTokens.usedAt), gt(accountTokens.expiresAt, now))).limit(1)),

    /** Use a link up; true only for the one caller that got to it first. */
    consumeAccountToken: async (id: number, now: Date): Promise<boolean> =>
      affected(await db.update(accountTokens).set({ usedAt: now })
        .where(and(eq(accountTokens.id, id), isNull(accountTokens.usedAt), gt(accountTokens.expiresAt, now)))) === 1,

    retireOtherAccountTokens: async (userId: number, kind: AccountTokenKind, keepId: number): Promise<void> => {
      await db.delete(accountTokens).where(and(eq(accountTokens.userId, userId), eq(accountTokens.kind, kind), ne(accountTokens.id, keepId)))
    },

    /** Delete expired links (used ones stay until they expire: they date the last mail). */
    purgeAccountTokens: async (now: Date): Promise<number> => affected(await db.delete(accountTokens).where(lte(accountTokens.expiresAt, now)))
  }
}
