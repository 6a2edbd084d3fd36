import t from 'tap'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { buildApp } from '../../src/app.js'
import { addKey } from '../../src/services/keys.js'
import { dataDirectory } from '../../src/db/open.js'
import { build, signUp, testConfig } from '../helper.js'

t.test('JWKS: public keys only, cacheable; an independent verifier (jose) accepts our tokens', async (t) => {
  const app = await build(t, { JWT_ISSUER: 'https://auth.example.test', JWT_AUDIENCE: 'api' })
  const res = await app.inject('/.well-known/jwks.json')
  t.equal(res.statusCode, 200)
  t.match(res.headers['cache-control'], /max-age=\d+/)
  const jwks = res.json()
  t.equal(jwks.keys.length, 1)
  t.notOk('d' in jwks.keys[0])
  const user = await signUp(app)
  const { payload, protectedHeader } = await jwtVerify(user.tokens.access_token, createLocalJWKSet(jwks), {
    issuer: 'https://auth.example.test', audience: 'api', algorithms: ['EdDSA']
  })
  t.equal(protectedHeader.kid, jwks.keys[0].kid)
  t.equal(payload.sub, String(user.id))
})

t.test('RFC 8414 metadata', async (t) => {
  const app = await build(t, { JWT_ISSUER: 'https://auth.example.test' })
  const res = await app.inject('/.well-known/oauth-authorization-server')
  t.equal(res.statusCode, 200)
  t.match(res.json(), {
    issuer: 'https://auth.example.test',
    token_endpoint: 'https://auth.example.test/auth/token',
    revocation_endpoint: 'https://auth.example.test/auth/revoke',
    jwks_uri: 'https://auth.example.test/.well-known/jwks.json',
    grant_types_supported: ['password', 'refresh_token'],
    response_types_supported: []
  })
})

t.test('tokens survive a restart; a rotated key signs after the next start and old tokens keep verifying', async (t) => {
  const config = testConfig(t)
  const first = await buildApp(config, { logger: false })
  const user = await signUp(first)
  const oldKid = first.jwks.keys[0].kid
  await first.close()

  const second = await buildApp(config, { logger: false })
  t.teardown(() => second.close())
  t.equal((await second.inject({ url: '/users/me', headers: user.auth })).statusCode, 200, 'same key after restart')
  await second.close()

  const rotated = addKey(dataDirectory(config.DATABASE_PATH), new Date(Date.now() + 1000))
  const third = await buildApp(config, { logger: false })
  t.teardown(() => third.close())
  t.same(third.jwks.keys.map((k) => k.kid), [oldKid, rotated.kid])
  t.equal((await third.inject({ url: '/users/me', headers: user.auth })).statusCode, 200, 'old token still verifies')
  const fresh = await third.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: user.tokens.refresh_token } })
  const token = fresh.json().access_token as string
  t.equal(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid, rotated.kid, 'the newest key signs')
  t.equal((await third.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
})

t.test('HS256 mode: shared secret, empty JWKS, tokens verify', async (t) => {
  const app = await build(t, { JWT_SECRET: 'a-shared-secret-of-at-least-32-bytes!!' })
  t.equal(app.signingAlgorithm, 'HS256')
  t.same((await app.inject('/.well-known/jwks.json')).json(), { keys: [] })
  const user = await signUp(app)
  const header = JSON.parse(Buffer.from(user.tokens.access_token.split('.')[0], 'base64url').toString())
  t.equal(header.alg, 'HS256')
  t.match(header.kid, /^hs256-/)
  t.equal((await app.inject({ url: '/users/me', headers: user.auth })).statusCode, 200)
})
