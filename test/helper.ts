// Test helpers: an app on a real SQLite file in a temp dir with cheap argon2, closed on teardown.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { buildApp, type App } from '../src/app.js'
import { parseConfig, type Config } from '../src/config.js'
import { testEngine } from './db.js'
import { pgDatabase } from './pg.js'

/** Cheap argon2 and no throttling: tests that exercise throttling turn it back on. */
export const testEnv: Record<string, string | number> = {
  ARGON2_MEMORY_COST: 1024,
  ARGON2_TIME_COST: 1,
  ARGON2_PARALLELISM: 1,
  RATE_LIMIT_PER_MINUTE: 0,
  LOGIN_THROTTLE_AFTER: 0,
  LOG_LEVEL: 'silent',
  SESSION_PURGE_INTERVAL: 0
}

/** A fresh data directory, removed when the test ends. */
export function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-test-'))
  // Retries: a store's checkpoint worker may still be closing its connection (and its -wal/-shm files) then.
  t.teardown(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }))
  return dir
}

export function testConfig (t: Test, overrides: Record<string, string | number | boolean> = {}): Config {
  return parseConfig({ ...testEnv, DATABASE_PATH: join(tempDir(t), 'latchkey.db'), ...overrides })
}

/**
 * Build the whole app; `config` may be a ready Config (to reuse a database across restarts). With
 * LATCHKEY_TEST_ENGINE=postgres (the PostgreSQL matrix of `npm test`) the app gets a fresh PostgreSQL database.
 */
export async function build (t: Test, overrides: Record<string, string | number | boolean> | Config = {}): Promise<App> {
  const ready = 'HOST' in overrides && 'JWT_ISSUER' in overrides
  const engine: Record<string, string> = !ready && testEngine === 'postgres' && !('DATABASE_URL' in overrides) ? { DATABASE_URL: await pgDatabase(t) } : {}
  const config = ready ? overrides as Config : testConfig(t, { ...engine, ...overrides as Record<string, string | number | boolean> })
  const app = await buildApp(config, { logger: false })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

export const PASSWORD = 'correct horse battery staple'

let counter = 0
/** A unique, valid registration body. */
export function newUser (overrides: Partial<{ username: string, email: string, password: string }> = {}) {
  counter += 1
  const username = overrides.username ?? `user${counter}_${process.pid}`
  return { username, email: overrides.email ?? `${username}@example.com`, password: overrides.password ?? PASSWORD }
}

export interface Tokens { access_token: string, refresh_token: string, token_type: string, expires_in: number }

export async function register (app: App, user = newUser()) {
  const res = await app.inject({ method: 'POST', url: '/auth/register', payload: user })
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`)
  return { ...user, id: res.json<{ id: number }>().id }
}

export async function login (app: App, username: string, password = PASSWORD, headers: Record<string, string> = {}): Promise<Tokens> {
  const res = await app.inject({ method: 'POST', url: '/auth/token', payload: new URLSearchParams({ username, password }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json<Tokens>()
}

/** Register and log in a user; with role admin the role is set in the database (as the CLI does). */
export async function signUp (app: App, opts: { role?: 'admin' | 'user' } & Partial<{ username: string, email: string, password: string }> = {}) {
  const user = await register(app, newUser(opts))
  if (opts.role === 'admin') await app.users.setRoleOrDisabled(user.id, { role: 'admin' })
  const tokens = await login(app, user.username, user.password)
  return { ...user, tokens, auth: { authorization: `Bearer ${tokens.access_token}` } }
}

export const form = (fields: Record<string, string>) => ({
  payload: new URLSearchParams(fields).toString(),
  headers: { 'content-type': 'application/x-www-form-urlencoded' }
})

/** A TCP port free on 127.0.0.1 right now, for tests that start a real listening process. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
