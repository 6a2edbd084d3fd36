import t from 'tap'
import Fastify from 'fastify'
import { join } from 'node:path'
import configPlugin from '../../plugins/config.js'
import dbPlugin from '../../plugins/db.js'
import { ensureDirectory, openDatabase } from '../../src/db/open.js'
import { writeFileSync } from 'node:fs'
import { testConfig, tempDir } from '../helper.js'

t.test('db plugin opens SQLite with durable pragmas and migrations applied, closes on shutdown', async (t) => {
  const app = Fastify()
  await app.register(configPlugin, { config: testConfig(t) })
  await app.register(dbPlugin)
  await app.ready()
  t.equal(app.sqlite.pragma('journal_mode', { simple: true }), 'wal')
  t.equal(app.sqlite.pragma('foreign_keys', { simple: true }), 1)
  t.equal(app.sqlite.pragma('synchronous', { simple: true }), 1, 'NORMAL: commits survive a process crash in WAL mode')
  t.equal(app.sqlite.pragma('busy_timeout', { simple: true }), 5000)
  const tables = app.sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all()
  t.same(tables.filter((n) => !String(n).startsWith('sqlite_') && !String(n).startsWith('__')), ['account_tokens', 'audit_events', 'refresh_tokens', 'sessions', 'tasks', 'totp_recovery_codes', 'totp_secrets', 'users'])
  await app.close()
  t.equal(app.sqlite.open, false)
})

t.test('migrations run on an empty file and are idempotent on rerun', async (t) => {
  const path = join(tempDir(t), 'nested', 'dir', 'x.db')
  const first = openDatabase(path)
  const count = () => first.sqlite.prepare('SELECT count(*) FROM __drizzle_migrations').pluck().get()
  const applied = count()
  t.ok(Number(applied) >= 1)
  first.sqlite.close()
  const second = openDatabase(path)
  t.equal(second.sqlite.prepare('SELECT count(*) FROM __drizzle_migrations').pluck().get(), applied)
  second.sqlite.close()
})

t.test('usernames are unique ignoring case and emails unique, enforced by the database', async (t) => {
  const { sqlite } = openDatabase(join(tempDir(t), 'u.db'))
  t.teardown(() => sqlite.close())
  const insert = sqlite.prepare("INSERT INTO users (username, email, password_hash, created_at) VALUES (?, ?, 'x', 0)")
  insert.run('Alice', 'a@example.com')
  t.throws(() => insert.run('alice', 'b@example.com'), { code: 'SQLITE_CONSTRAINT_UNIQUE' })
  t.throws(() => insert.run('bob', 'a@example.com'), { code: 'SQLITE_CONSTRAINT_UNIQUE' })
})

t.test('the data directory is created level by level; impossible places fail fast with a clear code', async (t) => {
  const dir = tempDir(t)
  ensureDirectory(join(dir, 'a', 'b', 'c'))
  ensureDirectory(join(dir, 'a', 'b', 'c'))
  writeFileSync(join(dir, 'file'), '')
  t.throws(() => ensureDirectory(join(dir, 'file', 'sub')), { code: 'ENOTDIR' })
  // mkdirSync({ recursive: true }) never returns here; ours throws at once.
  t.throws(() => openDatabase('/proc/latchkey-test/x.db'), { code: 'ENOENT' })
})
