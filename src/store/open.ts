// Choosing the engine: PostgreSQL when DATABASE_URL is set, the SQLite file otherwise. The PostgreSQL modules
// (pg, drizzle's node-postgres, the pg schema) are imported only then: the SQLite default never loads them.
import type { Config } from '../config.js'
import type { Store } from './index.js'
import type { PostgresStoreOptions } from './postgres.js'
import { openSqliteStore } from './sqlite.js'

export type StoreConfig = Pick<Config, 'DATABASE_PATH'> & Partial<Pick<Config, 'DATABASE_URL' | 'DATABASE_POOL_SIZE' | 'DATABASE_STATEMENT_TIMEOUT'>>

export interface StoreOptions extends PostgresStoreOptions {
  /** SQLite: the WAL checkpoint worker failed or died; checkpoints are SQLite's own again (src/db/checkpoint.ts). */
  onCheckpointError?: (err: Error) => void
}

export async function openStore (config: StoreConfig, options: StoreOptions = {}): Promise<Store> {
  if (config.DATABASE_URL !== undefined) {
    const { openPostgresStore } = await import('./postgres.js')
    return await openPostgresStore({
      DATABASE_URL: config.DATABASE_URL,
      DATABASE_POOL_SIZE: config.DATABASE_POOL_SIZE ?? 10,
      DATABASE_STATEMENT_TIMEOUT: config.DATABASE_STATEMENT_TIMEOUT ?? 5000
    }, options)
  }
  return openSqliteStore(config.DATABASE_PATH, { checkpoints: { onError: options.onCheckpointError } })
}
