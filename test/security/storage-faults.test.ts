// Fault injection on the real server: a full disk and an immutable database mid-run lose no acknowledged write.
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import argon2 from 'argon2'
import Database from 'better-sqlite3'
import { PASSWORD, tempDir } from '../helper.js'
import { startServer, stopServer, type ServerProcess } from './server-process.js'

const OTHER_PASSWORD = 'staple battery horse correct, again'
const ROUTES = ['register', 'login', 'refresh', 'logout', 'password change', 'POST /tasks', 'PATCH /tasks/{id}',
  'DELETE /tasks/{id}', 'PATCH /users/me'] as const
type Route = typeof ROUTES[number]
type Check = (db: Database.Database) => boolean | Promise<boolean>

// Real processes on a machine that may be busy: well above tap's default 120 s per file.
t.setTimeout(600_000)
const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url')

/** What the clients were told: every 2xx with a way to find the write again, every refusal, every wrong answer. */
class Ledger {
  acked = new Map<Route, Check[]>(ROUTES.map((r) => [r, []]))
  refused = new Map<Route, number>(ROUTES.map((r) => [r, 0]))
  wrong: string[] = []
  phase: 'before' | 'fault' | 'after' = 'before'
  ackedIn = { before: 0, fault: 0, after: 0 }
  refusedIn = { before: 0, fault: 0, after: 0 }

  /** Classify one answer: true when acknowledged (2xx); a refusal must be a 503 problem with Retry-After. */
  async answer (route: Route, res: Response, check: () => Check | Promise<Check>): Promise<boolean> {
    if (res.status >= 200 && res.status < 300) {
      this.acked.get(route)!.push(await check())
      this.ackedIn[this.phase] += 1
      return true
    }
    const body = await res.text()
    if (res.status !== 503 || res.headers.get('retry-after') === null) this.wrong.push(`${route}: ${res.status} retry-after=${res.headers.get('retry-after')} ${body.slice(0, 200)}`)
    this.refused.set(route, this.refused.get(route)! + 1)
    this.refusedIn[this.phase] += 1
    return false
  }
}

interface Client { base: string, ledger: Ledger }

async function call (base: string, method: string, path: string, body?: unknown, token?: string, formBody?: Record<string, string>): Promise<Response> {
  const headers: Record<string, string> = {}
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  let payload: string | undefined
  if (formBody !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded'
    payload = new URLSearchParams(formBody).toString()
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json'
    payload = JSON.stringify(body)
  }
  return await fetch(`${base}${path}`, { method, headers, body: payload })
}

interface Account { id: number, username: string, password: string, access: string, refresh: string }

async function account (base: string, name: string): Promise<Account> {
  const reg = await call(base, 'POST', '/auth/register', { username: name, email: `${name}@example.com`, password: PASSWORD })
  if (reg.status !== 201) throw new Error(`setup register ${reg.status} ${await reg.text()}`)
  const tokens = await call(base, 'POST', '/auth/token', undefined, undefined, { username: name, password: PASSWORD })
  if (tokens.status !== 200) throw new Error(`setup login ${tokens.status}`)
  const { access_token: access, refresh_token: refresh } = await tokens.json() as { access_token: string, refresh_token: string }
  return { id: ((await reg.json()) as { id: number }).id, username: name, password: PASSWORD, access, refresh }
}

