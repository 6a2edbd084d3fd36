// Crash safety of refresh rotation (group commit, checkpoints in a worker): kill -9 the real server in the middle of
// concurrent refresh chains; every rotation it answered survives, so each chain's last token still refreshes.
import t from 'tap'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { PASSWORD, tempDir } from '../helper.js'
import { startServer, type ServerProcess } from './server-process.js'

const CHAINS = 12
/** Kill once this many refreshes have been answered (with more in flight). */
const KILL_AFTER = 600
t.setTimeout(600_000)

const post = async (server: ServerProcess, path: string, body: Record<string, string>, form = false) => await fetch(`${server.base}${path}`, {
  method: 'POST',
  headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
  body: form ? new URLSearchParams(body) : JSON.stringify(body)
})

t.test('kill -9 during concurrent refreshes loses no answered rotation and never corrupts the file', async (t) => {
  const dir = tempDir(t)
  const databasePath = join(dir, 'latchkey.db')
  // A grace longer than any restart: a rotation committed but cut off before its answer leaves the chain's last
  // answered token one step behind, which is then a second tab (200), never a reuse.
  const env = { REFRESH_REUSE_GRACE: '3600' }
  const victim = await startServer(t, databasePath, dir, env)
  const register = await post(victim, '/auth/register', { username: 'chains', email: 'chains@example.com', password: PASSWORD })
  t.equal(register.status, 201)
  const last: string[] = []
  for (let c = 0; c < CHAINS; c++) {
    const res = await post(victim, '/auth/token', { username: 'chains', password: PASSWORD }, true)
    t.equal(res.status, 200)
    last.push(((await res.json()) as { refresh_token: string }).refresh_token)
  }

  let answered = 0
  let killed = false
  let cutOff = 0
  await Promise.all(last.map(async (_, c) => {
    while (!killed) {
      try {
        const res = await post(victim, '/auth/refresh', { refresh_token: last[c] })
        if (res.status !== 200) {
          if (!killed) throw new Error(`unexpected ${res.status} ${await res.text()}`)
          continue
        }
        last[c] = ((await res.json()) as { refresh_token: string }).refresh_token
        answered += 1
        if (answered === KILL_AFTER && !killed) {
          killed = true
          victim.child.kill('SIGKILL')
        }
      } catch (err) {
        if (!killed) throw err
        cutOff += 1
      }
    }
  }))
  await victim.exited
  t.equal(victim.child.signalCode, 'SIGKILL', 'the server was killed with SIGKILL')
  t.comment(`${answered} refreshes answered, ${cutOff} cut off by the kill`)

  const server = await startServer(t, databasePath, dir, env)
  const statuses = await Promise.all(last.map(async (token) => (await post(server, '/auth/refresh', { refresh_token: token })).status))
  t.same(statuses, last.map(() => 200), `each of the ${CHAINS} chains' last answered token refreshes after the restart`)
  server.child.kill('SIGTERM')
  t.equal((await server.exited).code, 0, 'the restarted server shuts down gracefully')
  const db = new Database(databasePath)
  t.teardown(() => db.close())
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'PRAGMA integrity_check is ok')
})
