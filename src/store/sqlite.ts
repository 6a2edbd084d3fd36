// The SQLite store: one better-sqlite3 connection for the process, its statements prepared once.
//
// Every operation runs through one Serial queue: a transaction that awaits (the generic query modules
// await each statement) holds the connection until it commits, and nothing else runs inside it. The two
// hot write paths, the hot read and the other statements of a login and a registration keep the v1 speed:
// prepared statements, and for refreshes one synchronous BEGIN IMMEDIATE transaction per turn of the event
// loop (group commit, below), so concurrent refreshes of one token stay strictly serialised. WAL checkpoints
// run in a worker (src/db/checkpoint.ts).
import type Database from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { createCheckpointer, type CheckpointOptions, type Checkpointer } from '../db/checkpoint.js'
import { openDatabase, type Db as SqliteDb } from '../db/open.js'
import * as schema from '../db/schema.js'
import type { UserRow } from '../db/schema.js'
import { isUniqueViolation, Taken } from '../errors.js'
import { createWriteProbe } from '../db/write-probe.js'
import type { NewAuditEvent } from './audit.js'
import type { Ctx } from './context.js'
import type { RefreshInput, RefreshResult, RefreshVerdict, Store } from './index.js'
import { queries, type Queries } from './queries.js'
import { Serial } from './serial.js'
import type { NewSession, RefreshState } from './sessions.js'

/** A users row as the hot statements select it (`u_*` columns), mapped as Drizzle maps the table. */
interface UserColumns {
  u_id: number
  u_username: string
  u_email: string
  u_password_hash: string
  u_role: UserRow['role']
  u_disabled: number
  u_email_verified: number
  u_totp_enabled: number
  u_created_at: number
}
const USER_COLUMNS = 'u.id AS u_id, u.username AS u_username, u.email AS u_email, u.password_hash AS u_password_hash, ' +
  'u.role AS u_role, u.disabled AS u_disabled, u.email_verified AS u_email_verified, u.totp_enabled AS u_totp_enabled, u.created_at AS u_created_at'
/**
 * Where each users column is in a row: its name for object rows, its index for raw (array) rows. The index of
 * a raw statement comes from that statement's own column list, by name (`rawIndexes`), never written by hand.
 */
type UserKeys = { readonly [K in keyof UserColumns]: K | number }
const USER_KEYS = ['u_id', 'u_username', 'u_email', 'u_password_hash', 'u_role', 'u_disabled', 'u_email_verified', 'u_totp_enabled', 'u_created_at'] as const
const BY_NAME = Object.fromEntries(USER_KEYS.map((name) => [name, name])) as unknown as UserKeys
const rawIndexes = (statement: Database.Statement<unknown[], unknown>): UserKeys => {
  const names = statement.columns().map((c) => c.name)
  return Object.fromEntries(USER_KEYS.map((name) => {
    const at = names.indexOf(name)
    if (at < 0 || names.indexOf(name, at + 1) >= 0) throw new Error(`the statement selects column ${name} ${at < 0 ? 'not at all' : 'twice'}`)
    return [name, at]
  })) as unknown as UserKeys
}
const userOf = (r: UserColumns | unknown[], k: UserKeys = BY_NAME): UserRow => {
  const row = r as unknown as Record<string | number, unknown>
  return {
    id: row[k.u_id] as number,
    username: row[k.u_username] as string,
    email: row[k.u_email] as string,
    passwordHash: row[k.u_password_hash] as string,
    role: row[k.u_role] as UserRow['role'],
    disabled: row[k.u_disabled] === 1,
    emailVerified: row[k.u_email_verified] === 1,
    totpEnabled: row[k.u_totp_enabled] === 1,
    createdAt: new Date(row[k.u_created_at] as number)
  }
}

interface RefreshColumns extends UserColumns {
  t_id: number
  t_created_at: number
  t_rotated_at: number | null
  s_id: number
  s_ended_at: number | null
  s_expires_at: number
  s_last_rotated_token_id: number | null
}
const stateOf = (r: RefreshColumns): RefreshState => ({
  token: { id: r.t_id, createdAt: new Date(r.t_created_at), rotatedAt: r.t_rotated_at === null ? null : new Date(r.t_rotated_at) },
  session: { id: r.s_id, endedAt: r.s_ended_at === null ? null : new Date(r.s_ended_at), expiresAt: new Date(r.s_expires_at), lastRotatedTokenId: r.s_last_rotated_token_id },
  user: userOf(r)
})

