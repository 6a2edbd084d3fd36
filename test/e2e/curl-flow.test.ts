// End to end: the built CLI on a real port, driven by the README's curl flow (examples/curl-flow.sh).
import t from 'tap'
import { spawn, execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { packageRoot } from '../../src/paths.js'
import { freePort, tempDir, testEnv } from '../helper.js'

const cli = join(packageRoot, 'dist', 'src', 'cli.js')

t.test('npm start serves; the README curl flow works verbatim', async (t) => {
  t.ok(existsSync(cli), 'dist/src/cli.js exists (run `npm run build` first)')
  const port = await freePort()
  const dir = tempDir(t)
  const env = { ...process.env, ...Object.fromEntries(Object.entries(testEnv).map(([k, v]) => [k, String(v)])), PORT: String(port), DATABASE_PATH: join(dir, 'latchkey.db') }
  const child = spawn(process.execPath, [cli], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => { output += String(d) })
  child.stderr.on('data', (d) => { output += String(d) })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })

  const base = `http://127.0.0.1:${port}`
  for (let i = 0; i < 1200; i++) { // up to 30 s: CI machines can be busy
    try {
      if ((await fetch(`${base}/health`)).ok) break
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  t.match(output, `Latchkey is serving on ${base}`)
  t.match(output, `${base}/docs`)
  t.match(output, `Data directory: ${dir}`)
  t.match(output, 'latchkey user create --username admin --email admin@example.com --role admin')

  const { stdout } = await promisify(execFile)('sh', [join(packageRoot, 'examples', 'curl-flow.sh'), base], { env: { ...process.env, LATCHKEY_DEMO_USER: 'readme_user' } })
  const lines = stdout.trim().split('\n')
  t.equal(lines.length, 3)
  t.match(JSON.parse(lines[0]), { username: 'readme_user', email: 'readme_user@example.com', role: 'user' })
  t.same(JSON.parse(lines[1]), JSON.parse(lines[0]), '/users/me returns the registered user')
  t.equal(lines[2], 'after logout: 401')

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'graceful shutdown on SIGTERM')
})
