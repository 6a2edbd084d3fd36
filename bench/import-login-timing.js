// Failed-login timing after `latchkey import`: an unknown name, an imported $2b$12$ account and an
// argon2id account, through the users service (dist/) on a temp database with the default argon2 cost.
// While imported hashes remain, each check pads itself with the other kind (src/services/users.ts).
// Usage: npm run build && UV_THREADPOOL_SIZE=1 node bench/import-login-timing.js   (the server's pool on 2 cores)
//
// 2026-12-01, 2 cores shared with five other test runs (load average ≈ 20, so absolute figures are
// inflated several times; compare the columns of one line), medians of 9 failed logins:
//   before the import: unknown 449 ms, argon2id account 286 ms
//   after: unknown 2560 ms, imported $2b$12$ 2066 ms, argon2id account 2434 ms
//   no imported hash left: unknown 296 ms, alice 442 ms, argon2id account 389 ms
// (an earlier run: after 2140 / 2184 / 3097 ms). With one pool thread the two padded verifies run one
// after the other, so during the migration a check costs argon2id + bcrypt for every kind of account.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { openDatabase } from '../dist/src/db/open.js'
import { users } from '../dist/src/db/schema.js'
import { createPasswordHasher } from '../dist/src/services/passwords.js'
import { createUsersService } from '../dist/src/services/users.js'

const dir = mkdtempSync(join(tmpdir(), 'latchkey-bench-'))
const { db, sqlite } = openDatabase(join(dir, 'latchkey.db'))
const service = createUsersService(db, createPasswordHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 }))
const fixture = new Database(new URL('../test/fixtures/import/tutorial-bcrypt.db', import.meta.url).pathname, { readonly: true })
const alice = fixture.prepare("SELECT hashed_password FROM users WHERE username = 'alice'").get().hashed_password
fixture.close()
const password = JSON.parse(readFileSync(new URL('../test/fixtures/import/passwords.json', import.meta.url), 'utf8')).alice

await service.register({ username: 'native', email: 'native@example.com', password: 'a long native password' })
const median = async (login, n = 9) => {
  const times = []
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint()
    await service.verifyLogin(login, 'wrong password')
    times.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  return times.sort((a, b) => a - b)[n >> 1].toFixed(0)
}
console.log(`before the import: unknown ${await median('nobody')} ms, argon2id account ${await median('native')} ms`)
db.insert(users).values({ username: 'alice', email: 'alice@example.com', passwordHash: alice, createdAt: new Date() }).run()
// A fresh service sees the import at once (a running server looks again within a minute).
const after = createUsersService(db, createPasswordHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 }))
service.verifyLogin = after.verifyLogin
console.log(`after: unknown ${await median('nobody')} ms, imported $2b$12$ ${await median('alice')} ms, argon2id account ${await median('native')} ms`)
await after.verifyLogin('alice', password)
console.log(`alice signed in once: stored hash now ${db.select().from(users).all().find((u) => u.username === 'alice').passwordHash.slice(0, 10)}…`)
const rest = createUsersService(db, createPasswordHasher({ memoryCost: 19456, timeCost: 2, parallelism: 1 }))
service.verifyLogin = rest.verifyLogin
console.log(`no imported hash left: unknown ${await median('nobody')} ms, alice ${await median('alice')} ms, argon2id account ${await median('native')} ms`)
sqlite.close()
rmSync(dir, { recursive: true, force: true })