/** One worker per write route, each on its own account so that the expected final state is known. */
async function setUpWorkers (base: string, tag: string) {
  const [tasker, patcher, deleter, loginer, refresher, logouter, changer] =
    await Promise.all(['t', 'p', 'd', 'l', 'r', 'o', 'c'].map((w) => account(base, `${tag}_${w}`)))
  // Each acknowledged PATCH and DELETE gets a target of its own, so a lost one cannot hide behind a later one.
  const newTask = async (owner: Account, title: string) => ((await (await call(base, 'POST', '/tasks', { title }, owner.access)).json()) as { id: number }).id
  const toPatch: number[] = []
  const doomed: number[] = []
  for (let i = 0; i < 200; i++) {
    toPatch.push(await newTask(patcher, `to patch ${i}`))
    doomed.push(await newTask(deleter, `doomed ${i}`))
  }
  const profiles: Account[] = []
  for (let i = 0; i < 100; i += 10) profiles.push(...await Promise.all(Array.from({ length: 10 }, (_, j) => account(base, `${tag}_m${i + j}`))))
  let serial = 0
  const next = () => ++serial

  const workers: Record<Route, (c: Client) => Promise<void>> = {
    register: async ({ base, ledger }) => {
      const username = `${tag}_reg${next()}`
      const res = await call(base, 'POST', '/auth/register', { username, email: `${username}@example.com`, password: PASSWORD })
      await ledger.answer('register', res, async () => {
        const { id } = await res.json() as { id: number }
        return (db) => (db.prepare('SELECT username FROM users WHERE id = ?').pluck().get(id)) === username
      })
    },
    'POST /tasks': async ({ base, ledger }) => {
      const title = `task ${next()}`
      const res = await call(base, 'POST', '/tasks', { title, description: 'x'.repeat(2000) }, tasker.access)
      await ledger.answer('POST /tasks', res, async () => {
        const { id } = await res.json() as { id: number }
        return (db) => db.prepare('SELECT title FROM tasks WHERE id = ? AND user_id = ?').pluck().get(id, tasker.id) === title
      })
    },
    'PATCH /tasks/{id}': async ({ base, ledger }) => {
      const id = toPatch[0]
      if (id === undefined) { await sleep(20); return }
      const title = `patched ${next()}`
      const res = await call(base, 'PATCH', `/tasks/${id}`, { title, done: true }, patcher.access)
      if (await ledger.answer('PATCH /tasks/{id}', res, () => (db) => db.prepare('SELECT title FROM tasks WHERE id = ? AND done = 1').pluck().get(id) === title)) toPatch.shift()
    },
    'DELETE /tasks/{id}': async ({ base, ledger }) => {
      const id = doomed[0]
      if (id === undefined) { await sleep(20); return }
      const res = await call(base, 'DELETE', `/tasks/${id}`, undefined, deleter.access)
      if (await ledger.answer('DELETE /tasks/{id}', res, () => (db) => db.prepare('SELECT count(*) FROM tasks WHERE id = ?').pluck().get(id) === 0)) doomed.shift()
    },
    'PATCH /users/me': async ({ base, ledger }) => {
      const profile = profiles[0]
      if (profile === undefined) { await sleep(20); return }
      const email = `${profile.username}+${next()}@example.com`
      const res = await call(base, 'PATCH', '/users/me', { email }, profile.access)
      if (await ledger.answer('PATCH /users/me', res, () => (db) => db.prepare('SELECT email FROM users WHERE id = ?').pluck().get(profile.id) === email)) profiles.shift()
    },
    login: async ({ base, ledger }) => {
      const res = await call(base, 'POST', '/auth/token', undefined, undefined, { username: loginer.username, password: PASSWORD })
      await ledger.answer('login', res, async () => {
        const { refresh_token: token } = await res.json() as { refresh_token: string }
        return (db) => db.prepare('SELECT count(*) FROM refresh_tokens WHERE token_hash = ?').pluck().get(hashToken(token)) === 1
      })
    },
    refresh: async ({ base, ledger }) => {
      const old = refresher.refresh
      const res = await call(base, 'POST', '/auth/refresh', { refresh_token: old })
      await ledger.answer('refresh', res, async () => {
        const { refresh_token: token } = await res.json() as { refresh_token: string }
        refresher.refresh = token
        return (db) => db.prepare('SELECT count(*) FROM refresh_tokens WHERE token_hash = ?').pluck().get(hashToken(token)) === 1 &&
          db.prepare('SELECT rotated_at FROM refresh_tokens WHERE token_hash = ?').pluck().get(hashToken(old)) !== null
      })
    },
    logout: async ({ base, ledger }) => {
      // The session to end comes from a login, which is a write too and is counted as one.
      const login = await call(base, 'POST', '/auth/token', undefined, undefined, { username: logouter.username, password: PASSWORD })
      let token: string | undefined
      const ok = await ledger.answer('login', login, async () => {
        token = ((await login.json()) as { refresh_token: string }).refresh_token
        const hash = hashToken(token)
        return (db) => db.prepare('SELECT count(*) FROM refresh_tokens WHERE token_hash = ?').pluck().get(hash) === 1
      })
      if (!ok || token === undefined) return
      const sessionEnded = (db: Database.Database) => db.prepare(
        'SELECT s.ended_at FROM sessions s JOIN refresh_tokens r ON r.session_id = s.id WHERE r.token_hash = ?').pluck().get(hashToken(token!)) !== null
      for (let tries = 0; tries < 50; tries++) {
        const res = await call(base, 'POST', '/auth/logout', { refresh_token: token })
        if (await ledger.answer('logout', res, () => sessionEnded)) return
        await sleep(50)
      }
    },
    'password change': async ({ base, ledger }) => {
      const next = changer.password === PASSWORD ? OTHER_PASSWORD : PASSWORD
      const res = await call(base, 'POST', '/users/me/password', { current_password: changer.password, new_password: next }, changer.access)
      if (await ledger.answer('password change', res, () => async (db) =>
        await argon2.verify(db.prepare('SELECT password_hash FROM users WHERE id = ?').pluck().get(changer.id) as string, changer.password))) {
        changer.password = next
      }
    }
  }
  return workers
}

