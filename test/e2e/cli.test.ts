// First-run experience of the built `latchkey` command: help, version, and one clear sentence
// (never a stack trace) for bad configuration, a busy port and an unusable data directory.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { packageRoot } from '../../src/paths.js'
import { tempDir } from '../helper.js'

const cli = join(packageRoot, 'dist', 'src', 'cli.js')
const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version
const cheap = { ARGON2_MEMORY_COST: '1024', ARGON2_TIME_COST: '1', ARGON2_PARALLELISM: '1', LOG_LEVEL: 'warn' }

t.setTimeout(180_000)

interface Run { code: number | null, stdout: string, stderr: string }

/** Start the CLI in `cwd` (an empty folder, so no stray .env is read). */
function start (cwd: string, env: Record<string, string>, args: string[] = [], stdin = ''): ChildProcess & { out: Run } {
  const child = spawn(process.execPath, [cli, ...args], { cwd, env: { ...process.env, ...cheap, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  child.stdin.end(stdin)
  const out: Run = { code: null, stdout: '', stderr: '' }
  child.stdout.on('data', (d: Buffer) => { out.stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out.stderr += d.toString() })
  return Object.assign(child, { out })
}

function exited (child: ChildProcess & { out: Run }, ms = 30_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve({ ...child.out, code: child.exitCode })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`latchkey did not exit within ${ms} ms; stdout: ${child.out.stdout} stderr: ${child.out.stderr}`))
    }, ms)
    child.on('close', (code) => { clearTimeout(timer); resolve({ ...child.out, code }) })
  })
}

async function run (cwd: string, env: Record<string, string>, args: string[] = []): Promise<Run> {
  return await exited(start(cwd, env, args))
}

/** Wait until stdout contains `text`, or fail with what the process printed. */
async function waitForOutput (child: ChildProcess & { out: Run }, text: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms
  while (!child.out.stdout.includes(text)) {
    if (child.exitCode !== null || Date.now() > until) {
      throw new Error(`no "${text}" from latchkey (exit ${child.exitCode}); stdout: ${child.out.stdout} stderr: ${child.out.stderr}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** What a newcomer sees on stderr: lines, and never a stack frame. */
function assertClear (t: Test, res: Run, lines: number) {
  t.equal(res.code, 1, 'exit code 1')
  t.notMatch(res.stderr, /\n\s+at /, 'no stack trace')
  const printed = res.stderr.trim().split('\n')
  t.equal(printed.length, lines, `${lines} line(s) on stderr: ${res.stderr}`)
  t.match(printed[0], /^latchkey: /)
}

t.before(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build" first`)
})

t.test('--help and --version', async (t) => {
  const cwd = tempDir(t)
  for (const flag of ['--help', '-h', 'help']) {
    const res = await run(cwd, {}, [flag])
    t.equal(res.code, 0, `${flag} exits 0`)
    t.match(res.stdout, /^latchkey \S+ — /)
    for (const text of ['latchkey migrate', 'latchkey user create --username U --email E', 'latchkey keys rotate', 'docs/configuration.md']) {
      t.match(res.stdout, text, `${flag} mentions ${text}`)
    }
    t.equal(res.stderr, '')
  }
  for (const flag of ['--version', '-v', 'version']) {
    const res = await run(cwd, {}, [flag])
    t.equal(res.code, 0)
    t.equal(res.stdout.trim(), version, `${flag} prints the package version`)
  }
  const unknown = await run(cwd, {}, ['serv'])
  assertClear(t, unknown, 1)
  t.match(unknown.stderr, /unknown command "serv"; see latchkey --help/)
})

t.test('bad configuration: exit 1, one line per bad variable, no stack trace', async (t) => {
  const cwd = tempDir(t)
  const res = await run(cwd, { PORT: 'abc', ACCESS_TOKEN_TTL: '-1', DATABASE_PATH: join(cwd, 'data', 'x.db') })
  assertClear(t, res, 3)
  const lines = res.stderr.trim().split('\n')
  t.match(lines[0], /Invalid configuration/)
  t.match(lines[1], /^\s+PORT="abc" is not valid: expected a whole number/)
  t.match(lines[2], /^\s+ACCESS_TOKEN_TTL="-1" is not valid: expected a whole number, >= 1/)
  t.notOk(existsSync(join(cwd, 'data')), 'nothing was created')

  const secret = await run(cwd, { JWT_SECRET: 'short secret', LOG_LEVEL: 'loud' })
  assertClear(t, secret, 3)
  t.match(secret.stderr, /LOG_LEVEL="loud" is not valid: expected one of fatal, error/)
  t.match(secret.stderr, /JWT_SECRET=\(hidden\) is not valid/)
  t.notMatch(secret.stderr, /short secret/, 'the secret is not echoed')
})

t.test('port already in use: exit 1, one sentence', async (t) => {
  const cwd = tempDir(t)
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as AddressInfo).port
  const res = await run(cwd, { PORT: String(port), DATABASE_PATH: join(cwd, 'data', 'x.db') })
  assertClear(t, res, 1)
  t.match(res.stderr, `port ${port} is already in use`)
})

