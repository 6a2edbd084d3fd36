// Response headers: helmet on every response, CORS off unless configured, token responses never cached.
import t, { type Test } from 'tap'
import Fastify, { type LightMyRequestResponse } from 'fastify'
import fastifyHelmet, { type FastifyHelmetOptions } from '@fastify/helmet'
import { helmetOptions } from '../../plugins/security.js'
import { build, form, newUser, signUp } from '../helper.js'

function hasHelmet (t: Test, res: LightMyRequestResponse, name: string) {
  const h = res.headers
  const csp = String(h['content-security-policy'])
  t.match(csp, /default-src 'self'/, `${name}: CSP default-src 'self'`)
  t.match(csp, /object-src 'none'/, `${name}: CSP object-src 'none'`)
  t.match(csp, /frame-ancestors 'self'/, `${name}: CSP frame-ancestors`)
  t.notMatch(csp, /upgrade-insecure-requests/, `${name}: no upgrade-insecure-requests (plain-http localhost Swagger UI)`)
  t.equal(h['x-content-type-options'], 'nosniff', `${name}: X-Content-Type-Options`)
  t.equal(h['x-frame-options'], 'SAMEORIGIN', `${name}: X-Frame-Options`)
  t.equal(h['referrer-policy'], 'no-referrer', `${name}: Referrer-Policy`)
  t.equal(h['cross-origin-opener-policy'], 'same-origin', `${name}: COOP`)
  t.equal(h['cross-origin-resource-policy'], 'same-origin', `${name}: CORP`)
  t.equal(h['x-permitted-cross-domain-policies'], 'none', `${name}: X-Permitted-Cross-Domain-Policies`)
  t.equal(h['x-dns-prefetch-control'], 'off', `${name}: X-DNS-Prefetch-Control`)
  t.equal(h['x-xss-protection'], '0', `${name}: X-XSS-Protection disabled (modern advice)`)
  t.notOk('x-powered-by' in h, `${name}: no X-Powered-By`)
  t.notOk('strict-transport-security' in h, `${name}: no HSTS (left to the TLS-terminating proxy)`)
}

t.test('helmet headers on success, error and throttled responses', async (t) => {
  const app = await build(t, { RATE_LIMIT_PER_MINUTE: 1 })
  const user = await signUp(app, {})
  hasHelmet(t, await app.inject({ url: '/health' }), 'GET /health')
  hasHelmet(t, await app.inject({ url: '/users/me', headers: user.auth }), 'GET /users/me')
  hasHelmet(t, await app.inject({ url: '/users/me' }), '401')
  hasHelmet(t, await app.inject({ url: '/no/such/route' }), '404')
  hasHelmet(t, await app.inject({ method: 'POST', url: '/tasks', headers: { ...user.auth, 'content-type': 'application/json' }, payload: '{' }), '400')
  hasHelmet(t, await app.inject({ method: 'POST', url: '/tasks', headers: user.auth, payload: {} }), '422')
  hasHelmet(t, await app.inject({ method: 'POST', url: '/auth/token', payload: { username: 'a' } }), '415 on /auth/token')
  hasHelmet(t, await app.inject({ url: '/.well-known/jwks.json' }), 'JWKS')
  // The login above used the single allowed /auth/token request of this IP.
  const limited = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: 'a', password: 'b' }) })
  t.equal(limited.statusCode, 429)
  hasHelmet(t, limited, '429')
})

t.test('CORS is off by default', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  for (const origin of ['http://evil.example', 'http://a.example', 'null']) {
    const res = await app.inject({ url: '/users/me', headers: { ...user.auth, origin } })
    t.equal(res.statusCode, 200)
    t.notOk('access-control-allow-origin' in res.headers, `${origin}: no Access-Control-Allow-Origin`)
    t.notOk('access-control-allow-credentials' in res.headers)
    const preflight = await app.inject({ method: 'OPTIONS', url: '/auth/token', headers: { origin, 'access-control-request-method': 'POST' } })
    t.notOk('access-control-allow-origin' in preflight.headers, `${origin}: preflight not allowed`)
    t.notOk('access-control-allow-methods' in preflight.headers)
  }
})

