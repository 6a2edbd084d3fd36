// `latchkey user create|list|set-role|disable|enable` as an operator runs them, against the built CLI.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../../src/paths.js'
import { build, login, PASSWORD, tempDir, testConfig } from '../helper.js'

const cli = join(packageRoot, 'dist', 'src', 'cli.js')

// About thirty process starts: on a busy shared machine that can exceed the suite's default 120 s.
t.setTimeout(300_000)

interface Run { code: number | null, stdout: string, stderr: string }

/** Run the CLI in `cwd` (so no stray .env is read), feeding `stdin` if given, with cheap argon2. */
async function run (cwd: string, env: Record<string, string>, args: string[], stdin?: string): Promise<Run> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd,
      env: { ...process.env, ARGON2_MEMORY_COST: '1024', ARGON2_TIME_COST: '1', ARGON2_PARALLELISM: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(stdin ?? '')
  })
}

/**
 * Run the CLI on a pseudo-terminal (util-linux `script`), answering each prompt as it appears,
 * as an operator typing the password would.
 */
async function runOnTerminal (cwd: string, env: Record<string, string>, args: string[], answers: Array<[prompt: string, answer: string]>): Promise<Run> {
  const command = [process.execPath, cli, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
  return await new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd,
      env: { ...process.env, ARGON2_MEMORY_COST: '1024', ARGON2_TIME_COST: '1', ARGON2_PARALLELISM: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    let next = 0
    let searchFrom = 0
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      // Each answer goes only after its prompt: readline drops lines typed before a question is asked.
      while (next < answers.length && stdout.indexOf(answers[next][0], searchFrom) !== -1) {
        searchFrom = stdout.indexOf(answers[next][0], searchFrom) + answers[next][0].length
        child.stdin.write(`${answers[next][1]}\r`)
        next += 1
      }
    })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('error', reject)
    // A prompt that never comes would otherwise hang the suite until its timeout.
    const timer = setTimeout(() => child.kill(), 60_000)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

t.test('user create, list, set-role, disable, enable', async (t) => {
  if (!existsSync(cli)) {
    t.fail(`${cli} is missing: run \`npm run build\` first`)
    return
  }
  const dir = tempDir(t)
  const dbPath = join(dir, 'latchkey.db')
  const env = { DATABASE_PATH: dbPath }
  const user = async (args: string[], stdin?: string) => await run(dir, env, ['user', ...args], stdin)
  const noStack = (t: Test, r: Run) => t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')

  t.test('create the first admin with --password-stdin', async (t) => {
    const r = await user(['create', '--username', 'Root', '--email', 'Root@Example.com', '--role', 'admin', '--password-stdin'], `${PASSWORD}\n`)
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /^Created admin Root \(id 1\)\.\n$/)
    t.equal(r.stderr, '')
    t.ok(existsSync(dbPath), 'the database was created')
  })

  t.test('again → exit 1, already exists', async (t) => {
    const same = await user(['create', '--username', 'Root', '--email', 'other@example.com', '--role', 'admin', '--password-stdin'], PASSWORD)
    t.equal(same.code, 1)
    t.match(same.stderr, /^latchkey: user Root already exists\n$/)
    const otherCase = await user(['create', '--username', 'root', '--email', 'other@example.com', '--password-stdin'], PASSWORD)
    t.equal(otherCase.code, 1)
    t.match(otherCase.stderr, 'already exists', 'usernames are unique ignoring case')
    const email = await user(['create', '--username', 'someoneelse', '--email', 'ROOT@example.com', '--password-stdin'], PASSWORD)
    t.equal(email.code, 1)
    t.match(email.stderr, /^latchkey: a user with email root@example\.com already exists\n$/)
    noStack(t, email)
  })

  t.test('weak password → exit 1 with the policy message', async (t) => {
    for (const [password, message] of [
      ['short\n', 'password must be at least 8 characters'],
      ['password123\n', 'password is too common'],
      ['', 'password must be at least 8 characters'],
      ['weakling\n', 'password must not be the same as the username']
    ]) {
      const r = await user(['create', '--username', 'weakling', '--email', 'weak@example.com', '--password-stdin'], password)
      t.equal(r.code, 1, JSON.stringify(password))
      t.match(r.stderr, `latchkey: ${message}`)
      t.equal(r.stdout, '')
      noStack(t, r)
    }
  })

  t.test('bad arguments → exit 1 with usage', async (t) => {
    // Independent refusals: run them side by side.
    const [role, username, email, missing, unknownOption, noStdin, action, none] = await Promise.all([
      user(['create', '--username', 'carol', '--email', 'carol@example.com', '--role', 'superuser', '--password-stdin'], PASSWORD),
      user(['create', '--username', 'a b', '--email', 'carol@example.com', '--password-stdin'], PASSWORD),
      user(['create', '--username', 'carol', '--email', 'not-an-email', '--password-stdin'], PASSWORD),
      user(['create', '--username', 'carol']),
      user(['create', '--username', 'carol', '--email', 'c@example.com', '--bogus']),
      user(['create', '--username', 'carol', '--email', 'carol@example.com']),
      user(['frobnicate']),
      user([])
    ])
    t.equal(role.code, 1)
    t.match(role.stderr, /^latchkey: --role must be admin or user\n$/)
    t.equal(username.code, 1)
    t.match(username.stderr, '--username must be')
    t.equal(email.code, 1)
    t.match(email.stderr, '--email must be a valid email address')
    t.equal(missing.code, 1)
    t.match(missing.stderr, 'usage: latchkey user create --username U --email E')
    t.equal(unknownOption.code, 1)
    t.match(unknownOption.stderr, /^latchkey: Unknown option '--bogus'/)
    noStack(t, unknownOption)
    t.equal(noStdin.code, 1, 'no terminal and no --password-stdin')
    t.match(noStdin.stderr, 'pass the password with --password-stdin')
    t.equal(action.code, 1)
    t.match(action.stderr, 'usage: latchkey user create|list|set-role|disable|enable')
    t.equal(none.code, 1)
    t.match(none.stderr, 'usage: latchkey user')
    t.equal((await user(['list'])).stdout.trim().split('\n').length, 2, 'none of them created a user')
  })

  t.test('on a terminal the password is prompted twice, without echo', async (t) => {
    const secret = 'typed at a terminal 7'
    const r = await runOnTerminal(dir, env, ['user', 'create', '--username', 'operator', '--email', 'op@example.com'],
      [['Password: ', secret], ['Repeat password: ', secret]])
    t.equal(r.code, 0, r.stdout)
    t.match(r.stdout, 'Created user operator (id 2).')
    t.notMatch(r.stdout, secret, 'the password is not echoed')
    const mismatch = await runOnTerminal(dir, env, ['user', 'create', '--username', 'operator2', '--email', 'op2@example.com'],
      [['Password: ', secret], ['Repeat password: ', 'something else entirely']])
    t.equal(mismatch.code, 1)
    t.match(mismatch.stdout, 'latchkey: the passwords do not match')
    const removed = await user(['list'])
    t.notMatch(removed.stdout, 'operator2', 'nothing created on a mismatch')
  })

  t.test('create a plain user; the password keeps inner spaces, loses one trailing newline', async (t) => {
    const r = await user(['create', '--username', 'alice', '--email', 'alice@example.com', '--password-stdin'], `${PASSWORD}\r\n`)
    t.equal(r.code, 0, r.stderr)
    t.equal(r.stdout, 'Created user alice (id 3).\n', 'role defaults to user')
  })

  t.test('list', async (t) => {
    const r = await user(['list'])
    t.equal(r.code, 0)
    t.same(r.stdout.trim().split('\n').map((line) => line.split('\t')), [
      ['id', 'username', 'email', 'role', 'disabled'],
      ['1', 'Root', 'root@example.com', 'admin', 'no'],
      ['2', 'operator', 'op@example.com', 'user', 'no'],
      ['3', 'alice', 'alice@example.com', 'user', 'no']
    ])
    t.notMatch(r.stdout, /argon2/, 'no hashes')
  })

  t.test('the created users log in to the server; the admin is an admin', async (t) => {
    const app = await build(t, testConfig(t, { DATABASE_PATH: dbPath }))
    const root = await login(app, 'root')
    t.equal((await app.inject({ url: '/admin/stats', headers: { authorization: `Bearer ${root.access_token}` } })).statusCode, 200)
    const alice = await login(app, 'alice@example.com')
    t.equal((await app.inject({ url: '/admin/stats', headers: { authorization: `Bearer ${alice.access_token}` } })).statusCode, 403)

    t.test('set-role', async (t) => {
      const promote = await user(['set-role', 'alice', 'admin'])
      t.equal(promote.code, 0, promote.stderr)
      t.equal(promote.stdout, 'alice is now admin.\n')
      t.equal((await app.inject({ url: '/admin/stats', headers: { authorization: `Bearer ${alice.access_token}` } })).statusCode, 200, 'takes effect on the next request')
      const demote = await user(['set-role', 'alice', 'user'])
      t.equal(demote.code, 0)
      t.equal(demote.stdout, 'alice is now user.\n')
      t.equal((await app.inject({ url: '/admin/stats', headers: { authorization: `Bearer ${alice.access_token}` } })).statusCode, 403)

      const last = await user(['set-role', 'Root', 'user'])
      t.equal(last.code, 1, 'the last active admin cannot be demoted')
      t.match(last.stderr, /^latchkey: Cannot demote, disable or delete the last active admin\n$/)
      const badRole = await user(['set-role', 'alice', 'owner'])
      t.equal(badRole.code, 1)
      t.match(badRole.stderr, 'usage: latchkey user set-role USERNAME admin|user')
      const unknown = await user(['set-role', 'nobody', 'admin'])
      t.equal(unknown.code, 1)
      t.match(unknown.stderr, /^latchkey: no user named nobody\n$/)
    })

    t.test('disable ends sessions at once; enable allows a new login', async (t) => {
      const disable = await user(['disable', 'alice'])
      t.equal(disable.code, 0, disable.stderr)
      t.equal(disable.stdout, 'alice is disabled; their sessions have ended.\n')
      t.equal((await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${alice.access_token}` } })).statusCode, 401, 'the access token is refused')
      t.equal((await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: alice.refresh_token } })).statusCode, 401, 'the refresh token is refused')
      await t.rejects(login(app, 'alice'), /401/, 'a disabled user cannot log in')
      t.match((await user(['list'])).stdout, /\n3\talice\talice@example\.com\tuser\tyes\n/)

      const enable = await user(['enable', 'alice'])
      t.equal(enable.code, 0)
      t.equal(enable.stdout, 'alice is enabled.\n')
      t.ok((await login(app, 'alice')).access_token, 'logs in again')

      const lastAdmin = await user(['disable', 'root'])
      t.equal(lastAdmin.code, 1, 'the last active admin cannot be disabled')
      t.match(lastAdmin.stderr, 'last active admin')
      t.equal((await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${root.access_token}` } })).statusCode, 200)

      for (const action of ['disable', 'enable']) {
        const unknown = await user([action, 'nobody'])
        t.equal(unknown.code, 1, `${action} unknown user`)
        t.match(unknown.stderr, /^latchkey: no user named nobody\n$/)
        const missing = await user([action])
        t.equal(missing.code, 1)
        t.match(missing.stderr, `usage: latchkey user ${action} USERNAME`)
      }
    })
  })
})
