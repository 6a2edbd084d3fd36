// Helpers for the benchmark: free ports, child processes (the built server, the baselines), RSS sampling, seeding.
import { spawn, execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, request } from 'node:http'
import { fileURLToPath } from 'node:url'
import argon2 from 'argon2'
import Database from 'better-sqlite3'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const CLI = fileURLToPath(new URL('../dist/src/bin.cjs', import.meta.url))
export const HELLO = fileURLToPath(new URL('./hello.js', import.meta.url))
export const ARGON2_BASELINE = fileURLToPath(new URL('./argon2-baseline.js', import.meta.url))

export const PASSWORD = 'bench-Password-7c1e'
export const ARGON2 = { memoryCost: 19456, timeCost: 2, parallelism: 1 } // OWASP defaults, the server's defaults

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

export function freePort () {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** One HTTP request to 127.0.0.1, resolved with { status, body } (never rejects: errors give status 0). */
export function http (port, { method = 'GET', path = '/', headers = {}, body } = {}, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', () => resolve({ status: 0, body: '' }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve({ status: 0, body: '' }))
    if (body !== undefined) req.write(body)
    req.end()
  })
}

/** Peak (VmHWM) and current (VmRSS) resident set of a process, in bytes; 0 once it is gone. */
export function rssOf (pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
    return { hwm: kb('VmHWM') * 1024, rss: kb('VmRSS') * 1024 }
  } catch {
    return { hwm: 0, rss: 0 }
  }
}

/** CPU time (user + system) a process has used so far, in ms; /proc/<pid>/stat counts clock ticks (100 Hz). */
export function cpuMsOf (pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10 // utime, stime: fields 14 and 15 of the full line
  } catch {
    return 0
  }
}

/** Spawn a child and wait until GET /health answers 200 (polled every 5 ms). Returns its handle and the time taken. */
export async function startProcess (args, env, { port, timeoutMs = 15000, nodeArgs = [] } = {}) {
  const t0 = performance.now()
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    cwd: ROOT, env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  const state = { exited: false }
  child.once('exit', () => { state.exited = true })
  const deadline = t0 + timeoutMs
  while (performance.now() < deadline && !state.exited) {
    const res = await http(port, { path: '/health' }, 1000)
    if (res.status === 200) {
      const startupMs = performance.now() - t0
      return { child, port, pid: child.pid, startupMs, output: () => output, stop: () => stopProcess(child) }
    }
    await sleep(5)
  }
  child.kill('SIGKILL')
  throw new Error(`process ${args.join(' ')} did not become healthy on port ${port}:\n${output}`)
}

export function stopProcess (child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    child.once('exit', () => { clearTimeout(timer); resolve() })
    child.kill('SIGTERM')
  })
}

/** The server's environment: throttling and logging off, default argon2 cost, a given database. */
export function serverEnv (databasePath, extra = {}) {
  return {
    HOST: '127.0.0.1',
    DATABASE_PATH: databasePath,
    ARGON2_MEMORY_COST: String(ARGON2.memoryCost),
    ARGON2_TIME_COST: String(ARGON2.timeCost),
    ARGON2_PARALLELISM: String(ARGON2.parallelism),
    RATE_LIMIT_PER_MINUTE: '0',
    LOGIN_THROTTLE_AFTER: '0',
    LOG_LEVEL: 'silent',
    // A fixed issuer: the default (http://HOST:PORT) would change with every port, and tokens minted by one
    // server process must stay valid on the next one over the same database.
    JWT_ISSUER: 'http://latchkey.bench',
    ...extra
  }
}

export const username = (i) => `user${i}`
export const hashRefreshToken = (token) => createHash('sha256').update(token).digest('base64url')

/**
 * A database with `count` users (all with PASSWORD) and `sessionCount` live sessions spread across them,
 * written directly with better-sqlite3 into a freshly migrated file: one argon2 hash, one transaction.
 * Returns the sessions' refresh tokens (plain), the way a client holds them.
 */
export async function seedDatabase (databasePath, { count, sessionCount }) {
  execFileSync(process.execPath, [CLI, 'migrate'], { cwd: ROOT, env: { ...process.env, ...serverEnv(databasePath) }, stdio: 'ignore' })
  const passwordHash = await argon2.hash(PASSWORD, { type: argon2.argon2id, ...ARGON2 })
  const db = new Database(databasePath)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = OFF')
  const now = Date.now()
  const insertUser = db.prepare('INSERT INTO users (username, email, password_hash, role, disabled, created_at) VALUES (?, ?, ?, \'user\', 0, ?)')
  const insertSession = db.prepare('INSERT INTO sessions (user_id, created_at, last_used_at, expires_at, user_agent, ip) VALUES (?, ?, ?, ?, \'bench\', \'127.0.0.1\')')
  const insertToken = db.prepare('INSERT INTO refresh_tokens (session_id, token_hash, created_at) VALUES (?, ?, ?)')
  const refreshTokens = []
  db.transaction(() => {
    for (let i = 1; i <= count; i++) insertUser.run(username(i), `${username(i)}@bench.example`, passwordHash, now)
    for (let s = 0; s < sessionCount; s++) {
      // Spread the sessions over the whole id range, so a big table is really walked.
      const userId = 1 + Math.floor((s * count) / sessionCount)
      const { lastInsertRowid } = insertSession.run(userId, now, now, now + 7 * 86400_000)
      const token = randomBytes(32).toString('base64url')
      insertToken.run(lastInsertRowid, hashRefreshToken(token), now)
      refreshTokens.push(token)
    }
  })()
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  return refreshTokens
}
