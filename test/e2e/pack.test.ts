// Installable: `npm pack`, install the tarball into an empty folder as a user would, then run the
// installed `latchkey` from another directory: version, help, migrate, serve, log in, SIGTERM.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../../src/paths.js'
import { freePort, tempDir } from '../helper.js'

// Installing reaches the npm registry and compiles better-sqlite3: minutes on a busy 2-core machine.
t.setTimeout(25 * 60_000)

const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version

/** The environment without the npm_* variables of an enclosing `npm test`, which would redirect npm. */
const cleanEnv = (extra: Record<string, string> = {}) => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))),
  ...extra
})

interface Run { code: number | null, stdout: string, stderr: string }

function run (command: string, args: string[], cwd: string, env = cleanEnv(), timeoutMs = 20 * 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

t.test('npm pack → npm install → the installed latchkey works from any directory', async (t) => {
  t.ok(existsSync(join(packageRoot, 'dist', 'src', 'cli.js')), 'dist/ is built (npm run build) before packing')
  const work = tempDir(t)

  // --ignore-scripts: `prepare` would rebuild dist/ while other test files are running it.
  const pack = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], packageRoot)
  t.equal(pack.code, 0, `npm pack: ${pack.stderr}`)
  const [packed] = JSON.parse(pack.stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
  const files = packed.files.map((f) => f.path)
  for (const file of ['package.json', 'README.md', 'dist/src/cli.js', 'dist/src/server.js', 'dist/plugins/swagger.js',
    'migrations/sqlite/0000_init.sql', 'migrations/sqlite/meta/_journal.json', 'migrations/postgres/0000_init.sql', 'migrations/postgres/meta/_journal.json', 'docs/configuration.md']) {
    t.ok(files.includes(file), `the tarball contains ${file}`)
  }
  t.same(files.filter((f) => /^(src|test|plugins|data|bench)\/|^\.env|\.test\.|\.ts$/.test(f)), [], 'no sources, tests, data or .env')

  const project = join(work, 'project')
  mkdirSync(project)
  const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, packed.filename)], project)
  t.equal(install.code, 0, `npm install: ${install.stderr.slice(-2000)}`)
  const bin = join(project, 'node_modules', '.bin', 'latchkey')
  t.ok(existsSync(bin), 'node_modules/.bin/latchkey is installed')

  // Everything else runs from a different directory, as `npx latchkey` from a service folder would.
  const elsewhere = join(work, 'elsewhere')
  mkdirSync(elsewhere)
  const data = join(work, 'var', 'latchkey')
  const env = cleanEnv({ DATABASE_PATH: join(data, 'latchkey.db'), LOG_LEVEL: 'warn', ARGON2_MEMORY_COST: '1024', ARGON2_TIME_COST: '1' })

  const versionRun = await run(bin, ['--version'], elsewhere, env)
  t.equal(versionRun.code, 0)
  t.equal(versionRun.stdout.trim(), version)
  const help = await run(bin, ['--help'], elsewhere, env)
  t.equal(help.code, 0)
  t.match(help.stdout, /Usage:[\s\S]*latchkey migrate/)

  const migrate = await run(bin, ['migrate'], elsewhere, env)
  t.equal(migrate.code, 0, `migrate: ${migrate.stderr}`)
  t.ok(existsSync(join(data, 'latchkey.db')), 'migrate created the database in DATABASE_PATH')

  const port = await freePort()
  const server: ChildProcess = spawn(bin, [], { cwd: elsewhere, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  server.stdout!.on('data', (d: Buffer) => { output += d.toString() })
  server.stderr!.on('data', (d: Buffer) => { output += d.toString() })
  const closed = new Promise<number | null>((resolve) => server.on('close', resolve))
  t.teardown(() => { if (server.exitCode === null) server.kill('SIGKILL') })

  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  let healthy = false
  while (!healthy && Date.now() < deadline && server.exitCode === null) {
    healthy = await fetch(`${base}/health`).then((r) => r.status === 200, () => false)
    if (!healthy) await new Promise((resolve) => setTimeout(resolve, 200))
  }
  t.ok(healthy, `GET /health answers 200 (output: ${output})`)
  t.match(output, `Latchkey is serving on ${base}`)

  const registered = await fetch(`${base}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'packed', email: 'packed@example.com', password: 'correct horse battery staple' })
  })
  t.equal(registered.status, 201)
  const token = await fetch(`${base}/auth/token`, {
    method: 'POST',
    body: new URLSearchParams({ username: 'packed', password: 'correct horse battery staple' })
  })
  t.equal(token.status, 200)
  const { access_token: accessToken } = await token.json() as { access_token: string }
  const me = await fetch(`${base}/users/me`, { headers: { authorization: `Bearer ${accessToken}` } })
  t.equal(me.status, 200)
  t.match(await me.json(), { username: 'packed', email: 'packed@example.com', role: 'user' })
  t.equal((await fetch(`${base}/docs/json`)).status, 200, 'Swagger assets ship in the package')

  server.kill('SIGTERM')
  t.equal(await closed, 0, 'SIGTERM shuts down gracefully with exit code 0')
  t.notMatch(output, /\n\s+at /, 'no stack trace')
})
