// The one maker and hasher of opaque secrets, and the two services that hand them out storing only its hash.
import t from 'tap'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { accountTokens, refreshTokens, users } from '../../src/db/schema.js'
import { createAccountTokensService } from '../../src/services/account-tokens.js'
import { createAuditService } from '../../src/services/audit.js'
import { hashSecretToken, newSecretToken } from '../../src/services/secret-tokens.js'
import { createSessionsService } from '../../src/services/sessions.js'
import { openSqliteStore } from '../../src/store/sqlite.js'
import { tempDir } from '../helper.js'

t.test('newSecretToken: 256 random bits, base64url; hashSecretToken: its SHA-256, base64url', async (t) => {
  const tokens = Array.from({ length: 50 }, newSecretToken)
  for (const token of tokens) {
    t.match(token, /^[A-Za-z0-9_-]{43}$/)
    t.equal(Buffer.from(token, 'base64url').length, 32)
  }
  t.equal(new Set(tokens).size, tokens.length, 'no repeats')
  t.equal(hashSecretToken('abc'), createHash('sha256').update('abc').digest('base64url'))
})

t.test('newSecretToken across refills of its random pool (256 tokens each): every token distinct and whole', async (t) => {
  const tokens = Array.from({ length: 600 }, newSecretToken)
  t.equal(new Set(tokens).size, 600, 'no repeats')
  t.ok(tokens.every((token) => /^[A-Za-z0-9_-]{43}$/.test(token)), 'all 43 base64url characters')
  t.equal(tokens.filter((token) => Buffer.from(token, 'base64url').equals(Buffer.alloc(32))).length, 0, 'none is the zeroed slot')
})

t.test('refresh tokens and mailed-link tokens are made and stored the same way', async (t) => {
  const store = openSqliteStore(join(tempDir(t), 'latchkey.db'))
  const { db } = store
  t.teardown(() => store.close())
  const [user] = db.insert(users).values({ username: 'alice', email: 'alice@example.com', passwordHash: 'x', createdAt: new Date() }).returning().all()

  const { refreshToken } = await createSessionsService(store, { refreshTtl: 3600, reuseGrace: 10 }, createAuditService(store)).create(user.id, {})
  const link = await createAccountTokensService(store, { ttl: { reset: 1800, verify: 86400 } }).issue(user.id, 'reset', user.email)
  for (const [name, token, stored] of [
    ['refresh token', refreshToken, db.select({ hash: refreshTokens.tokenHash }).from(refreshTokens).all()],
    ['reset link token', link, db.select({ hash: accountTokens.tokenHash }).from(accountTokens).all()]
  ] as const) {
    t.match(token, /^[A-Za-z0-9_-]{43}$/, `${name}: 256 bits, base64url`)
    t.same(stored, [{ hash: hashSecretToken(token) }], `${name}: only its hash is stored`)
  }
})
