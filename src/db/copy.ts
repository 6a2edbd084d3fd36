// `latchkey db copy --to postgres://…`: a SQLite database (and its data directory's keys) into an empty
// PostgreSQL one, in one transaction, ids kept, identity sequences moved past them.
import { existsSync, readFileSync } from 'node:fs'
import { count, getTableName, sql } from 'drizzle-orm'
import type { PgTable } from 'drizzle-orm/pg-core'
import type { SQLiteTable } from 'drizzle-orm/sqlite-core'
import { listKeys } from '../services/keys.js'
import { totpKeyPath } from '../services/totp-key.js'
import { dataDirectory, openDatabase } from './open.js'
import { openPostgres } from './postgres.js'
import * as pgSchema from './schema-pg.js'
import * as schema from './schema.js'

/** Parents before children, so foreign keys hold at every insert. */
const TABLES = ['users', 'sessions', 'refreshTokens', 'tasks', 'accountTokens', 'totpSecrets', 'totpRecoveryCodes', 'auditEvents'] as const
/** Tables whose `id` is an identity column (totp_secrets is keyed by user_id). */
const WITH_IDENTITY = new Set<string>(['users', 'sessions', 'refreshTokens', 'tasks', 'accountTokens', 'totpRecoveryCodes', 'auditEvents'])
const BATCH = 500

export class CopyRefused extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CopyRefused'
  }
}

export interface CopyReport {
  /** Rows copied per table (SQL table names), then `signing_keys` and `server_secrets`. */
  counts: Record<string, number>
}

/**
 * Copy everything from the SQLite file at `databasePath` into the PostgreSQL database at `url` (migrated
 * first). Refuses a target that already holds a user, a session, a key or any other row; all or nothing.
 */
export async function copySqliteToPostgres (databasePath: string, url: string): Promise<CopyReport> {
  if (databasePath !== ':memory:' && !existsSync(databasePath)) throw new CopyRefused(`${databasePath} does not exist: nothing to copy`)
  const { sqlite, db } = openDatabase(databasePath)
  const target = await openPostgres({ DATABASE_URL: url, DATABASE_POOL_SIZE: 2, DATABASE_STATEMENT_TIMEOUT: 0 })
  try {
    const dataDir = dataDirectory(databasePath)
    const keys = listKeys(dataDir)
    const totpFile = totpKeyPath(dataDir)
    const totpKey = existsSync(totpFile) ? readFileSync(totpFile, 'utf8').trim() : undefined
    const counts: Record<string, number> = {}
    await target.db.transaction(async (tx) => {
      const targets = [...TABLES.map((name) => pgSchema[name] as PgTable), pgSchema.signingKeys, pgSchema.serverSecrets]
      for (const table of targets) {
        const [{ n }] = await tx.select({ n: count() }).from(table)
        if (n > 0) throw new CopyRefused(`the PostgreSQL database is not empty (${getTableName(table)} has ${n} row(s)): copy into a new, empty database`)
      }
      for (const name of TABLES) {
        const rows = db.select().from(schema[name] as SQLiteTable).all()
        for (let i = 0; i < rows.length; i += BATCH) {
          await tx.insert(pgSchema[name] as PgTable).values(rows.slice(i, i + BATCH))
        }
        const tableName = getTableName(pgSchema[name] as PgTable)
        if (WITH_IDENTITY.has(name) && rows.length > 0) {
          await tx.execute(sql`SELECT setval(pg_get_serial_sequence(${tableName}, 'id'), (SELECT max(id) FROM ${sql.identifier(tableName)}))`)
        }
        counts[tableName] = rows.length
      }
      for (const key of keys) await tx.insert(pgSchema.signingKeys).values({ kid: key.kid, privatePem: key.privatePem, createdAt: key.createdAt })
      counts.signing_keys = keys.length
      if (totpKey !== undefined) await tx.insert(pgSchema.serverSecrets).values({ name: 'totp', value: totpKey, createdAt: new Date() })
      counts.server_secrets = totpKey === undefined ? 0 : 1
    })
    return { counts }
  } finally {
    sqlite.close()
    await target.close()
  }
}
