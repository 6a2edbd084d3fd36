// The one maker and hasher of opaque secrets, and the two services that hand them out storing only its hash.
import t from 'tap'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { openDatabase } from '../../src/db/open.js'
import { accountTokens, refreshTokens, users } from '../../src/db/schema.js'
import { createAccountTokensService } from '../../src/services/account-tokens.js'
import { hashSecretToken, newSecretToken } from '../../src/services/secret-tokens.js'
import { createSessionsService } from '../../src/services/sessions.js'
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

t.test('refresh tokens and mailed-link tokens are made and stored the same way', async (t) => {
  const { db, sqlite } = openDatabase(join(tempDir(t), 'latchkey.db'))
  t.teardown(() => sqlite.close())
  const [user] = db.insert(users).values({ username: 'alice', email: 'alice@example.com', passwordHash: 'x', createdAt: new Date() }).returning().all()

  const { refreshToken } = createSessionsService(db, { refreshTtl: 3600, reuseGrace: 10 }).create(user.id, {})
  const link = createAccountTokensService(db, { ttl: { reset: 1800, verify: 86400 } }).issue(user.id, 'reset', user.email)
  for (const [name, token, stored] of [
    ['refresh token', refreshToken, db.select({ hash: refreshTokens.tokenHash }).from(refreshTokens).all()],
    ['reset link token', link, db.select({ hash: accountTokens.tokenHash }).from(accountTokens).all()]
  ] as const) {
    t.match(token, /^[A-Za-z0-9_-]{43}$/, `${name}: 256 bits, base64url`)
    t.same(stored, [{ hash: hashSecretToken(token) }], `${name}: only its hash is stored`)
  }
})