interface Timeline { fault: number, down?: number, restore?: number, up?: number }

/**
 * Hammer every write route, apply the fault mid-run, lift it, restart the server and check every
 * acknowledged write. `fault()` and `restore()` act on the files under the data directory.
 */
async function faultRun (t: Test, dir: string, tag: string, fault: () => void, restore: () => void) {
  const databasePath = join(dir, 'latchkey.db')
  let server: ServerProcess = await startServer(t, databasePath, tmpdir())
  const ledger = new Ledger()
  const workers = await setUpWorkers(server.base, tag)
  const run = { stopping: false }
  const loops = ROUTES.map(async (route) => {
    while (!run.stopping) {
      try {
        await workers[route]({ base: server.base, ledger })
      } catch (err) {
        ledger.wrong.push(`${route}: ${(err as Error).message}`)
        await sleep(50)
      }
    }
  })
  const readiness: Array<{ at: number, status: number, retryAfter: string | null }> = []
  const poller = (async () => {
    while (!run.stopping) {
      const res = await fetch(`${server.base}/ready`)
      readiness.push({ at: Date.now(), status: res.status, retryAfter: res.headers.get('retry-after') })
      await res.arrayBuffer()
      await sleep(100)
    }
  })()
  const until = async (condition: () => boolean, capMs: number) => {
    for (const end = Date.now() + capMs; !condition() && Date.now() < end;) await sleep(50)
  }

  await until(() => ROUTES.every((r) => ledger.acked.get(r)!.length >= 2), 20_000)
  ledger.phase = 'fault'
  const timeline: Timeline = { fault: Date.now() }
  fault()
  await until(() => readiness.some((r) => r.at > timeline.fault && r.status === 503), 20_000)
  timeline.down = readiness.find((r) => r.at > timeline.fault && r.status === 503)?.at
  // Keep hammering the faulted database for a while: every answer now is a refusal or a real write.
  await sleep(2000)
  ledger.phase = 'after'
  timeline.restore = Date.now()
  restore()
  await until(() => readiness.some((r) => r.at > timeline.restore! && r.status === 200), 20_000)
  timeline.up = readiness.find((r) => r.at > timeline.restore! && r.status === 200)?.at
  await until(() => ledger.ackedIn.after >= 20, 10_000)
  run.stopping = true
  await Promise.all([...loops, poller])

  const during = readiness.filter((r) => r.at > timeline.fault && r.at < timeline.restore!)
  t.ok(timeline.down !== undefined, `/ready went 503 during the fault${timeline.down ? ` (${timeline.down - timeline.fault} ms after it began)` : ''}`)
  t.ok(during.filter((r) => r.status === 503).every((r) => r.retryAfter !== null), '/ready 503 carries Retry-After')
  t.ok(timeline.up !== undefined, `/ready went 200 again by itself${timeline.up ? ` (${timeline.up - timeline.restore!} ms after the fault was lifted)` : ''}`)
  t.ok(ledger.refusedIn.fault > 0, `writes were refused during the fault (${ledger.refusedIn.fault})`)
  t.ok(ledger.ackedIn.after > 0, `writes were acknowledged again after it (${ledger.ackedIn.after})`)
  t.same(ledger.wrong, [], 'every refusal was a 503 with Retry-After: no 500, no other status, no dropped connection')

  const stopped = await stopServer(server)
  t.equal(stopped.code, 0, 'the server shuts down cleanly after the fault')
  server = await startServer(t, databasePath, tmpdir())
  t.equal((await fetch(`${server.base}/ready`)).status, 200, 'the restarted server is ready')

  const db = new Database(databasePath, { readonly: true })
  try {
    t.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'integrity_check ok')
    for (const route of ROUTES) {
      const checks = ledger.acked.get(route)!
      let found = 0
      for (const check of checks) if (await check(db)) found += 1
      t.comment(`${tag} ${route}: acknowledged ${checks.length}, found ${found}, refused ${ledger.refused.get(route)}`)
      t.ok(checks.length > 0, `${route}: exercised`)
      t.equal(found, checks.length, `${route}: every acknowledged write is there after the restart`)
    }
  } finally {
    db.close()
  }
  t.comment(`${tag}: acknowledged before/during/after the fault ${ledger.ackedIn.before}/${ledger.ackedIn.fault}/${ledger.ackedIn.after}, ` +
    `refused ${ledger.refusedIn.before}/${ledger.refusedIn.fault}/${ledger.refusedIn.after}; /ready 503 after ${timeline.down! - timeline.fault} ms, ` +
    `200 again ${timeline.up! - timeline.restore!} ms after the fault was lifted`)
  await stopServer(server)
}

