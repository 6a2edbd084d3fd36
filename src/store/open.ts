// Choosing the engine: PostgreSQL when DATABASE_URL is set, the SQLite file otherwise.
import type { Config } from '../config.js'
import type { Store } from './index.js'
import { openSqliteStore } from './sqlite.js'

export async function openStore (config: Pick<Config, 'DATABASE_PATH'>): Promise<Store> {
  return openSqliteStore(config.DATABASE_PATH)
}
