// The built CLI serving on a real port, for end-to-end tests (not a test file itself).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { packageRoot } from '../../src/paths.js'
import { freePort, tempDir, testEnv } from '../helper.js'

export const cli = join(packageRoot, 'dist', 'src', 'cli.js')

export interface Served {
  base: string
  port: number
  /** The data directory (and the server's working directory). */
  dir: string
  env: NodeJS.ProcessEnv
  output: () => string
  /** Whether /health answered within the 30 s wait. */
  ready: boolean
  child: ChildProcess
  /** The exit code once the process has exited. */
  exited: Promise<number | null>
}

/**
 * Start `latchkey` (dist/) on a free port with a fresh data directory; killed at teardown. `extra` is added
 * to the environment, or made from the port when a setting needs it (JWT_ISSUER, say).
 */
export async function serve (t: Test, extra: Record<string, string> | ((port: number) => Record<string, string>) = {}): Promise<Served> {
  t.ok(existsSync(cli), 'dist/src/cli.js exists (run `npm run build` first)')
  const port = await freePort()
  const dir = tempDir(t)
  const env = {
    ...process.env,
    ...Object.fromEntries(Object.entries(testEnv).map(([k, v]) => [k, String(v)])),
    PORT: String(port),
    DATABASE_PATH: join(dir, 'latchkey.db'),
    ...(typeof extra === 'function' ? extra(port) : extra)
  }
  const child = spawn(process.execPath, [cli], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => { output += String(d) })
  child.stderr.on('data', (d) => { output += String(d) })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const base = `http://127.0.0.1:${port}`
  let ready = false
  for (let i = 0; i < 1200; i++) { // up to 30 s: CI machines can be busy
    try {
      if ((await fetch(`${base}/health`)).ok) { ready = true; break }
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return { base, port, dir, env, output: () => output, ready, child, exited }
}

/** `latchkey user create … --role admin` against the served database. */
export function createAdmin (served: Served, username: string, password: string): void {
  const res = spawnSync(process.execPath, [cli, 'user', 'create', '--username', username, '--email', `${username}@example.com`, '--role', 'admin', '--password-stdin'],
    { env: served.env, input: `${password}\n`, encoding: 'utf8', timeout: 60_000 })
  if (res.status !== 0) throw new Error(`user create failed: ${res.stderr}`)
}
