// Simultaneous first starts on an empty data directory end with one schema and one signing key.
import t from 'tap'
import { readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { migrationsFolders } from '../../src/paths.js'
import { PASSWORD, tempDir } from '../helper.js'
import { startServer, stopServer } from './server-process.js'

const ROUNDS = 3
const SERVERS = 3
// Real processes on a machine that may be busy: well above tap's default 120 s per file.
t.setTimeout(600_000)

t.test(`${SERVERS} servers started at once on an empty data directory, ${ROUNDS} times`, async (t) => {
  const migrations = readdirSync(migrationsFolders.sqlite).filter((f) => f.endsWith('.sql')).length
  for (let round = 1; round <= ROUNDS; round++) {
    await t.test(`round ${round}`, async (t) => {
      const dir = tempDir(t)
      const databasePath = join(dir, 'latchkey.db')
      // Every process is spawned before any has started up (spawn does not wait).
      const servers = await Promise.all(Array.from({ length: SERVERS }, () => startServer(t, databasePath, tmpdir())))
      t.pass(`all ${SERVERS} started (no "table already exists", no lock error)`)

      const keys = readdirSync(join(dir, 'keys')).filter((f) => f.endsWith('.pem'))
      t.equal(keys.length, 1, 'one signing key')
      const jwks = await Promise.all(servers.map(async (s) => JSON.stringify(await (await fetch(`${s.base}/.well-known/jwks.json`)).json())))
      t.equal(new Set(jwks).size, 1, 'every server publishes the same JWKS')

      const db = new Database(databasePath, { readonly: true })
      t.equal(db.prepare('SELECT count(*) FROM __drizzle_migrations').pluck().get(), migrations, 'each migration applied once')
      t.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'refresh_tokens'").pluck().get(), 1, 'one schema')
      db.close()

      const reg = await fetch(`${servers[0].base}/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: `first${round}`, email: `first${round}@example.com`, password: PASSWORD })
      })
      t.equal(reg.status, 201)
      const tokens = await Promise.all(servers.map(async (s) => {
        const res = await fetch(`${s.base}/auth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ username: `first${round}`, password: PASSWORD })
        })
        return ((await res.json()) as { access_token: string }).access_token
      }))
      const answers: number[] = []
      for (const token of tokens) {
        for (const s of servers) answers.push((await fetch(`${s.base}/users/me`, { headers: { authorization: `Bearer ${token}` } })).status)
      }
      t.same(answers, Array(SERVERS * SERVERS).fill(200), 'a token from each server verifies on every other')
      for (const s of servers) t.equal((await stopServer(s)).code, 0)
    })
  }
})
