// End to end: the OAuth2 client libraries people use (oauth4webapi, openid-client) and jose against the
// built server on a real port: RFC 8414 discovery, the password grant, errors, rotation, RFC 7009.
import t from 'tap'
import * as oauth from 'oauth4webapi'
import * as client from 'openid-client'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { serve } from './server-process.js'

const PASSWORD = 'a client library passphrase'

t.test('strict OAuth2 clients and jose against the running server', async (t) => {
  const served = await serve(t)
  const issuer = new URL(served.base)
  const registered = await fetch(`${served.base}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'lib_user', email: 'lib_user@example.com', password: PASSWORD })
  })
  t.equal(registered.status, 201)
  const me = async (accessToken: string) => (await fetch(`${served.base}/users/me`, { headers: { authorization: `Bearer ${accessToken}` } })).status

  await t.test('oauth4webapi', async (t) => {
    // The test server speaks plain http on 127.0.0.1; the library refuses that unless told.
    const insecure = { [oauth.allowInsecureRequests]: true }
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
    t.equal(as.issuer, served.base, 'RFC 8414: issuer')
    t.equal(as.token_endpoint, `${served.base}/auth/token`)
    t.equal(as.revocation_endpoint, `${served.base}/auth/revoke`)
    t.same(as.grant_types_supported, ['password', 'refresh_token'])
    const c: oauth.Client = { client_id: 'oauth4webapi-test', token_endpoint_auth_method: 'none' }
    const auth = oauth.None()

    const grant = async (fields: Record<string, string>) =>
      await oauth.processGenericTokenEndpointResponse(as, c, await oauth.genericTokenEndpointRequest(as, c, auth, 'password', fields, insecure))
    const tokens = await grant({ username: 'lib_user', password: PASSWORD })
    t.equal(tokens.token_type, 'bearer')
    t.equal(tokens.expires_in, 1800)
    t.type(tokens.refresh_token, 'string')
    t.equal(await me(tokens.access_token), 200)

    // A wrong password is invalid_grant, not a resource server's challenge.
    const wrong = await grant({ username: 'lib_user', password: 'wrong password!' }).catch((err: unknown) => err)
    t.ok(wrong instanceof oauth.ResponseBodyError, 'a ResponseBodyError')
    t.notOk(wrong instanceof oauth.WWWAuthenticateChallengeError, 'not a WWWAuthenticateChallengeError')
    const body = wrong as oauth.ResponseBodyError
    t.equal(body.error, 'invalid_grant')
    t.equal(body.status, 401)
    t.equal(body.error_description, 'Incorrect username or password')
    t.equal(body.cause.detail, 'Incorrect username or password', 'detail, for FastAPI-style clients')

    // Refresh with rotation: the new refresh token works, the old one is retired.
    const rotated = await oauth.processRefreshTokenResponse(as, c, await oauth.refreshTokenGrantRequest(as, c, auth, tokens.refresh_token!, insecure))
    t.not(rotated.refresh_token, tokens.refresh_token, 'the refresh token rotates')
    t.equal(await me(rotated.access_token), 200)

    // RFC 7009: revoking the refresh token ends the session; its access tokens stop working at once.
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, c, auth, rotated.refresh_token!, insecure))
    t.equal(await me(rotated.access_token), 401, 'the session ended')
    const after = await oauth.processRefreshTokenResponse(as, c, await oauth.refreshTokenGrantRequest(as, c, auth, rotated.refresh_token!, insecure)).catch((err: unknown) => err)
    t.ok(after instanceof oauth.ResponseBodyError)
    t.equal((after as oauth.ResponseBodyError).error, 'invalid_grant', 'a revoked refresh token is invalid_grant')
  })

  await t.test('openid-client', async (t) => {
    const config = await client.discovery(issuer, 'openid-client-test', undefined, client.None(), {
      algorithm: 'oauth2',
      execute: [client.allowInsecureRequests]
    })
    t.equal(config.serverMetadata().issuer, served.base, 'RFC 8414 discovery')
    const tokens = await client.genericGrantRequest(config, 'password', { username: 'LIB_USER@example.com', password: PASSWORD })
    t.equal(tokens.token_type, 'bearer')
    t.equal(await me(tokens.access_token), 200)

    const wrong = await client.genericGrantRequest(config, 'password', { username: 'lib_user', password: 'nope nope nope' }).catch((err: unknown) => err)
    t.ok(wrong instanceof client.ResponseBodyError, 'a ResponseBodyError')
    t.notOk(wrong instanceof client.WWWAuthenticateChallengeError, 'not a WWWAuthenticateChallengeError')
    t.equal((wrong as client.ResponseBodyError).error, 'invalid_grant')

    const rotated = await client.refreshTokenGrant(config, tokens.refresh_token!)
    t.not(rotated.refresh_token, tokens.refresh_token)
    await client.tokenRevocation(config, rotated.access_token)
    t.equal(await me(rotated.access_token), 401, 'revoking the access token ends its session (RFC 7009)')
    const ended = await client.refreshTokenGrant(config, rotated.refresh_token!).catch((err: unknown) => err)
    t.equal((ended as client.ResponseBodyError).error, 'invalid_grant', 'and its refresh token with it')
  })

  await t.test('jose: createRemoteJWKSet + jwtVerify with issuer and audience', async (t) => {
    const res = await fetch(`${served.base}/auth/token`, { method: 'POST', body: new URLSearchParams({ username: 'lib_user', password: PASSWORD }) })
    const { access_token: accessToken } = await res.json() as { access_token: string }
    const jwks = createRemoteJWKSet(new URL(`${served.base}/.well-known/jwks.json`))
    const { payload, protectedHeader } = await jwtVerify(accessToken, jwks, { issuer: served.base, audience: 'latchkey', algorithms: ['EdDSA'] })
    t.equal(protectedHeader.alg, 'EdDSA')
    t.equal(payload.username, 'lib_user')
    t.equal(payload.role, 'user')
    t.type(payload.sub, 'string')
    await t.rejects(jwtVerify(accessToken, jwks, { issuer: 'http://elsewhere.example', audience: 'latchkey' }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' }, 'another issuer is refused')
    await t.rejects(jwtVerify(accessToken, jwks, { issuer: served.base, audience: 'another-api' }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' }, 'another audience is refused')
  })
})