function root (): string | undefined {
  return process.getuid?.() === 0 ? undefined : 'needs root (mount -t tmpfs, chattr +i); CI runs as root'
}

t.test('disk full (a small tmpfs filled mid-run): every answer is a 503 refusal or a write that survives a restart', { skip: root() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-full-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir])
  t.teardown(() => {
    try { execFileSync('umount', ['-l', dir]) } catch {}
    rmSync(dir, { recursive: true, force: true })
  })
  const filler = join(dir, 'filler')
  await faultRun(t, dir, 'full', () => {
    // Fill every last block: big writes first, then smaller ones into what is left.
    const fd = openSync(filler, 'w')
    try {
      for (const size of [1 << 20, 1 << 16, 1 << 12, 512]) {
        const chunk = Buffer.alloc(size, 1)
        try { for (;;) writeSync(fd, chunk) } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err }
      }
    } finally {
      closeSync(fd)
    }
  }, () => unlinkSync(filler))
})

t.test('immutable database (chattr +i on the database and its WAL mid-run): the same guarantees', { skip: root() }, async (t) => {
  const dir = tempDir(t)
  const files = [join(dir, 'latchkey.db'), join(dir, 'latchkey.db-wal')]
  const chattr = (flag: string) => execFileSync('chattr', [flag, ...files])
  t.teardown(() => { for (const f of files) { try { execFileSync('chattr', ['-i', f], { stdio: 'ignore' }) } catch {} } })
  await faultRun(t, dir, 'immutable', () => chattr('+i'), () => chattr('-i'))
})
