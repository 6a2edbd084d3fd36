// The WAL checkpoint worker (src/db/checkpoint.ts) on a real SQLite file: started by the first write, the WAL
// bounded under constant writes, joined by close() (so SQLite removes the WAL), and the fallback when it dies.
import t from 'tap'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js'
import { tempDir } from '../helper.js'

const nextTurn = async (): Promise<void> => { await new Promise<void>((resolve) => { setImmediate(resolve) }) }
const pause = async (ms: number): Promise<void> => { await new Promise<void>((resolve) => { setTimeout(resolve, ms) }) }

let serial = 0
/** One autocommit write (a users row and its index entries). */
async function write (store: SqliteStore): Promise<void> {
  serial += 1
  await store.insertUser({ username: `user_${serial}`, email: `user_${serial}@example.com`, passwordHash: 'x'.repeat(200), createdAt: new Date() })
}

const autocheckpoint = (store: SqliteStore): number => Number(store.sqlite.pragma('wal_autocheckpoint', { simple: true }))

t.test('no worker before the first write; the first write starts it and turns SQLite\'s own checkpoints off', async (t) => {
  const path = join(tempDir(t), 'latchkey.db')
  const store = openSqliteStore(path)
  t.teardown(() => store.close())
  t.equal(store.checkpoints?.running, false, 'a store that has not written has no worker')
  t.equal(autocheckpoint(store), 1000, 'SQLite checkpoints inside commits meanwhile (its default)')
  await store.countUsers()
  await store.userByLogin('nobody')
  t.equal(store.checkpoints?.running, false, 'reads start no worker')
  await write(store)
  t.equal(store.checkpoints?.running, true, 'the worker runs')
  t.equal(autocheckpoint(store), 0, 'the serving connection no longer checkpoints in its commits')
})

t.test('under constant writes the worker truncates the WAL again and again: its file stays bounded', async (t) => {
  const path = join(tempDir(t), 'latchkey.db')
  const before = serial
  const store = openSqliteStore(path, { checkpoints: { intervalMs: 5, restartFrames: 64 } })
  t.teardown(() => store.close())
  const pageSize = Number(store.sqlite.pragma('page_size', { simple: true }))
  const restarts = (): number => store.checkpoints?.restarts ?? 0
  /** Write without stopping (only the worker's hold makes a write wait) until the worker has truncated the WAL. */
  const round = async (): Promise<number> => {
    const from = restarts()
    let n = 0
    while (restarts() === from) {
      await write(store)
      await nextTurn()
      n++
    }
    // The next write starts the WAL over.
    await write(store)
    return n + 1
  }
  await round() // the worker's start-up: writes pile up until its first look
  let writes = 0
  const ROUNDS = 10
  for (let i = 1; i <= ROUNDS; i++) {
    writes += await round()
    // Cut to nothing by the TRUNCATE; since then at most the write queued behind the hold and the one above.
    const size = statSync(`${path}-wal`).size
    t.ok(size <= 32 + 32 * (24 + pageSize), `round ${i}: ${size} bytes of WAL after the truncation`)
  }
  // Every write appends at least one page-sized frame: without the worker the WAL would hold them all until SQLite's
  // own checkpoint.
  t.ok(writes * pageSize > 64 * pageSize * ROUNDS / 4, `${writes} writes in ${ROUNDS} rounds`)
  t.equal((store.sqlite.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n, serial - before, 'every write is there')
})

t.test('close() joins the worker first, so the last connection checkpoints and removes the WAL', async (t) => {
  const path = join(tempDir(t), 'latchkey.db')
  const store = openSqliteStore(path, { checkpoints: { intervalMs: 5 } })
  for (let i = 0; i < 50; i++) await write(store)
  await pause(20)
  t.ok(existsSync(`${path}-wal`), 'a WAL while open')
  await store.close()
  t.equal(store.checkpoints?.running, false, 'the worker is gone')
  t.notOk(existsSync(`${path}-wal`), 'no WAL left: no other connection was open when the store closed')
  await store.close()
  t.pass('close is idempotent')
  const db = new Database(path, { readonly: true })
  t.teardown(() => db.close())
  t.equal((db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n >= 50, true, 'the rows are in the database file')
})

t.test('when the worker dies, SQLite checkpoints inside commits again, the error is reported and writes go on', async (t) => {
  const path = join(tempDir(t), 'latchkey.db')
  const errors: Error[] = []
  const store = openSqliteStore(path, { checkpoints: { onError: (err) => { errors.push(err) } } })
  t.teardown(() => store.close())
  await write(store)
  t.equal(store.checkpoints?.running, true)
  await store.checkpoints!.terminate()
  t.equal(store.checkpoints?.running, false, 'not running')
  t.equal(autocheckpoint(store), 1000, 'auto-checkpoint is back at SQLite\'s default')
  t.equal(errors.length, 1, 'one error reported')
  t.match(errors[0]?.message, /exited/)
  for (let i = 0; i < 5; i++) await write(store)
  t.equal(store.checkpoints?.running, false, 'no new worker is started')
  await store.close()
  t.notOk(existsSync(`${path}-wal`), 'close still removes the WAL')
})

t.test('writes queued behind a hold wait for its TRUNCATE and then commit; a ":memory:" store has no worker', async (t) => {
  const path = join(tempDir(t), 'latchkey.db')
  const before = serial
  // restartFrames 1: every look after a write asks for a hold.
  const store = openSqliteStore(path, { checkpoints: { intervalMs: 1, restartFrames: 1 } })
  t.teardown(() => store.close())
  while ((store.checkpoints?.restarts ?? 0) < 5) {
    await Promise.all([write(store), write(store), write(store)])
    await pause(1)
  }
  t.equal((store.sqlite.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n, serial - before, 'every write committed')
  const memory = openSqliteStore(':memory:')
  t.teardown(() => memory.close())
  t.equal(memory.checkpoints, undefined)
})
