// Opening PostgreSQL: a node-postgres pool with bounded size and statement time, and the migrations applied
// once under an advisory lock, refusing a database whose schema is newer than this build.
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import { migrate } from 'drizzle-orm/node-postgres/migrator'
import pg from 'pg'
import { migrationsFolders } from '../paths.js'
import * as schema from './schema-pg.js'

export type PgDb = NodePgDatabase<typeof schema>

export interface OpenedPostgres {
  pool: pg.Pool
  db: PgDb
  /** Ends the pool (waits for checked-out clients to be released). */
  close (): Promise<void>
}

export interface PostgresConfig {
  DATABASE_URL: string
  DATABASE_POOL_SIZE: number
  DATABASE_STATEMENT_TIMEOUT: number
}

export interface OpenPostgresOptions {
  /** Apply pending migrations first (default true). */
  migrations?: boolean
  /** Told about errors of idle pooled connections (PostgreSQL restarted, a backend terminated). */
  onPoolError?: (err: Error) => void
}

// How long a new connection may take before a request gives up on it (answered 503, src/db/faults.ts).
const CONNECT_TIMEOUT_MS = 5000
// One fixed advisory-lock key for "migrating this database" (advisory locks are per database).
const MIGRATION_LOCK = 0x6c6b6d67 // 'lkmg'
const MIGRATIONS_SCHEMA = 'drizzle'
const MIGRATIONS_TABLE = '__drizzle_migrations'

/** Start-up refusal: the database was migrated by a newer Latchkey. */
export class SchemaTooNewError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'SchemaTooNewError'
  }
}

/**
 * Apply this build's pending migrations to the database at `url`, holding an advisory lock for the whole
 * check-and-apply, so instances starting together on an empty database apply them exactly once. Needs only
 * ownership of the database (CREATE on it, for drizzle's bookkeeping schema), never a superuser. Throws
 * SchemaTooNewError when the database records a migration this build does not know.
 */
export async function migratePostgres (url: string): Promise<{ applied: number }> {
  const folder = migrationsFolders.postgres
  const known = readMigrationFiles({ migrationsFolder: folder })
  // Its own connection without statement_timeout: waiting for another instance's migration is not a stuck query.
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS })
  await client.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
    const before = await appliedMigrations(client)
    const hashes = new Set(known.map((m) => m.hash))
    const unknown = before.filter((row) => !hashes.has(row.hash))
    if (unknown.length > 0) {
      const newest = new Date(Math.max(...unknown.map((row) => Number(row.created_at)))).toISOString()
      throw new SchemaTooNewError(`the PostgreSQL database has ${unknown.length} migration(s) this Latchkey build does not know ` +
        `(the newest from ${newest}): upgrade Latchkey to the version that migrated it, or point DATABASE_URL at another database`)
    }
    await migrate(drizzle({ client }), { migrationsFolder: folder, migrationsSchema: MIGRATIONS_SCHEMA, migrationsTable: MIGRATIONS_TABLE })
    const after = await appliedMigrations(client)
    return { applied: after.length - before.length }
  } finally {
    // Ending the session releases the advisory lock too, also when a statement above failed.
    await client.end()
  }
}

async function appliedMigrations (client: pg.Client): Promise<Array<{ hash: string, created_at: string }>> {
  const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`${MIGRATIONS_SCHEMA}.${MIGRATIONS_TABLE}`])
  if (exists.rows[0]?.t === null) return []
  const rows = await client.query<{ hash: string, created_at: string }>(`SELECT hash, created_at FROM "${MIGRATIONS_SCHEMA}"."${MIGRATIONS_TABLE}" ORDER BY created_at`)
  return rows.rows
}

/** A pool on DATABASE_URL (migrated first unless `migrations: false`), and drizzle over it with schema-pg. */
export async function openPostgres (config: PostgresConfig, options: OpenPostgresOptions = {}): Promise<OpenedPostgres> {
  if (options.migrations !== false) await migratePostgres(config.DATABASE_URL)
  const pool = new pg.Pool({
    connectionString: config.DATABASE_URL,
    max: config.DATABASE_POOL_SIZE,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // Sent as a startup parameter, so every pooled connection has it without an extra round trip.
    statement_timeout: config.DATABASE_STATEMENT_TIMEOUT,
    // A transaction left open by a bug must not hold row locks forever.
    idle_in_transaction_session_timeout: Math.max(config.DATABASE_STATEMENT_TIMEOUT * 2, 10_000)
  })
  // Without a listener an idle client's error (PostgreSQL restarting, pg_terminate_backend) is an uncaught
  // 'error' event and kills the process; the pool drops that client and opens a new one on the next query.
  pool.on('error', (err) => options.onPoolError?.(err))
  const db = drizzle({ client: pool, schema })
  return { pool, db, close: async () => { await pool.end() } }
}