/** How many distinct SQL texts the query modules' statement cache keeps (the least recently used goes first). */
export const STATEMENT_CACHE_SIZE = 256

/**
 * The connection as Drizzle sees it for the query modules: `prepare` answers from a bounded cache by SQL text,
 * so a query built the same way twice is compiled by SQLite once (10–70 µs of CPU saved per query, measured;
 * Drizzle still builds the SQL text every time). Drizzle's `values()` turns a statement's raw mode on and leaves
 * it on, so a cached statement that returns rows is handed out in object mode, as a fresh one is. Everything
 * else is the connection's.
 */
export function cachingStatements (sqlite: Database.Database, size = STATEMENT_CACHE_SIZE): Database.Database {
  const cache = new Map<string, Database.Statement>()
  const prepare = (source: string): Database.Statement => {
    let statement = cache.get(source)
    if (statement === undefined) {
      statement = sqlite.prepare(source)
      if (cache.size >= size) cache.delete(cache.keys().next().value as string)
    } else {
      cache.delete(source) // re-inserted below: the Map's order is the recency order
      if (statement.reader) statement.raw(false)
    }
    cache.set(source, statement)
    return statement
  }
  // The native methods need the real connection as `this`: bound once, on first use.
  const bound = new Map<PropertyKey, unknown>()
  return new Proxy(sqlite, {
    get (target, key) {
      if (key === 'prepare') return prepare
      const value: unknown = Reflect.get(target, key, target)
      if (typeof value !== 'function') return value
      let fn = bound.get(key)
      if (fn === undefined) bound.set(key, fn = (value as (...a: unknown[]) => unknown).bind(target))
      return fn
    }
  })
}

/** The query operations that only read (not counted as writes for the checkpoint worker). */
const READS = new Set<string>([
  'userById', 'userByLogin', 'foreignHashSample', 'lockAdmins', 'countActiveAdmins', 'countUsers', 'countActiveSessions',
  'listUsers', 'allUsers', 'sessionIdOfToken', 'refreshState', 'sessionOfTokenHash', 'activeSessions', 'listTasks', 'task',
  'lastAccountTokenAt', 'liveAccountToken', 'totpSecret', 'countTotpSecrets', 'sampleTotpSecret', 'listAuditEvents'
] satisfies Array<keyof Queries>)

export interface SqliteStore extends Store {
  /** The Drizzle database and the raw connection, for the CLI's SQLite-only commands and for tests. */
  readonly db: SqliteDb
  readonly sqlite: Database.Database
  /** The WAL checkpoint worker (absent for ':memory:' or when turned off). */
  readonly checkpoints: Checkpointer | undefined
}

/** The engine-neutral versions of the two hot write paths (`composite` in ./index.ts) are what the prepared twins here follow. */
export interface SqliteStoreOptions {
  /** The WAL checkpoint worker's tuning (src/db/checkpoint.ts); `false`: SQLite's own auto-checkpoint. */
  checkpoints?: Omit<CheckpointOptions, 'exclusive'> | false
}

