// Crash safety: kill -9 the real server in the middle of concurrent registrations; every acknowledged one survives.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { packageRoot } from '../../src/paths.js'
import { PASSWORD, tempDir, testEnv } from '../helper.js'

const cli = join(packageRoot, 'dist', 'src', 'cli.js')
const ROUNDS = 3
const WORKERS = 12
/** Kill once this many registrations of the round have been acknowledged (with more still in flight). */
const KILL_AFTER = 40

interface Server { child: ChildProcess, base: string, exited: Promise<number | null> }

async function startServer (t: Test, databasePath: string, cwd: string): Promise<Server> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    ...Object.fromEntries(Object.entries(testEnv).map(([k, v]) => [k, String(v)])),
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_PATH: databasePath,
    RATE_LIMIT_PER_MINUTE: '0',
    LOGIN_THROTTLE_AFTER: '0',
    LOG_LEVEL: 'silent'
  }
  // cwd is the temp dir, so a developer's ./.env cannot leak into the test.
  const child = spawn(process.execPath, [cli], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let output = ''
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 30 s:\n${output}`)), 30_000)
    const onData = (d: Buffer) => {
      output += String(d)
      const match = /serving on (http:\/\/[^\s]+)/.exec(output)
      if (match !== null) { clearTimeout(timer); resolve(match[1]) }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}) before listening:\n${output}`)) })
  })
  return { child, base, exited }
}

function integrityCheck (databasePath: string): string {
  const db = new Database(databasePath)
  try {
    return db.pragma('integrity_check', { simple: true }) as string
  } finally {
    db.close()
  }
}

t.test('kill -9 during concurrent registrations loses no acknowledged write and never corrupts the file', async (t) => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` before the tests (CI does)`)
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
  t.equal(await server.exited, 0, 'the last server shuts down gracefully')
  const db = new Database(databasePath, { readonly: true })
  const users = (db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n
  db.close()
  t.ok(users >= acknowledged.length, `${users} users stored ≥ ${acknowledged.length} acknowledged (a cut-off request may have committed without its answer)`)
  t.equal(integrityCheck(databasePath), 'ok', 'integrity_check after a clean shutdown')
})