t.test('CORS_ORIGINS allows exactly the listed origins', async (t) => {
  const app = await build(t, { CORS_ORIGINS: 'http://a.example' })
  const user = await signUp(app)
  const allowed = await app.inject({ url: '/users/me', headers: { ...user.auth, origin: 'http://a.example' } })
  t.equal(allowed.headers['access-control-allow-origin'], 'http://a.example', 'the listed origin is allowed')
  t.match(String(allowed.headers.vary), /Origin/i, 'Vary: Origin, so caches do not mix origins')
  t.notOk('access-control-allow-credentials' in allowed.headers, 'no credentials mode: tokens travel in headers, not cookies')

  const preflight = await app.inject({ method: 'OPTIONS', url: '/auth/token', headers: { origin: 'http://a.example', 'access-control-request-method': 'POST' } })
  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'http://a.example')
  t.match(String(preflight.headers['access-control-allow-methods']), /POST/)

  for (const origin of ['http://b.example', 'http://a.example.evil.example', 'https://a.example', 'http://a.example:8080', 'null']) {
    const res = await app.inject({ url: '/users/me', headers: { ...user.auth, origin } })
    t.notOk('access-control-allow-origin' in res.headers, `${origin}: not allowed`)
    const pre = await app.inject({ method: 'OPTIONS', url: '/auth/token', headers: { origin, 'access-control-request-method': 'POST' } })
    t.notOk('access-control-allow-origin' in pre.headers, `${origin}: preflight not allowed`)
  }
})

t.test('token responses carry Cache-Control: no-store and Pragma: no-cache', async (t) => {
  const app = await build(t)
  const reg = newUser()
  t.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: reg })).statusCode, 201)
  const noStore = (res: LightMyRequestResponse, name: string) => {
    t.equal(res.statusCode, 200, `${name}: 200`)
    t.ok('access_token' in res.json(), `${name}: carries tokens`)
    t.equal(res.headers['cache-control'], 'no-store', `${name}: Cache-Control: no-store`)
    t.equal(res.headers.pragma, 'no-cache', `${name}: Pragma: no-cache`)
  }
  const password = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: reg.username, password: reg.password }) })
  noStore(password, '/auth/token password grant')
  const grant = await app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'refresh_token', refresh_token: password.json().refresh_token }) })
  noStore(grant, '/auth/token refresh grant')
  const refresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: grant.json().refresh_token } })
  noStore(refresh, '/auth/refresh')
})

t.test('every route class sends exactly the headers @fastify/helmet sends with the same options', async (t) => {
  // The reference: @fastify/helmet (helmet rebuilt per request) on a bare app, with plugins/security.ts's options.
  const reference = Fastify()
  // (helmet's ESM and CommonJS typings are distinct types to TypeScript; the object is the same.)
  await reference.register(fastifyHelmet, helmetOptions as FastifyHelmetOptions)
  reference.get('/', async () => ({}))
  t.teardown(() => reference.close())
  const expected = (await reference.inject({ url: '/' })).headers
  const helmetNames = Object.keys(expected).filter((name) => !['content-type', 'content-length', 'date', 'connection'].includes(name))
  t.ok(helmetNames.length >= 10, 'the reference sends helmet\'s headers')

  const app = await build(t, { RATE_LIMIT_PER_MINUTE: 1 })
  const user = await signUp(app, {})
  const pageOwn = new Set(['content-security-policy', 'referrer-policy']) // the recovery pages set their own (stricter) CSP
  const cases: Array<[string, LightMyRequestResponse, Set<string>?]> = [
    ['GET /users/me', await app.inject({ url: '/users/me', headers: user.auth })],
    ['401', await app.inject({ url: '/users/me' })],
    ['404', await app.inject({ url: '/no/such/route' })],
    ['400', await app.inject({ method: 'POST', url: '/tasks', headers: { ...user.auth, 'content-type': 'application/json' }, payload: '{' })],
    ['Swagger UI /docs', await app.inject({ url: '/docs' })],
    ['Swagger UI /docs/', await app.inject({ url: '/docs/' })],
    ['OpenAPI /docs/json', await app.inject({ url: '/docs/json' })],
    ['/reset-password page', await app.inject({ url: '/reset-password' }), pageOwn],
    ['/assets/recovery.js', await app.inject({ url: '/assets/recovery.js' })],
    ['JWKS', await app.inject({ url: '/.well-known/jwks.json' })],
    ['415', await app.inject({ method: 'POST', url: '/auth/token', payload: { username: 'a' } })]
  ]
  const limited = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: 'a', password: 'b' }) })
  t.equal(limited.statusCode, 429)
  cases.push(['429', limited])
  for (const [name, res, own = new Set<string>()] of cases) {
    for (const header of helmetNames) {
      if (own.has(header)) t.ok(header in res.headers, `${name}: ${header} (the route's own)`)
      else t.equal(res.headers[header], expected[header], `${name}: ${header}`)
    }
    t.notOk('x-powered-by' in res.headers, `${name}: no X-Powered-By`)
  }
})
