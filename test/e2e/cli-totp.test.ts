// `latchkey user reset-totp --username U` and the start-up refusals about the TOTP key, against the built CLI.
import t from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Secret, TOTP } from 'otpauth'
import { packageRoot } from '../../src/paths.js'
import { totpKeyPath } from '../../src/services/totp-key.js'
import { build, form, PASSWORD, signUp, tempDir, testConfig } from '../helper.js'

const cli = join(packageRoot, 'dist', 'src', 'cli.js')
t.setTimeout(300_000)

interface Run { code: number | null, stdout: string, stderr: string }

async function run (cwd: string, env: Record<string, string>, args: string[]): Promise<Run> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd,
      env: { ...process.env, ARGON2_MEMORY_COST: '1024', ARGON2_TIME_COST: '1', ARGON2_PARALLELISM: '1', LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('error', reject)
    // A server that does start would run forever: the refusals below must exit by themselves.
    const timer = setTimeout(() => child.kill(), 60_000)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

t.test('reset-totp, and a missing or wrong key refusing to serve', async (t) => {
  t.ok(existsSync(cli), `${cli} exists (npm run build)`)
  const dir = tempDir(t)
  const config = testConfig(t, { DATABASE_PATH: join(dir, 'latchkey.db') })
  const env = { DATABASE_PATH: config.DATABASE_PATH, PORT: '0' }
  const file = totpKeyPath(dir)

  /** A user with TOTP on, made through the API. */
  async function totpUser () {
    const app = await build(t, config)
    const user = await signUp(app)
    const { secret } = (await app.inject({ method: 'POST', url: '/users/me/totp', headers: user.auth, payload: { password: PASSWORD } })).json<{ secret: string }>()
    const left = 30_000 - (Date.now() % 30_000)
    if (left < 5000) await new Promise((resolve) => setTimeout(resolve, left + 50))
    const code = TOTP.generate({ secret: Secret.fromBase32(secret) })
    t.equal((await app.inject({ method: 'POST', url: '/users/me/totp/confirm', headers: user.auth, payload: { code } })).statusCode, 200)
    t.equal((await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: PASSWORD }) })).statusCode, 401, 'needs a code')
    await app.close()
    return user
  }

  t.test('user reset-totp --username U', async (t) => {
    const user = await totpUser()
    const usage = await run(dir, env, ['user', 'reset-totp'])
    t.equal(usage.code, 1)
    t.equal(usage.stderr, 'latchkey: usage: latchkey user reset-totp --username U\n')
    const unknown = await run(dir, env, ['user', 'reset-totp', '--username', 'nobody'])
    t.equal(unknown.code, 1)
    t.equal(unknown.stderr, 'latchkey: no user named nobody\n')

    const r = await run(dir, env, ['user', 'reset-totp', '--username', user.username.toUpperCase()])
    t.equal(r.code, 0, r.stderr)
    t.equal(r.stdout, `${user.username}'s TOTP is off: they sign in with their password alone.\n`)
    const again = await run(dir, env, ['user', 'reset-totp', '--username', user.username])
    t.equal(again.stdout, `${user.username}'s TOTP is off (it was not on): they sign in with their password alone.\n`)

    const app = await build(t, config)
    const res = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: PASSWORD }) })
    t.equal(res.statusCode, 200, 'the password alone signs in')
    const me = await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${res.json<{ access_token: string }>().access_token}` } })
    t.equal(me.json<{ totp_enabled: boolean }>().totp_enabled, false)
    // No account acted: the CLI's event has actor null; the second reset (TOTP already off) records nothing.
    const events = (await app.audit.list({ type: 'totp.disabled', limit: 10 })).items
    t.match(events, [{ user_id: user.id, actor_id: null, session_id: null, detail: { via: 'reset' } }])
    t.equal(events.length, 1)
    await app.close()
    t.match((await run(dir, env, ['--help'])).stdout, /latchkey user reset-totp --username U/)
  })

  t.test('serve refuses to start without the key the secrets need, in one sentence', async (t) => {
    await totpUser()
    rmSync(file)
    const missing = await run(dir, env, [])
    t.equal(missing.code, 1)
    t.equal(missing.stderr, `latchkey: ${file} is missing, but 1 TOTP secret(s) in the database were encrypted with it: ` +
      'restore the file from a backup (or reset TOTP for those users with `latchkey user reset-totp`)\n')
    t.notOk(existsSync(file), 'no new key in its place')

    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 })
    const wrong = await run(dir, env, [])
    t.equal(wrong.code, 1)
    t.equal(wrong.stderr, `latchkey: ${file} does not decrypt the TOTP secrets in the database (it is not the key they were encrypted with): restore the original file from a backup\n`)
  })
})
