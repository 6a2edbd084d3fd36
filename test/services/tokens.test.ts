// The tokens module over a real store (a temp SQLite file) and real Ed25519/HS256 signing: issue, refresh
// (counted by outcome), revoke by refresh or access token, the logout ends, and the signer following key changes.
import t, { type Test } from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { join } from 'node:path'
import { createVerifier } from 'fast-jwt'
import { createAuditService } from '../../src/services/audit.js'
import { createSessionsService } from '../../src/services/sessions.js'
import { createAccessTokenSigner, createTokensService, type RefreshCount } from '../../src/services/tokens.js'
import { openStore } from '../../src/store/index.js'
import type { SqliteStore } from '../../src/store/sqlite.js'
import { tempDir } from '../helper.js'

const OPTIONS = { algorithm: 'EdDSA' as const, issuer: 'latchkey-test', audience: 'latchkey-api', ttl: 600 }

function ed25519 () {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), pub: publicKey.export({ format: 'pem', type: 'spki' }).toString() }
}

async function setup (t: Test) {
  const store = await openStore({ DATABASE_PATH: join(tempDir(t), 'latchkey.db') }) as SqliteStore
  t.teardown(() => store.close())
  const sessions = createSessionsService(store, { refreshTtl: 3600, reuseGrace: 0 }, createAuditService(store))
  const pair = ed25519()
  const signAccessToken = createAccessTokenSigner(OPTIONS, () => ({ kid: 'k1', key: pair.key }))
  const verify = createVerifier({ key: pair.pub, algorithms: ['EdDSA'], allowedIss: OPTIONS.issuer, allowedAud: OPTIONS.audience })
  const counted: RefreshCount[] = []
  const tokens = createTokensService({ sessions, signAccessToken, verifyAccessToken: verify, accessTtl: OPTIONS.ttl, onRefresh: (o) => { counted.push(o) } })
  const user = await store.insertUser({ username: 'alice', email: 'alice@example.com', passwordHash: 'x', createdAt: new Date() })
  const active = async () => (await sessions.listActive(user.id, 0)).map((s) => s.id)
  return { tokens, sessions, user, verify, counted, active }
}

t.test('issueTokenPair: a session and a signed access token naming it', async (t) => {
  const { tokens, user, verify, active } = await setup(t)
  const pair = await tokens.issueTokenPair(user, { ip: '127.0.0.1' })
  t.same(Object.keys(pair), ['access_token', 'token_type', 'expires_in', 'refresh_token'], 'the RFC 6749 §5.1 fields, in order')
  t.equal(pair.token_type, 'bearer')
  t.equal(pair.expires_in, 600)
  const claims = verify(pair.access_token)
  t.match(claims, { sub: String(user.id), username: 'alice', role: 'user', iss: OPTIONS.issuer, aud: OPTIONS.audience })
  t.equal(claims.exp - claims.iat, 600)
  t.same(await active(), [claims.sid])
})

t.test('refreshTokenPair: rotates, counts each outcome, refuses a reused token', async (t) => {
  const { tokens, user, verify, counted, active } = await setup(t)
  const first = await tokens.issueTokenPair(user, {})
  const second = await tokens.refreshTokenPair(first.refresh_token, {})
  t.ok(second)
  t.not(second!.refresh_token, first.refresh_token, 'the refresh token rotated')
  t.equal(verify(second!.access_token).sid, verify(first.access_token).sid, 'same session')
  t.equal(await tokens.refreshTokenPair('not-a-token', {}), undefined)
  t.equal(await tokens.refreshTokenPair(first.refresh_token, {}), undefined, 'the old token again (no grace here): reuse')
  t.same(counted, ['success', 'invalid', 'reused'])
  t.same(await active(), [], 'reuse ended the session')
})

t.test('revokeToken: by refresh token, by access token; unknown tokens are no error', async (t) => {
  const { tokens, user, active } = await setup(t)
  const a = await tokens.issueTokenPair(user, {})
  const b = await tokens.issueTokenPair(user, {})
  t.equal((await active()).length, 2)
  await tokens.revokeToken(a.refresh_token, {})
  t.equal((await active()).length, 1)
  await tokens.revokeToken(b.access_token, {})
  t.same(await active(), [])
  await t.resolves(tokens.revokeToken('garbage', {}))
})

t.test('logout ends: by refresh token, the bearer session, all sessions', async (t) => {
  const { tokens, user, verify, active } = await setup(t)
  const a = await tokens.issueTokenPair(user, {})
  const b = await tokens.issueTokenPair(user, {})
  const c = await tokens.issueTokenPair(user, {})
  await tokens.endSessionOfRefreshToken(a.refresh_token, 'logout', {})
  await tokens.endSessionOfRefreshToken('unknown', 'logout', {})
  t.same(await active(), [verify(b.access_token).sid, verify(c.access_token).sid])
  await tokens.endBearerSessions(user.id, verify(b.access_token).sid, false, {})
  t.same(await active(), [verify(c.access_token).sid])
  await tokens.issueTokenPair(user, {})
  await tokens.endBearerSessions(user.id, verify(c.access_token).sid, true, {})
  t.same(await active(), [])
})

t.test('createAccessTokenSigner: follows the current key (run-time rotation) and signs HS256 too', async (t) => {
  const one = ed25519()
  const two = ed25519()
  let current = { kid: 'one', key: one.key }
  const sign = createAccessTokenSigner(OPTIONS, () => current)
  const header = (token: string) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()) as { kid: string, alg: string }
  const user = { id: 1, username: 'alice', role: 'admin' as const }
  t.equal(header(sign(user, 1)).kid, 'one')
  current = { kid: 'two', key: two.key }
  const token = sign(user, 2)
  t.same(header(token), { alg: 'EdDSA', typ: 'JWT', kid: 'two' })
  t.equal(createVerifier({ key: two.pub })(token).sid, 2, 'verifies with the new key')
  t.throws(() => createVerifier({ key: one.pub })(token), 'not with the old one')
  const hs = createAccessTokenSigner({ ...OPTIONS, algorithm: 'HS256' }, () => ({ kid: 'hs256-x', key: 'a secret of at least thirty-two characters' }))
  const hsToken = hs(user, 3)
  t.same(header(hsToken), { alg: 'HS256', typ: 'JWT', kid: 'hs256-x' })
  t.equal(createVerifier({ key: 'a secret of at least thirty-two characters' })(hsToken).role, 'admin')
})
