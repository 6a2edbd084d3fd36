// A native fault (SIGBUS from a truncated -shm file) ends the process by itself, so a supervisor restarts it.
import t from 'tap'
import { truncateSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { PASSWORD, tempDir } from '../helper.js'
import { startServer, type Exit } from './server-process.js'

// Real processes on a machine that may be busy: well above tap's default 120 s per file.
t.setTimeout(600_000)
t.test('truncating the -shm file under a running server: the next access faults and the process exits', async (t) => {
  const dir = tempDir(t)
  const databasePath = join(dir, 'latchkey.db')
  const server = await startServer(t, databasePath, tmpdir())
  const register = await fetch(`${server.base}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'shm_user', email: 'shm@example.com', password: PASSWORD })
  })
  t.equal(register.status, 201, 'the server works before the fault')

  truncateSync(`${databasePath}-shm`, 0)
  // SQLite reads the WAL index through its mmap of -shm at the start of every transaction: past the end
  // of the file that access raises SIGBUS. The request itself gets no answer.
  const request = fetch(`${server.base}/users/me/sessions`, { headers: { authorization: 'Bearer x' } })
    .then((res) => res.status, (err: Error) => err.message)
  const ready = fetch(`${server.base}/ready`).then((res) => res.status, (err: Error) => err.message)

  // A hang would otherwise keep this test waiting forever; 20 s is far above the milliseconds it takes.
  const outcome = await Promise.race([server.exited, sleep(20_000).then(() => 'still running' as const)])
  t.not(outcome, 'still running', 'the process exited by itself')
  const exit = outcome as Exit
  t.ok(exit.signal !== null || (exit.code ?? 0) !== 0, `it ended non-zero (signal ${exit.signal}, code ${exit.code}), so Restart=on-failure fires`)
  t.comment(`exit: signal ${exit.signal}, code ${exit.code}; in-flight answers: ${String(await request)}, ${String(await ready)}`)
})
