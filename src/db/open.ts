// Opening the SQLite file: pragmas chosen for durability and concurrency, then pending migrations.
import { mkdirSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import { migrate } from 'drizzle-orm/better-sqlite3/migrator'
import { migrationsFolders } from '../paths.js'
import * as schema from './schema.js'
import { withStartupLock } from './startup-lock.js'

export type Db = BetterSQLite3Database<typeof schema>

export interface OpenedDatabase {
  sqlite: Database.Database
  db: Db
}

/** The data directory is the folder that holds the database file; keys live beside it. */
export function dataDirectory (databasePath: string): string {
  return dirname(databasePath)
}

/**
 * mkdir -p, one level at a time: `mkdirSync(…, { recursive: true })` spins forever under /proc and
 * similar pseudo-filesystems (it retries on ENOENT), where this throws a plain error instead.
 */
export function ensureDirectory (dir: string): void {
  try {
    if (statSync(dir).isDirectory()) return
    throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR', path: dir })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const parent = dirname(dir)
  if (parent !== dir) ensureDirectory(parent)
  mkdirSync(dir)
}

export function openDatabase (databasePath: string): OpenedDatabase {
  const dir = dataDirectory(databasePath)
  ensureDirectory(dir)
  // Switching a new file to WAL and migrating it must not race another process starting on it.
  return databasePath === ':memory:' ? open(databasePath) : withStartupLock(dir, () => open(databasePath))
}

function open (databasePath: string): OpenedDatabase {
  const sqlite = new Database(databasePath)
  try {
    // Before anything else: another connection may hold the write lock for a moment.
    sqlite.pragma('busy_timeout = 5000')
    // WAL lets readers run beside the writer. synchronous=NORMAL in WAL mode keeps every committed
    // transaction across a process crash (kill -9); only an OS crash or power loss can drop the
    // last commits, and never corrupts the file (https://www.sqlite.org/pragma.html#pragma_synchronous).
    sqlite.pragma('journal_mode = WAL')
    sqlite.pragma('synchronous = NORMAL')
    sqlite.pragma('foreign_keys = ON')
    const db = drizzle({ client: sqlite, schema })
    migrate(db, { migrationsFolder: migrationsFolders.sqlite })
    return { sqlite, db }
  } catch (err) {
    sqlite.close()
    throw err
  }
}