export function openSqliteStore (databasePath: string, options: SqliteStoreOptions = {}): SqliteStore {
  const { sqlite, db } = openDatabase(databasePath)
  const serial = new Serial()
  const checkpoints = databasePath === ':memory:' || options.checkpoints === false
    ? undefined
    : createCheckpointer(sqlite, databasePath, { ...options.checkpoints, exclusive: async (hold) => await queue(hold) })
  const wrote = checkpoints === undefined ? () => {} : checkpoints.wrote
  // The query modules' own Drizzle instance, over the statement cache (the exported `db` stays the plain one).
  const cached = drizzle({ client: cachingStatements(sqlite), schema })
  const ctx: Ctx = { db: cached, t: schema, engine: 'sqlite', inTransaction: false, lock: async () => {} }
  const q = queries(ctx)

  // Raw (array) rows: better-sqlite3 builds an object row property by property (~6 µs of a /users/me
  // request over HTTP, measured); the columns are still found by name, once (rawIndexes).
  const activeSessionUser = sqlite.prepare<[number, number, number], unknown[]>(
    `SELECT ${USER_COLUMNS} FROM sessions s INNER JOIN users u ON u.id = s.user_id ` +
    'WHERE s.id = ? AND s.user_id = ? AND s.ended_at IS NULL AND s.expires_at > ? AND u.disabled = 0').raw(true)
  const activeSessionUserKeys = rawIndexes(activeSessionUser)
  const refreshState = sqlite.prepare<[string], RefreshColumns>(
    'SELECT t.id AS t_id, t.created_at AS t_created_at, t.rotated_at AS t_rotated_at, s.id AS s_id, s.ended_at AS s_ended_at, ' +
    `s.expires_at AS s_expires_at, s.last_rotated_token_id AS s_last_rotated_token_id, ${USER_COLUMNS} ` +
    'FROM refresh_tokens t INNER JOIN sessions s ON s.id = t.session_id INNER JOIN users u ON u.id = s.user_id WHERE t.token_hash = ?')
  const insertToken = sqlite.prepare('INSERT INTO refresh_tokens (session_id, token_hash, created_at) VALUES (?, ?, ?)')
  const markRotated = sqlite.prepare('UPDATE refresh_tokens SET rotated_at = ? WHERE id = ? AND rotated_at IS NULL')
  const endSession = sqlite.prepare('UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL')
  const touchSession = sqlite.prepare('UPDATE sessions SET last_rotated_token_id = ?, last_used_at = ?, expires_at = ? WHERE id = ?')
  const insertSession = sqlite.prepare('INSERT INTO sessions (user_id, created_at, last_used_at, expires_at, user_agent, ip) VALUES (?, ?, ?, ?, ?, ?)')
  const insertAudit = sqlite.prepare(
    'INSERT INTO audit_events (at, type, user_id, actor_id, session_id, ip, user_agent, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
  const audit = (e: NewAuditEvent): number =>
    Number(insertAudit.run(e.at.getTime(), e.type, e.userId, e.actorId, e.sessionId, e.ip, e.userAgent, e.detail).lastInsertRowid)

  // The statements of a login and a registration that Drizzle would build anew on every call (~0.1–0.2 ms of
  // CPU each, measured): the same SQL and the same rows as src/store/users.ts and src/store/audit.ts.
  const userById = sqlite.prepare<[number], unknown[]>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = ? LIMIT 1`).raw(true)
  const userByIdKeys = rawIndexes(userById)
  const userByLogin = sqlite.prepare<[string, string], unknown[]>(
    `SELECT ${USER_COLUMNS} FROM users u WHERE (lower(u.username) = ? OR u.email = ?) LIMIT 1`).raw(true)
  const userByLoginKeys = rawIndexes(userByLogin)
  const insertUser = sqlite.prepare<unknown[], unknown[]>(
    'INSERT INTO users (username, email, password_hash, role, disabled, email_verified, totp_enabled, created_at) ' +
    `VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${USER_COLUMNS.replace(/\bu\./g, '')}`).raw(true)
  const insertUserKeys = rawIndexes(insertUser)
  const deleteAccountTokens = sqlite.prepare('DELETE FROM account_tokens WHERE user_id = ? AND kind = ?')
  const insertAccountToken = sqlite.prepare(
    'INSERT INTO account_tokens (user_id, kind, token_hash, email, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
  const lastAccountTokenAt = sqlite.prepare<[string, string], number>(
    'SELECT created_at FROM account_tokens WHERE email = ? AND kind = ? ORDER BY created_at DESC LIMIT 1').pluck(true)
  // The query modules' operations with those statements in their place: what the queued store and the store
  // inside a transaction both run.
  const ops: Queries = {
    ...q,
    userById: async (id) => {
      const row = userById.get(id)
      return row === undefined ? undefined : userOf(row, userByIdKeys)
    },
    userByLogin: async (login) => {
      const row = userByLogin.get(login, login)
      return row === undefined ? undefined : userOf(row, userByLoginKeys)
    },
    /** Taken when the username or email is held, as the query module's. */
    insertUser: async (v) => {
      try {
        return userOf(insertUser.get(v.username, v.email, v.passwordHash, v.role ?? 'user', v.disabled === true ? 1 : 0,
          v.emailVerified === true ? 1 : 0, v.totpEnabled === true ? 1 : 0, v.createdAt.getTime()) as unknown[], insertUserKeys)
      } catch (err) {
        if (isUniqueViolation(err)) throw new Taken()
        throw err
      }
    },
    insertAuditEvent: async (e) => audit(e),
    /** Called inside a transaction, as the query module's. */
    replaceAccountToken: async (v) => {
      deleteAccountTokens.run(v.userId, v.kind)
      insertAccountToken.run(v.userId, v.kind, v.tokenHash, v.email, v.createdAt.getTime(), v.expiresAt.getTime())
    },
    lastAccountTokenAt: async (kind, email) => {
      const at = lastAccountTokenAt.get(email, kind)
      return at === undefined ? undefined : new Date(at)
    }
  }

  const startSession = sqlite.transaction((s: NewSession, tokenHash: string, event: (sessionId: number) => NewAuditEvent): number => {
    const now = s.now.getTime()
    const sessionId = Number(insertSession.run(s.userId, now, now, s.expiresAt.getTime(), s.userAgent, s.ip).lastInsertRowid)
    insertToken.run(sessionId, tokenHash, now)
    audit(event(sessionId))
    return sessionId
  })

  const rotate = sqlite.transaction((input: RefreshInput, decide: (state: RefreshState) => RefreshVerdict,
    onReuse: (state: RefreshState) => NewAuditEvent[]): RefreshResult => {
    const row = refreshState.get(input.tokenHash)
    if (row === undefined) return { verdict: 'invalid' }
    const state = stateOf(row)
    const verdict = decide(state)
    if (verdict === 'invalid') return { verdict }
    const now = input.now.getTime()
    if (verdict === 'reuse') {
      endSession.run(now, 'refresh_token_reuse', state.session.id)
      return { verdict, state, user: state.user, eventIds: onReuse(state).map(audit) }
    }
    if (verdict === 'rotate' && markRotated.run(now, state.token.id).changes !== 1) return { verdict: 'invalid' }
    touchSession.run(state.token.id, now, input.expiresAt.getTime(), state.session.id)
    insertToken.run(state.session.id, input.newTokenHash, now)
    return { verdict, state, user: state.user, eventIds: [] }
  })

  const probe = createWriteProbe(sqlite)

  // Group commit: the refreshes that reach the store in one turn of the event loop share one BEGIN IMMEDIATE …
  // COMMIT (one set of WAL frames for the pages they share, one lock round), each in its own savepoint so one
  // that throws rolls back alone. A batch takes its place in the serial queue when its first refresh arrives and
  // accepts more only until anything else is queued, so every operation still runs in the order it was called;
  // within a batch the refreshes run in call order and see each other's writes, exactly as one after another.
  // No refresh is answered before the COMMIT that holds it.
  interface Rotation {
    input: RefreshInput
    decide: (state: RefreshState) => RefreshVerdict
    onReuse: (state: RefreshState) => NewAuditEvent[]
    resolve: (result: RefreshResult) => void
    reject: (err: unknown) => void
  }
  const MAX_BATCH = 64
  let batch: Rotation[] | undefined
  const nextTurn = async (): Promise<void> => { await new Promise<void>((resolve) => { setImmediate(resolve) }) }
  const commitBatch = (rotations: Rotation[]): void => {
    if (rotations.length === 1) {
      // Alone in its turn (an idle server): its own transaction, no savepoint.
      const [r] = rotations
      try {
        r.resolve(rotate.immediate(r.input, r.decide, r.onReuse))
      } catch (err) {
        r.reject(err)
      } finally {
        wrote()
      }
      return
    }
    const outcomes: Array<{ ok: true, result: RefreshResult } | { ok: false, err: unknown }> = []
    try {
      sqlite.exec('BEGIN IMMEDIATE')
      try {
        for (const r of rotations) {
          try {
            // Inside the open transaction better-sqlite3 runs `rotate` as a savepoint.
            outcomes.push({ ok: true, result: rotate(r.input, r.decide, r.onReuse) })
          } catch (err) {
            outcomes.push({ ok: false, err })
          }
        }
        sqlite.exec('COMMIT')
      } finally {
        if (sqlite.inTransaction) sqlite.exec('ROLLBACK')
      }
    } catch (err) {
      for (const r of rotations) r.reject(err)
      return
    } finally {
      wrote()
    }
    rotations.forEach((r, i) => {
      const o = outcomes[i]
      if (o.ok) r.resolve(o.result)
      else r.reject(o.err)
    })
  }
  /** Queue `fn`; a later refresh starts a new batch behind it. */
  const queue = <T>(fn: () => T | Promise<T>): Promise<T> => {
    batch = undefined
    return serial.run(fn)
  }

  /** The store bound to an open transaction: statements run directly, the hot paths nest as savepoints. */
  const inTransaction: Store = {
    // userById locks nothing on SQLite (BEGIN IMMEDIATE holds the writer lock already).
    ...ops,
    engine: 'sqlite',
    transaction: async (fn) => await fn(inTransaction),
    startSession: async (s, tokenHash, event) => startSession(s, tokenHash, event),
    rotateRefreshToken: async (input, decide, onReuse) => rotate(input, decide, onReuse),
    ready: async () => ({ ok: true }),
    close: async () => {}
  }

  // Every query module operation, queued behind whatever transaction is running. Those that may write are counted
  // for the checkpoint worker once they settle; only the reads named here are not (so a server that only reads, or
  // has not written yet, starts no worker). An operation missing from the list counts: a needless look, never a
  // WAL left to grow.
  const serialised = Object.fromEntries(Object.entries(ops).map(([name, op]) => {
    const run = op as (...a: unknown[]) => Promise<unknown>
    if (READS.has(name)) return [name, (...args: unknown[]) => queue(() => run(...args))]
    return [name, (...args: unknown[]) => queue(async () => {
      try {
        return await run(...args)
      } finally {
        wrote()
      }
    })]
  })) as Queries

  return {
    ...serialised,
    engine: 'sqlite',
    db,
    sqlite,
    checkpoints,
    // The hottest read (every authenticated request) needs no queue: it is one statement, and SQLite
    // runs it against committed data or, inside a queued transaction, against that transaction's writes.
    activeSessionUser: async (userId, sessionId, now) => {
      const row = activeSessionUser.get(sessionId, userId, now.getTime())
      return row === undefined ? undefined : userOf(row, activeSessionUserKeys)
    },
    transaction: async (fn) => await queue(async () => {
      sqlite.exec('BEGIN IMMEDIATE')
      try {
        const result = await fn(inTransaction)
        sqlite.exec('COMMIT')
        return result
      } catch (err) {
        if (sqlite.inTransaction) sqlite.exec('ROLLBACK')
        throw err
      } finally {
        wrote()
      }
    }),
    startSession: (s, tokenHash, event) => queue(() => {
      const id = startSession.immediate(s, tokenHash, event)
      wrote()
      return id
    }),
    rotateRefreshToken: (input, decide, onReuse) => new Promise<RefreshResult>((resolve, reject) => {
      if (batch === undefined) {
        const rotations: Rotation[] = []
        batch = rotations
        // commitBatch settles every rotation itself and never throws.
        serial.run(async () => {
          // The other refreshes read from the sockets in this turn join before the batch closes.
          await nextTurn()
          if (batch === rotations) batch = undefined
          commitBatch(rotations)
        }).catch(() => {})
      }
      batch.push({ input, decide, onReuse, resolve, reject })
      if (batch.length === MAX_BATCH) batch = undefined
    }),
    ready: () => queue(() => {
      const result = probe.check()
      wrote()
      return result
    }),
    // The worker closes its connection first, so this one is the last and SQLite checkpoints and removes the WAL.
    close: async () => {
      await queue(async () => {
        await checkpoints?.close()
        if (sqlite.open) sqlite.close()
      })
    }
  }
}
