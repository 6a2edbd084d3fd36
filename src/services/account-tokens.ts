// Single-use, expiring, hashed tokens mailed to users: password reset and email verification links.
import type { AccountTokenRow } from '../db/schema.js'
import type { AccountTokenKind, Store } from '../store/index.js'
import { hashSecretToken, newSecretToken } from './secret-tokens.js'

export type { AccountTokenKind } from '../store/index.js'

export interface AccountTokenOptions {
  /** Lifetime per kind, seconds. */
  ttl: Record<AccountTokenKind, number>
}

export function createAccountTokensService (store: Store, options: AccountTokenOptions) {
  return {
    /**
     * A new token for the user's current address; the user's older tokens of the kind stop working.
     * Through `tx` when the caller records the issue in its own transaction; else in one of its own.
     */
    async issue (userId: number, kind: AccountTokenKind, email: string, now = new Date(), tx?: Store): Promise<string> {
      const token = newSecretToken()
      const values = {
        userId,
        kind,
        email,
        tokenHash: hashSecretToken(token),
        createdAt: now,
        expiresAt: new Date(now.getTime() + options.ttl[kind] * 1000)
      }
      if (tx === undefined) await store.transaction(async (t) => { await t.replaceAccountToken(values) })
      else await tx.replaceAccountToken(values)
      return token
    },

    /** Seconds until another mail of this kind may go to this address (0 = now), at most one per `windowS`. */
    async waitBeforeNext (kind: AccountTokenKind, email: string, windowS: number, now = new Date()): Promise<number> {
      const last = await store.lastAccountTokenAt(kind, email)
      if (last === undefined) return 0
      const left = last.getTime() + windowS * 1000 - now.getTime()
      return left > 0 ? Math.ceil(left / 1000) : 0
    },

    /** The unused, unexpired token of the kind, without using it up (through `tx` inside a transaction). */
    async find (token: string, kind: AccountTokenKind, now = new Date(), tx: Store = store): Promise<AccountTokenRow | undefined> {
      return await tx.liveAccountToken(hashSecretToken(token), kind, now)
    },

    /**
     * Use the token up inside `tx` (the caller's transaction); true only for the one caller that
     * got to it first, so two racing requests cannot both use one link.
     */
    consume: async (tx: Store, id: number, now = new Date()): Promise<boolean> => await tx.consumeAccountToken(id, now),

    /** Retire the user's other tokens of a kind (after one of them was used), inside `tx`. */
    retireOthers: async (tx: Store, userId: number, kind: AccountTokenKind, keepId: number): Promise<void> => {
      await tx.retireOtherAccountTokens(userId, kind, keepId)
    },

    /** Delete expired tokens (used ones stay until they expire: they date the last mail for the 60 s limit). */
    purge: async (now = new Date()): Promise<number> => await store.purgeAccountTokens(now)
  }
}

export type AccountTokensService = ReturnType<typeof createAccountTokensService>
