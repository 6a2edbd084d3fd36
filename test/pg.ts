// PostgreSQL for tests: a fresh, empty database per test on TEST_POSTGRES_URL (CI), or on a throwaway server
// this process starts itself through test/pg-server.sh (the script CI uses) when that variable is unset.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'
import { packageRoot } from '../src/paths.js'

const script = join(packageRoot, 'test', 'pg-server.sh')

export interface PgServer {
  /** A role with LOGIN CREATEDB (not a superuser), connected to the `postgres` database. */
  url: string
  /** Stop the server (immediate shutdown: clients see their connections terminated) and remove its files. */
  stop (): void
  /** Stop the server but keep its files; `resume` starts it again on the same port. */
  pause (): void
  resume (): void
}

/** Start a throwaway PostgreSQL server (initdb in a temp dir, a free loopback port); stopped at teardown. */
export function startPgServer (t?: Test): PgServer {
  // Not mkdtemp: the folder must be reachable by the `postgres` user, which a 0700 temp dir is not.
  const dir = join(tmpdir(), `latchkey-pg-${process.pid}-${randomBytes(4).toString('hex')}`)
  const url = execFileSync('bash', [script, 'start', dir], { encoding: 'utf8' }).trim()
  let stopped = false
  const stop = (): void => {
    if (stopped) return
    stopped = true
    execFileSync('bash', [script, 'stop', dir], { stdio: 'ignore' })
  }
  process.once('exit', stop)
  t?.teardown(stop)
  const pause = (): void => { execFileSync('bash', [script, 'pause', dir], { stdio: 'ignore' }) }
  const resume = (): void => { execFileSync('bash', [script, 'resume', dir], { stdio: 'ignore' }) }
  return { url, stop, pause, resume }
}

let shared: string | undefined
/** TEST_POSTGRES_URL, or the URL of one server started for this whole test process. */
export function testPostgresUrl (): string {
  const env = process.env.TEST_POSTGRES_URL
  if (env !== undefined && env !== '') return env
  shared ??= startPgServer().url
  return shared
}

/** The URL of `url` with its database replaced. */
export function withDatabase (url: string, database: string): string {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}

/** Run one statement on the admin connection (the test role on the `postgres` database). */
export async function adminQuery (sql: string, url = testPostgresUrl()): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await client.query(sql)
  } finally {
    await client.end()
  }
}

/**
 * A fresh empty database owned by the test role, dropped (WITH (FORCE): open pools do not block it) when
 * the test ends. Returns its URL. `server` picks another server than the shared one.
 */
export async function pgDatabase (t: Test, server = testPostgresUrl()): Promise<string> {
  const name = `lk_${randomBytes(6).toString('hex')}`
  const role = decodeURIComponent(new URL(server).username)
  await adminQuery(`CREATE DATABASE ${name} OWNER "${role.replace(/"/g, '""')}"`, server)
  t.teardown(async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, server)
        return
      } catch (err) {
        const code = (err as { code?: string }).code ?? ''
        // A test that stopped its own server has nothing left to drop.
        if (['ECONNREFUSED', '57P03'].includes(code)) return
        // 42501: an autovacuum worker is in the database, and a role that is not a superuser may not end it;
        // it finishes on its own within moments.
        if (code !== '42501' || attempt === 100) throw err
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  })
  return withDatabase(server, name)
}
