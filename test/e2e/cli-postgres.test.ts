// `latchkey db copy --to postgres://…`, `latchkey migrate` and `latchkey keys` on PostgreSQL, as an operator
// runs them: a SQLite deployment moves to PostgreSQL and its users, sessions, tasks and keys keep working.
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import pg from 'pg'
import { PASSWORD } from '../helper.js'
import { pgDatabase } from '../pg.js'
import { cli, serve } from './server-process.js'

async function run (env: NodeJS.ProcessEnv, ...args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, ...args], { env })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}
const json = (method: string, body: unknown, token?: string) => ({
  method,
  headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
  body: JSON.stringify(body)
})
const ISSUER = { JWT_ISSUER: 'http://latchkey.example' }

t.test('db copy: a SQLite deployment moves to PostgreSQL, and everything keeps working', async (t) => {
  const sqlite = await serve(t, ISSUER)
  t.ok(sqlite.ready)
  t.equal((await fetch(`${sqlite.base}/auth/register`, json('POST', { username: 'mover', email: 'mover@example.com', password: PASSWORD }))).status, 201)
  const login = await fetch(`${sqlite.base}/auth/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username: 'mover', password: PASSWORD }).toString()
  })
  const tokens = await login.json() as { access_token: string, refresh_token: string }
  t.equal((await fetch(`${sqlite.base}/tasks`, json('POST', { title: 'carried over' }, tokens.access_token))).status, 201)
  sqlite.child.kill('SIGTERM')
  await sqlite.exited

  const url = await pgDatabase(t)
  const env = { ...sqlite.env, DATABASE_URL: undefined }
  const bad = await run(env, 'db', 'copy', '--to', 'mysql://x@y/z')
  t.not(bad.code, 0)
  t.match(bad.stderr, '--to must be a postgres:// or postgresql:// URL')
  const copy = await run(env, 'db', 'copy', '--to', url)
  t.equal(copy.code, 0, copy.stderr)
  t.match(copy.stdout, /^users\t1$/m, 'counts printed per table')
  t.match(copy.stdout, /^sessions\t1$/m)
  t.match(copy.stdout, /^tasks\t1$/m)
  t.match(copy.stdout, /^signing_keys\t1$/m, 'the signing key goes along')
  t.notMatch(copy.stdout + copy.stderr, new URL(url).password, 'the password in the URL is never printed')
  const again = await run(env, 'db', 'copy', '--to', url)
  t.not(again.code, 0, 'a non-empty target is refused')
  t.match(again.stderr, 'not empty')

  // The same data directory's settings, now on PostgreSQL: old tokens verify, the old refresh token rotates.
  const moved = await serve(t, { ...ISSUER, DATABASE_URL: url })
  t.ok(moved.ready)
  const me = await fetch(`${moved.base}/users/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(me.status, 200, 'an access token signed before the move verifies (the key moved)')
  t.equal((await fetch(`${moved.base}/auth/refresh`, json('POST', { refresh_token: tokens.refresh_token }))).status, 200, 'the session moved')
  const tasks = await (await fetch(`${moved.base}/tasks`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json() as { items: Array<{ title: string }> }
  t.same(tasks.items.map((x) => x.title), ['carried over'])
  // New rows do not collide with copied ids (the identity sequences moved past them).
  t.equal((await fetch(`${moved.base}/auth/register`, json('POST', { username: 'newcomer', email: 'newcomer@example.com', password: PASSWORD }))).status, 201)
})

t.test('migrate and keys rotate / list / retire against PostgreSQL', async (t) => {
  const url = await pgDatabase(t)
  const env = { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'silent' }
  const migrate = await run(env, 'migrate')
  t.equal(migrate.code, 0, migrate.stderr)
  t.match(migrate.stdout, 'Migrations applied to the PostgreSQL database')
  t.notMatch(migrate.stdout, new URL(url).password)
  t.match((await run(env, 'keys', 'list')).stdout, 'No keys yet')
  const first = /Added key (\S+)\./.exec((await run(env, 'keys', 'rotate')).stdout)?.[1]
  const rotated = await run(env, 'keys', 'rotate')
  t.match(rotated.stdout, 'within 60 s (KEY_REFRESH_INTERVAL)')
  const second = /Added key (\S+)\./.exec(rotated.stdout)?.[1]
  const list = (await run(env, 'keys', 'list')).stdout.trim().split('\n')
  t.same(list.map((l) => l.split('\t')[0]), [first, second])
  t.match(list[1], /\tsigning$/)
  t.equal((await run(env, 'keys', 'retire', first!)).code, 0)
  const refused = await run(env, 'keys', 'retire', second!)
  t.not(refused.code, 0, 'the only active key cannot be retired')
  const pool = new pg.Pool({ connectionString: url, max: 1 })
  t.teardown(async () => { await pool.end() })
  const events = await pool.query("SELECT count(*) AS n FROM audit_events WHERE type = 'keys.rotated'")
  t.equal(Number(events.rows[0].n), 2, 'each rotation is audited')
})
