// Single-use, expiring, hashed tokens mailed to users: password reset and email verification links.
import { and, desc, eq, gt, isNull, lte, ne } from 'drizzle-orm'
import type { Db } from '../db/open.js'
import { accountTokens, type AccountTokenRow } from '../db/schema.js'
import { hashSecretToken, newSecretToken } from './secret-tokens.js'

export type AccountTokenKind = AccountTokenRow['kind']

export interface AccountTokenOptions {
  /** Lifetime per kind, seconds. */
  ttl: Record<AccountTokenKind, number>
}

export function createAccountTokensService (db: Db, options: AccountTokenOptions) {
  const live = (kind: AccountTokenKind, hash: string, now: Date) => and(
    eq(accountTokens.tokenHash, hash), eq(accountTokens.kind, kind),
    isNull(accountTokens.usedAt), gt(accountTokens.expiresAt, now))

  return {
    /** A new token for the user's current address; the user's older tokens of the kind stop working. */
    issue (userId: number, kind: AccountTokenKind, email: string, now = new Date()): string {
      const token = newSecretToken()
      db.transaction((tx) => {
        tx.delete(accountTokens).where(and(eq(accountTokens.userId, userId), eq(accountTokens.kind, kind))).run()
        tx.insert(accountTokens).values({
          userId,
          kind,
          email,
          tokenHash: hashSecretToken(token),
          createdAt: now,
          expiresAt: new Date(now.getTime() + options.ttl[kind] * 1000)
        }).run()
      }, { behavior: 'immediate' })
      return token
    },

    /** Seconds until another mail of this kind may go to this address (0 = now), at most one per `windowS`. */
    waitBeforeNext (kind: AccountTokenKind, email: string, windowS: number, now = new Date()): number {
      const last = db.select({ createdAt: accountTokens.createdAt }).from(accountTokens)
        .where(and(eq(accountTokens.email, email), eq(accountTokens.kind, kind)))
        .orderBy(desc(accountTokens.createdAt)).limit(1).get()
      if (last === undefined) return 0
      const left = last.createdAt.getTime() + windowS * 1000 - now.getTime()
      return left > 0 ? Math.ceil(left / 1000) : 0
    },

    /** The unused, unexpired token of the kind, without using it up. */
    find (token: string, kind: AccountTokenKind, now = new Date()): AccountTokenRow | undefined {
      return db.select().from(accountTokens).where(live(kind, hashSecretToken(token), now)).get()
    },

    /**
     * Use the token up inside `tx` (the caller's transaction); true only for the one caller that
     * got to it first, so two racing requests cannot both use one link.
     */
    consume (tx: Pick<Db, 'update'>, id: number, now = new Date()): boolean {
      return tx.update(accountTokens).set({ usedAt: now })
        .where(and(eq(accountTokens.id, id), isNull(accountTokens.usedAt), gt(accountTokens.expiresAt, now))).run().changes === 1
    },

    /** Retire the user's other tokens of a kind (after one of them was used). */
    retireOthers (tx: Pick<Db, 'delete'>, userId: number, kind: AccountTokenKind, keepId: number): void {
      tx.delete(accountTokens)
        .where(and(eq(accountTokens.userId, userId), eq(accountTokens.kind, kind), ne(accountTokens.id, keepId))).run()
    },

    /** Delete expired tokens (used ones stay until they expire: they date the last mail for the 60 s limit). */
    purge (now = new Date()): number {
      return db.delete(accountTokens).where(lte(accountTokens.expiresAt, now)).run().changes
    }
  }
}

export type AccountTokensService = ReturnType<typeof createAccountTokensService>
