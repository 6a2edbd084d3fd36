// Test helpers: the built `latchkey` executable as a real process on a real port, for fault-injection tests.
import type { Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../../src/paths.js'
import { testEnv } from '../helper.js'

export const bin = join(packageRoot, 'dist', 'src', 'bin.cjs')

export interface Exit { code: number | null, signal: NodeJS.Signals | null }

export interface ServerProcess {
  child: ChildProcess
  base: string
  exited: Promise<Exit>
  output: () => string
}

/** The environment a test server runs with: cheap argon2, no throttling, nothing from the developer's shell. */
export function serverEnv (databasePath: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    ...Object.fromEntries(Object.entries(testEnv).map(([k, v]) => [k, String(v)])),
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_PATH: databasePath,
    ...extra
  }
}

/** Spawn the CLI (cwd = a temp dir, so no ./.env leaks in); resolves once it prints its URL. */
export async function startServer (t: Test, databasePath: string, cwd: string, extra: Record<string, string> = {}): Promise<ServerProcess> {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` before the tests (CI does)`)
  const child = spawn(process.execPath, [bin], { env: serverEnv(databasePath, extra), cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const exited = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  let output = ''
  child.stdout!.on('data', (d: Buffer) => { output += String(d) })
  child.stderr!.on('data', (d: Buffer) => { output += String(d) })
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 90 s:\n${output}`)), 90_000)
    const onData = () => {
      const match = /serving on (http:\/\/[^\s]+)/.exec(output)
      if (match !== null) { clearTimeout(timer); resolve(match[1]) }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.on('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`server exited (${code ?? signal}) before listening:\n${output}`)) })
  })
  return { child, base, exited, output: () => output }
}

/** SIGTERM, and the exit it led to. */
export async function stopServer (server: ServerProcess): Promise<Exit> {
  server.child.kill('SIGTERM')
  return await server.exited
}

/** Run the CLI to completion (for start-up failures): exit code and output. */
export async function runCli (args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += String(d) })
  child.stderr.on('data', (d: Buffer) => { stderr += String(d) })
  // A command expected to fail must not keep the test waiting if it starts serving instead.
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, stdout, stderr }
}