t.test('unusable data directory: exit 1, one sentence naming it', async (t) => {
  const cwd = tempDir(t)
  // /sys refuses new folders even to root (a plain chmod would not stop root).
  const res = await run(cwd, { PORT: '0', DATABASE_PATH: '/sys/latchkey/latchkey.db' })
  assertClear(t, res, 1)
  t.match(res.stderr, /permission denied: \/sys\/latchkey .*DATABASE_PATH/)

  // A recursive mkdir under /proc used to spin forever (Node 20): it must end, with one sentence.
  const proc = await run(cwd, { PORT: '0', DATABASE_PATH: '/proc/latchkey/x.db' })
  assertClear(t, proc, 1)
  t.match(proc.stderr, /\/proc\/latchkey.*DATABASE_PATH/)

  const file = join(cwd, 'not-a-folder')
  writeFileSync(file, '')
  const blocked = await run(cwd, { PORT: '0', DATABASE_PATH: join(file, 'x.db') })
  assertClear(t, blocked, 1)
  t.match(blocked.stderr, `${file}`)
  t.match(blocked.stderr, /DATABASE_PATH/)
})

t.test('first start: URL, docs URL, data directory and the first-admin hint; SIGTERM exits 0', async (t) => {
  const cwd = tempDir(t)
  const data = join(cwd, 'state')
  const env = { PORT: '0', DATABASE_PATH: join(data, 'latchkey.db') }
  const server = start(cwd, env)
  t.teardown(() => { if (server.exitCode === null) server.kill('SIGKILL') })
  await waitForOutput(server, 'latchkey user create')
  const url = /Latchkey is serving on (http:\/\/127\.0\.0\.1:\d+) {2}\(API docs: (\S+)\)/.exec(server.out.stdout)
  t.ok(url, `prints the URL: ${server.out.stdout}`)
  t.equal(url?.[2], `${url?.[1]}/docs`, 'and the docs URL')
  t.match(server.out.stdout, `Data directory: ${data}  (signing: EdDSA)`)
  t.match(server.out.stdout, 'No admin account yet. Create one with:')
  t.match(server.out.stdout, /latchkey user create --username admin --email admin@example\.com --role admin/)
  const health = await fetch(`${url![1]}/health`)
  t.equal(health.status, 200)
  t.ok(existsSync(join(data, 'keys')), 'the keys were created in the data directory')
  server.kill('SIGTERM')
  const res = await exited(server)
  t.equal(res.code, 0, 'graceful shutdown exits 0')
  t.notMatch(res.stderr, /\n\s+at /)

  // With an admin, the hint is gone.
  const created = start(cwd, env, ['user', 'create', '--username', 'root_admin', '--email', 'root@example.com', '--role', 'admin', '--password-stdin'], 'correct horse battery staple\n')
  const createdRes = await exited(created)
  t.equal(createdRes.code, 0, `user create: ${createdRes.stderr}`)
  const again = start(cwd, env)
  t.teardown(() => { if (again.exitCode === null) again.kill('SIGKILL') })
  await waitForOutput(again, 'Data directory:')
  t.notMatch(again.out.stdout, 'No admin account yet')
  again.kill('SIGTERM')
  t.equal((await exited(again)).code, 0)
})
