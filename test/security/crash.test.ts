// Crash safety: kill -9 the real server in the middle of concurrent registrations; every acknowledged one survives.
import t from 'tap'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { PASSWORD, tempDir } from '../helper.js'
import { startServer } from './server-process.js'

const ROUNDS = 3
const WORKERS = 12
/** Kill once this many registrations of the round have been acknowledged (with more still in flight). */
const KILL_AFTER = 40
// Real processes on a machine that may be busy: well above tap's default 120 s per file.
t.setTimeout(600_000)

function integrityCheck (databasePath: string): string {
  const db = new Database(databasePath)
  try {
    return db.pragma('integrity_check', { simple: true }) as string
  } finally {
    db.close()
  }
}

t.test('kill -9 during concurrent registrations loses no acknowledged write and never corrupts the file', async (t) => {
  const dir = tempDir(t)
  const databasePath = join(dir, 'latchkey.db')
  const acknowledged: string[] = []
  const outer = t
  let server = await startServer(t, databasePath, dir)

  for (let round = 1; round <= ROUNDS; round++) {
    await t.test(`round ${round}`, async (t) => {
      let ackedThisRound = 0
      let killed = false
      let failedInFlight = 0
      let serial = 0
      const victim = server
      const worker = async (w: number) => {
        while (!killed) {
          serial += 1
          const username = `crash_r${round}_w${w}_${serial}`
          try {
            const res = await fetch(`${victim.base}/auth/register`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ username, email: `${username}@example.com`, password: PASSWORD })
            })
            if (res.status === 201) {
              acknowledged.push(username)
              ackedThisRound += 1
              if (ackedThisRound === KILL_AFTER && !killed) {
                // Mid-stream: the other workers have requests in flight right now.
                killed = true
                victim.child.kill('SIGKILL')
              }
            } else if (!killed) {
              throw new Error(`unexpected ${res.status} ${await res.text()}`)
            }
          } catch (err) {
            if (!killed) throw err
            failedInFlight += 1
          }
        }
      }
      await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)))
      await victim.exited
      t.equal(victim.child.signalCode, 'SIGKILL', 'the server was killed with SIGKILL')
      t.ok(ackedThisRound >= KILL_AFTER, `${ackedThisRound} registrations acknowledged this round`)
      t.comment(`round ${round}: ${ackedThisRound} acknowledged, ${failedInFlight} requests cut off by the kill`)

      // Registered on the outer test: the restarted server outlives this round.
      server = await startServer(outer, databasePath, dir)
      t.pass('the server restarts on the same file')

      // Every registration that was answered 201 in any round so far can log in.
      const failures: string[] = []
      const queue = [...acknowledged]
      await Promise.all(Array.from({ length: 8 }, async () => {
        for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
          const res = await fetch(`${server.base}/auth/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ username: name, password: PASSWORD })
          })
          if (res.status !== 200) failures.push(`${name}: ${res.status}`)
        }
      }))
      t.same(failures, [], `all ${acknowledged.length} acknowledged registrations log in after the restart`)
      t.equal(integrityCheck(databasePath), 'ok', 'PRAGMA integrity_check is ok')
      const res = await fetch(`${server.base}/ready`)
      t.equal(res.status, 200, 'the restarted server is ready')
    })
  }

  server.child.kill('SIGTERM')
  t.equal((await server.exited).code, 0, 'the last server shuts down gracefully')
  const db = new Database(databasePath, { readonly: true })
  const users = (db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n
  db.close()
  t.ok(users >= acknowledged.length, `${users} users stored ≥ ${acknowledged.length} acknowledged (a cut-off request may have committed without its answer)`)
  t.equal(integrityCheck(databasePath), 'ok', 'integrity_check after a clean shutdown')
})
