// JWT attack corpus against a protected route: every forged, tampered or stale token is a 401, never a 500.
import t, { type Test } from 'tap'
import { createHmac, createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { decodeJwt, exportJWK, importPKCS8, SignJWT } from 'jose'
import type { App } from '../../src/app.js'
import { build, signUp } from '../helper.js'

const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

const INVALID = 'Bearer error="invalid_token"'
const EXPIRED = 'Bearer error="invalid_token", error_description="The access token expired"'

async function me (app: App, authorization: string | undefined) {
  return await app.inject({ url: '/users/me', headers: authorization === undefined ? {} : { authorization } })
}

/** Asserts the contract's "bad token" answer. */
async function rejects (t: Test, app: App, token: string, name: string, wwwAuthenticate = INVALID) {
  const res = await me(app, `Bearer ${token}`)
  t.equal(res.statusCode, 401, `${name}: 401`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${name}: problem+json`)
  t.equal(res.json().detail, 'Could not validate credentials', `${name}: detail`)
  t.equal(res.headers['www-authenticate'], wwwAuthenticate, `${name}: WWW-Authenticate`)
}

/** The private signing key the server uses, read from <data dir>/keys/*.pem (src/services/keys.ts). */
function serverKeyPem (app: App): string {
  const dir = join(dirname(app.config.DATABASE_PATH), 'keys')
  const file = readdirSync(dir).filter((f) => f.endsWith('.pem')).sort().at(-1)!
  return readFileSync(join(dir, file), 'utf8')
}

async function setup (t: Test, overrides: Record<string, string | number> = {}) {
  const app = await build(t, overrides)
  const user = await signUp(app)
  const claims = decodeJwt(user.tokens.access_token) as Record<string, unknown>
  const now = Math.floor(Date.now() / 1000)
  /** Claims of a token the server itself would issue for this user's session. */
  const valid = (): Record<string, unknown> => ({
    sub: claims.sub,
    username: claims.username,
    role: claims.role,
    sid: claims.sid,
    jti: randomUUID(),
    iat: now,
    exp: now + 600,
    iss: app.config.JWT_ISSUER,
    aud: app.config.JWT_AUDIENCE
  })
  return { app, user, claims, valid, now }
}

t.test('EdDSA mode (default)', async (t) => {
  const { app, user, valid, now } = await setup(t)
  const [kid] = app.jwks.keys.map((k) => k.kid)
  const serverKey = await importPKCS8(serverKeyPem(app), 'EdDSA')
  const sign = async (payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'EdDSA', kid }) =>
    await new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(serverKey)

  t.test('control: tokens forged with the server key and valid claims are accepted', async (t) => {
    t.equal((await me(app, `Bearer ${user.tokens.access_token}`)).statusCode, 200, 'the issued token')
    t.equal((await me(app, `Bearer ${await sign(valid())}`)).statusCode, 200, 'a re-signed token with the same claims')
    t.equal((await me(app, `bearer ${user.tokens.access_token}`)).statusCode, 200, 'scheme is case-insensitive')
    t.equal((await me(app, `BEARER ${user.tokens.access_token}`)).statusCode, 200, 'scheme is case-insensitive (upper)')
  })

  const publicPem = createPublicKey(serverKeyPem(app)).export({ format: 'pem', type: 'spki' }).toString()
  const rawPublic = Buffer.from(app.jwks.keys[0].x, 'base64url')
  const hs256 = (payload: Record<string, unknown>, secret: string | Buffer, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT', kid }) => {
    const input = `${b64(header)}.${b64(payload)}`
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
  }
  const [h, p, s] = user.tokens.access_token.split('.')
  const attacker = generateKeyPairSync('ed25519')
  const attackerKey = attacker.privateKey
  const attackerJwk = await exportJWK(attacker.publicKey)
  const signWith = async (key: typeof attackerKey, payload: Record<string, unknown>, header: Record<string, unknown>) =>
    await new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key)

  const corpus: Array<[string, () => Promise<string> | string]> = [
    ['alg none, no signature', () => `${b64({ alg: 'none', typ: 'JWT', kid })}.${b64(valid())}.`],
    ['alg none, original signature kept', () => `${b64({ alg: 'none', kid })}.${p}.${s}`],
    ['alg NONE (case variant)', () => `${b64({ alg: 'NONE', kid })}.${b64(valid())}.`],
    ['HS256 keyed with the public key PEM (algorithm confusion)', () => hs256(valid(), publicPem)],
    ['HS256 keyed with the raw Ed25519 public key', () => hs256(valid(), rawPublic)],
    ['HS256 keyed with the public key PEM, no kid', () => hs256(valid(), publicPem, { alg: 'HS256' })],
    ['tampered payload: role admin', () => `${h}.${b64({ ...decodeJwt(user.tokens.access_token), role: 'admin' })}.${s}`],
    ['tampered payload: another sub', () => `${h}.${b64({ ...decodeJwt(user.tokens.access_token), sub: '999' })}.${s}`],
    ['tampered payload: exp extended', () => `${h}.${b64({ ...decodeJwt(user.tokens.access_token), exp: now + 99999 })}.${s}`],
    ['tampered header: extra member', () => `${b64({ ...JSON.parse(Buffer.from(h, 'base64url').toString()), x: 1 })}.${p}.${s}`],
    ['tampered header: alg HS256', () => `${b64({ ...JSON.parse(Buffer.from(h, 'base64url').toString()), alg: 'HS256' })}.${p}.${s}`],
    ['tampered signature: one character flipped', () => `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`],
    ['signature removed', () => `${h}.${p}.`],
    ['truncated: last 5 characters cut', () => user.tokens.access_token.slice(0, -5)],
    ['truncated: two segments', () => `${h}.${p}`],
    ['truncated: header only', () => h],
    ['four segments', () => `${h}.${p}.${s}.${s}`],
    ['wrong kid (valid signature)', async () => await sign(valid(), { alg: 'EdDSA', kid: 'not-a-kid' })],
    ['kid with a path', async () => await sign(valid(), { alg: 'EdDSA', kid: '../../../../etc/passwd' })],
    ['kid that is an object', async () => await sign(valid(), { alg: 'EdDSA', kid: { $ne: null } })],
    ['missing kid (valid signature)', async () => await sign(valid(), { alg: 'EdDSA' })],
    ['right kid, attacker key', async () => await signWith(attackerKey, valid(), { alg: 'EdDSA', kid })],
    ['embedded jwk header with the attacker key', async () => await signWith(attackerKey, valid(), { alg: 'EdDSA', kid, jwk: attackerJwk })],
    ['jku header pointing elsewhere', async () => await signWith(attackerKey, valid(), { alg: 'EdDSA', kid, jku: 'http://evil.example/jwks.json' })],
    ['future nbf', async () => await sign({ ...valid(), nbf: now + 3600 })],
    ['iat far in the future is fine only if nbf/exp are: future nbf + iat', async () => await sign({ ...valid(), iat: now + 3600, nbf: now + 3600 })],
    ['wrong iss', async () => await sign({ ...valid(), iss: 'http://evil.example' })],
    ['iss with a trailing slash', async () => await sign({ ...valid(), iss: `${app.config.JWT_ISSUER}/` })],
    ['missing iss', async () => { const c = valid(); delete c.iss; return await sign(c) }],
    ['wrong aud', async () => await sign({ ...valid(), aud: 'someone-else' })],
    ['missing aud', async () => { const c = valid(); delete c.aud; return await sign(c) }],
    ['missing exp', async () => { const c = valid(); delete c.exp; return await sign(c) }],
    ['missing sid', async () => { const c = valid(); delete c.sid; return await sign(c) }],
    ['missing sub', async () => { const c = valid(); delete c.sub; return await sign(c) }],
    ['sid as a string', async () => await sign({ ...valid(), sid: String(valid().sid) })],
    ['sid of another (nonexistent) session', async () => await sign({ ...valid(), sid: 987654 })],
    ['sub that is not a number', async () => await sign({ ...valid(), sub: 'admin' })],
    ['sub of another user with this sid', async () => await sign({ ...valid(), sub: String(Number(valid().sub) + 1000) })],
    ['sub with SQL', async () => await sign({ ...valid(), sub: '1 OR 1=1; --' })],
    ['sid huge', async () => await sign({ ...valid(), sid: Number.MAX_SAFE_INTEGER + 2 })],
    ['garbage: a.b.c', () => 'a.b.c'],
    ['garbage: three empty segments', () => '..'],
    ['garbage: not a JWT', () => 'not-a-jwt'],
    ['garbage: base64 of JSON that is not an object', () => `${b64('"x"')}.${b64('[1,2]')}.${b64('sig')}`],
    ['garbage: header is not JSON', () => `${b64('{{{')}.${p}.${s}`],
    ['garbage: 8 KiB of letters', () => 'a'.repeat(8192)],
    ['garbage: padded base64', () => 'abc=='],
    ['garbage: the refresh token', () => user.tokens.refresh_token]
  ]
  for (const [name, make] of corpus) {
    await rejects(t, app, await make(), name)
  }

  t.test('expired token says so, so clients know to refresh', async (t) => {
    await rejects(t, app, await sign({ ...valid(), iat: now - 3600, exp: now - 60 }), 'expired', EXPIRED)
    await rejects(t, app, await sign({ ...valid(), iat: now - 3600, exp: now - 1 }), 'expired a second ago', EXPIRED)
  })

  t.test('an expired token with a bad signature is not reported as merely expired', async (t) => {
    const expired = await signWith(attackerKey, { ...valid(), exp: now - 60 }, { alg: 'EdDSA', kid })
    await rejects(t, app, expired, 'expired + forged')
  })

  t.test('a cached verification does not outlive exp', async (t) => {
    const shortLived = await sign({ ...valid(), exp: Math.floor(Date.now() / 1000) + 2 })
    t.equal((await me(app, `Bearer ${shortLived}`)).statusCode, 200, 'valid now (and now cached)')
    await new Promise((resolve) => setTimeout(resolve, 3100))
    await rejects(t, app, shortLived, 'after exp', EXPIRED)
  })

  t.test('session ended: logout, revoke, password change', async (t) => {
    const u = await signUp(app)
    t.equal((await me(app, u.auth.authorization)).statusCode, 200, 'works (and is cached) before logout')
    const out = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: u.tokens.refresh_token } })
    t.equal(out.statusCode, 204)
    await rejects(t, app, u.tokens.access_token, 'sid of a logged-out session')

    const v = await signUp(app)
    await me(app, v.auth.authorization)
    await app.inject({ method: 'POST', url: '/auth/revoke', payload: `token=${v.tokens.access_token}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    await rejects(t, app, v.tokens.access_token, 'sid of a revoked session')
  })

  t.test('deleted user', async (t) => {
    const u = await signUp(app)
    t.equal((await me(app, u.auth.authorization)).statusCode, 200)
    const del = await app.inject({ method: 'DELETE', url: '/users/me', headers: u.auth, payload: { password: u.password } })
    t.equal(del.statusCode, 204)
    await rejects(t, app, u.tokens.access_token, 'token of a deleted user')
  })

  t.test('disabled user, even with a fresh forged-but-valid token for a live session id', async (t) => {
    const admin = await signUp(app, { role: 'admin' })
    const u = await signUp(app)
    t.equal((await me(app, u.auth.authorization)).statusCode, 200)
    const res = await app.inject({ method: 'PATCH', url: `/users/${u.id}`, headers: admin.auth, payload: { disabled: true } })
    t.equal(res.statusCode, 200)
    await rejects(t, app, u.tokens.access_token, 'token of a disabled user')
    // Re-enable: the old session stays ended (disabling ended it).
    await app.inject({ method: 'PATCH', url: `/users/${u.id}`, headers: admin.auth, payload: { disabled: false } })
    await rejects(t, app, u.tokens.access_token, 'token of a re-enabled user whose sessions were ended')
  })

  t.test('no token', async (t) => {
    for (const [name, header] of [
      ['no Authorization header', undefined],
      ['empty Authorization header', ''],
      ["'Bearer' with no token", 'Bearer'],
      ["'Bearer ' with only spaces", 'Bearer    '],
      ["'Basic x' scheme", 'Basic x'],
      ["'Basic' with the real token", `Basic ${user.tokens.access_token}`],
      ['token without a scheme', user.tokens.access_token]
    ] as const) {
      const res = await me(app, header)
      t.equal(res.statusCode, 401, `${name}: 401`)
      t.equal(res.json().detail, 'Not authenticated', `${name}: detail`)
      t.equal(res.headers['www-authenticate'], 'Bearer', `${name}: WWW-Authenticate`)
    }
  })

  t.test('malformed Bearer credentials are 401, never 500', async (t) => {
    // Strings outside the b64token syntax of RFC 6750 §2.1.
    for (const token of ['!!!', 'a b c', '<script>alert(1)</script>', "' OR 1=1 --", '%00', '{"alg":"none"}', 'a.b.c d', '\u00e9t\u00e9']) {
      const res = await me(app, `Bearer ${token}`)
      t.equal(res.statusCode, 401, `Bearer ${JSON.stringify(token.slice(0, 20))}: 401`)
      t.match(res.headers['www-authenticate'], /^Bearer/, 'WWW-Authenticate: Bearer …')
      t.match(res.json(), { status: 401, detail: String })
    }
  })

  t.test('several spaces after "Bearer" are allowed (RFC 7235: 1*SP)', async (t) => {
    t.equal((await me(app, `Bearer   ${user.tokens.access_token}`)).statusCode, 200)
    const bad = await me(app, 'Bearer !!!')
    t.equal(bad.headers['www-authenticate'], INVALID, 'a malformed token is an invalid one, not a missing one')
  })

  t.test('every protected route rejects a forged token the same way', async (t) => {
    const forged = `${b64({ alg: 'none', kid })}.${b64({ ...valid(), role: 'admin' })}.`
    for (const [method, url] of [['GET', '/users/me'], ['GET', '/tasks'], ['GET', '/users'], ['GET', '/admin/stats'], ['GET', '/users/me/sessions']] as const) {
      const res = await app.inject({ method, url, headers: { authorization: `Bearer ${forged}` } })
      t.equal(res.statusCode, 401, `${method} ${url}`)
      t.equal(res.headers['www-authenticate'], INVALID)
    }
  })
})

