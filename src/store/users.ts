// Users: lookups by id and login name, writes answered by the unique indexes, the admin counts, the admin list.
import { and, asc, count, eq, gt, notLike, or, sql } from 'drizzle-orm'
import { isUniqueViolation, Taken } from '../errors.js'
import type { UserRow } from '../db/schema.js'
import { affected, first, type Ctx } from './context.js'

export type NewUser = Omit<UserRow, 'id' | 'role' | 'disabled' | 'emailVerified' | 'totpEnabled'> & Partial<Pick<UserRow, 'role' | 'disabled' | 'emailVerified' | 'totpEnabled'>>
export type UserChanges = Partial<Omit<UserRow, 'id' | 'createdAt'>>

/** `q` as a literal substring pattern: %, _ and the escape character `!` are escaped (ESCAPE '!' is portable). */
const likeLiteral = (q: string): string => `%${q.toLowerCase().replace(/[!%_]/g, (c) => `!${c}`)}%`

export function userQueries ({ db, t, lock, inTransaction }: Ctx) {
  const { users, sessions } = t
  const lowerUsername = sql`lower(${users.username})`

  /** A write that may hit a unique index: a violation is the domain's Taken (409), whichever request raced. */
  async function unique<T> (write: Promise<T>): Promise<T> {
    try {
      return await write
    } catch (err) {
      if (isUniqueViolation(err)) throw new Taken()
      throw err
    }
  }

  return {
    /**
     * Inside a transaction the row is locked first (PostgreSQL; SQLite's writer lock already covers it): a
     * transaction reads a user to decide a change to that user (the password it checks, TOTP on or off, the
     * last admin), and the decision must not go stale before it commits.
     */
    userById: async (id: number): Promise<UserRow | undefined> => {
      if (inTransaction) await lock({ user: id })
      return first(await db.select().from(users).where(eq(users.id, id)).limit(1))
    },

    /** By username (any case) or email; `login` must already be lower case. */
    userByLogin: async (login: string): Promise<UserRow | undefined> =>
      first(await db.select().from(users).where(or(eq(lowerUsername, login), eq(users.email, login))).limit(1)),

    /** One stored hash that is not the server's own argon2id (an imported one), if any. */
    foreignHashSample: async (): Promise<string | undefined> =>
      first(await db.select({ hash: users.passwordHash }).from(users).where(notLike(users.passwordHash, '$argon2id$%')).limit(1))?.hash,

    /** Throws Taken when the username or email is held. */
    insertUser: async (values: NewUser): Promise<UserRow> =>
      (await unique(db.insert(users).values(values).returning()))[0],

    /** Throws Taken on a unique index; undefined when the user is gone (or `ifPasswordHash` no longer matches). */
    updateUser: async (id: number, set: UserChanges, ifPasswordHash?: string): Promise<UserRow | undefined> =>
      first(await unique(db.update(users).set(set)
        .where(ifPasswordHash === undefined ? eq(users.id, id) : and(eq(users.id, id), eq(users.passwordHash, ifPasswordHash)))
        .returning())),

    /** Delete a user; tasks, sessions, refresh tokens, links and TOTP rows cascade. */
    deleteUser: async (id: number): Promise<boolean> => affected(await db.delete(users).where(eq(users.id, id))) > 0,

    /** Inside a transaction, before reading the admin count it relies on (see Ctx.lock). */
    lockAdmins: async (): Promise<void> => { await lock('admins') },

    countActiveAdmins: async (): Promise<number> =>
      first(await db.select({ n: count() }).from(users).where(and(eq(users.role, 'admin'), eq(users.disabled, false))))?.n ?? 0,

    countUsers: async (): Promise<number> => first(await db.select({ n: count() }).from(users))?.n ?? 0,

    countActiveSessions: async (now: Date): Promise<number> =>
      first(await db.select({ n: count() }).from(sessions)
        .where(and(sql`${sessions.endedAt} IS NULL`, gt(sessions.expiresAt, now))))?.n ?? 0,

    /** Users with id > `after`, ascending, at most `limit`; `q` a case-insensitive substring of username or email. */
    listUsers: async ({ after, limit, q }: { after: number, limit: number, q?: string }): Promise<UserRow[]> => {
      const filters = [gt(users.id, after)]
      if (q !== undefined && q !== '') {
        const pattern = likeLiteral(q)
        filters.push(or(sql`lower(${users.username}) LIKE ${pattern} ESCAPE '!'`, sql`lower(${users.email}) LIKE ${pattern} ESCAPE '!'`)!)
      }
      return await db.select().from(users).where(and(...filters)).orderBy(asc(users.id)).limit(limit)
    },

    /** Every user, by id (the CLI's list and export). */
    allUsers: async (): Promise<UserRow[]> => await db.select().from(users).orderBy(asc(users.id))
  }
}
