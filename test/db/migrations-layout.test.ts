// migrations/ → migrations/sqlite/: a database migrated from the old flat layout keeps working, nothing re-applied.
import Database from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { migrate } from 'drizzle-orm/better-sqlite3/migrator'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { openDatabase } from '../../src/db/open.js'
import { migrationsFolders } from '../../src/paths.js'
import { tempDir } from '../helper.js'

// SHA-256 of each file as it was under migrations/ (commit 110a0e6): drizzle records these hashes, and the
// migrator skips what a database's newest created_at already covers, so the files must not change.
const OLD_HASHES = [
  'fe841031ab1be9cf87725c5a406ae56781e5e3648d590e911108c8cdaf10a22d',
  '41fb4232460491d8b3d640d26e6ed9d7f3b8fa79afbd3c74a2e1e47fc1913824',
  '55362c1c12febc05efa3c88351ca0dca5b592951f2c93415c0eaf4b7d46e45d5',
  'bc1b8e151fdaf8f725ce51b1bef57b9584207dbdc8180943e3a2c92473882cb9',
  '7dd53f6491d79872683bf60e05b29109d0958c110a705c1dab046c7ddd9ac820'
]

/** The old layout: the same files flat under <dir>/migrations, optionally only the first `count` of them. */
function oldLayout (dir: string, count?: number): string {
  const folder = join(dir, 'migrations')
  mkdirSync(join(folder, 'meta'), { recursive: true })
  for (const name of readdirSync(migrationsFolders.sqlite).filter((f) => f.endsWith('.sql'))) cpSync(join(migrationsFolders.sqlite, name), join(folder, name))
  const journal = JSON.parse(readFileSync(join(migrationsFolders.sqlite, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }
  if (count !== undefined) journal.entries = journal.entries.slice(0, count)
  writeFileSync(join(folder, 'meta', '_journal.json'), JSON.stringify(journal))
  return folder
}

function migrateWith (file: string, folder: string): void {
  const sqlite = new Database(file)
  migrate(drizzle({ client: sqlite }), { migrationsFolder: folder })
  sqlite.prepare("INSERT INTO users (username, email, password_hash, created_at) VALUES ('old', 'old@example.com', 'x', 0)").run()
  sqlite.close()
}

t.test('the SQLite migration files are byte for byte the ones the old layout shipped', async (t) => {
  t.same(readMigrationFiles({ migrationsFolder: migrationsFolders.sqlite }).map((m) => m.hash), OLD_HASHES)
})

t.test('a database created from the old layout opens with the new one and nothing is re-applied', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'latchkey.db')
  migrateWith(file, oldLayout(dir))
  const old = new Database(file)
  const before = old.prepare('SELECT id, hash, created_at FROM __drizzle_migrations ORDER BY id').all()
  old.close()
  t.equal(before.length, OLD_HASHES.length)

  const { sqlite } = openDatabase(file)
  t.teardown(() => sqlite.close())
  t.same(sqlite.prepare('SELECT id, hash, created_at FROM __drizzle_migrations ORDER BY id').all(), before, 'no migration row added or changed')
  t.same(sqlite.prepare('SELECT username FROM users').pluck().all(), ['old'], 'the data is still there')
})

t.test('a database from an older release (old layout, fewer migrations) is brought up to date by the new layout', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'latchkey.db')
  migrateWith(file, oldLayout(dir, 3))
  const { sqlite } = openDatabase(file)
  t.teardown(() => sqlite.close())
  t.same(sqlite.prepare('SELECT hash FROM __drizzle_migrations ORDER BY id').pluck().all(), OLD_HASHES, 'the two missing ones applied, once each')
  t.ok(sqlite.prepare("SELECT name FROM sqlite_master WHERE name = 'audit_events'").get(), 'the newest migration\'s table exists')
})