t.test('HS256 mode (JWT_SECRET set)', async (t) => {
  const secret = 'x'.repeat(16) + 'latchkey-test-secret-0123456789'
  const { app, user, valid } = await setup(t, { JWT_SECRET: secret })
  t.equal(app.signingAlgorithm, 'HS256')
  t.same(app.jwks.keys, [], 'no public keys published')
  const kid = JSON.parse(Buffer.from(user.tokens.access_token.split('.')[0], 'base64url').toString()).kid as string
  t.equal((await me(app, `Bearer ${user.tokens.access_token}`)).statusCode, 200, 'control: issued token works')
  const good = await new SignJWT(valid()).setProtectedHeader({ alg: 'HS256', kid }).sign(Buffer.from(secret))
  t.equal((await me(app, `Bearer ${good}`)).statusCode, 200, 'control: forged with the real secret works')

  const { privateKey } = generateKeyPairSync('ed25519')
  const eddsa = await new SignJWT(valid()).setProtectedHeader({ alg: 'EdDSA', kid }).sign(privateKey)
  await rejects(t, app, eddsa, 'EdDSA-signed token in HS256 mode')
  await rejects(t, app, await new SignJWT(valid()).setProtectedHeader({ alg: 'HS256', kid }).sign(Buffer.from('y'.repeat(48))), 'HS256 with another secret')
  await rejects(t, app, await new SignJWT(valid()).setProtectedHeader({ alg: 'HS512', kid }).sign(Buffer.from(secret)), 'HS512 with the real secret (algorithm not allowed)')
  await rejects(t, app, `${b64({ alg: 'none', kid })}.${b64(valid())}.`, 'alg none in HS256 mode')
  await rejects(t, app, await new SignJWT({ ...valid(), aud: 'other' }).setProtectedHeader({ alg: 'HS256', kid }).sign(Buffer.from(secret)), 'wrong aud in HS256 mode')
})

t.test('key material: the JWKS publishes public parts only; private keys are 0600 in a 0700 directory', async (t) => {
  const { app } = await setup(t)
  const res = await app.inject({ url: '/.well-known/jwks.json' })
  t.equal(res.statusCode, 200)
  for (const key of res.json().keys as Array<Record<string, unknown>>) {
    t.same(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'], 'only public members')
    t.notOk('d' in key, 'no private scalar')
  }
  t.notMatch(res.body, /PRIVATE KEY/)
  const dir = join(dirname(app.config.DATABASE_PATH), 'keys')
  t.equal(statSync(dir).mode & 0o777, 0o700, 'keys directory is 0700')
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.pem'))) {
    t.equal(statSync(join(dir, file)).mode & 0o777, 0o600, `${file} is 0600`)
  }
})

t.test('a token from another Latchkey instance (other keys) is rejected', async (t) => {
  const a = await setup(t)
  const b = await setup(t)
  await rejects(t, b.app, a.user.tokens.access_token, 'token signed by another instance')
})
