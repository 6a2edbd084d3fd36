// The browser plugin on a bare Fastify: the refresh cookie's reader, writer and origin rule, and CORS per path.
import t from 'tap'
import Fastify from 'fastify'
import configPlugin from '../../plugins/config.js'
import errorsPlugin from '../../plugins/errors.js'
import browserPlugin, { FOREIGN_ORIGIN, REFRESH_COOKIE } from '../../plugins/browser.js'
import { testConfig } from '../helper.js'

t.test('browser plugin on a bare Fastify', async (t) => {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(configPlugin, { config: testConfig(t, { JWT_ISSUER: 'https://auth.example.com', CORS_ORIGINS: 'https://app.example.com', COOKIE_SECURE: 'false' }) })
  await app.register(errorsPlugin)
  await app.register(browserPlugin)
  app.post('/auth/read', async (request) => ({ value: app.refreshCookie.read(request) ?? null }))
  app.post('/token', async (request) => ({ value: app.refreshCookie.read(request) ?? null }))
  app.post('/authx/read', async (request) => ({ value: app.refreshCookie.read(request) ?? null }))
  app.post('/auth/wanted', async (request) => ({ wanted: app.refreshCookie.wanted(request, (request.query as { mode?: string }).mode) }))
  app.post('/auth/set', async (_request, reply) => { app.refreshCookie.set(reply, 'abc'); return {} })
  app.post('/auth/clear', async (_request, reply) => { app.refreshCookie.clear(reply); return {} })
  app.post('/form', { config: { oauth: true } }, async (request) => ({ wanted: app.refreshCookie.wanted(request, 'cookie') }))
  app.get('/api', async (request) => ({ cookies: request.cookies ?? null }))
  await app.ready()

  t.equal(REFRESH_COOKIE, 'latchkey_refresh')
  const cookie = { cookie: `${REFRESH_COOKIE}=tok` }
  t.same((await app.inject({ method: 'POST', url: '/auth/read', headers: { ...cookie, origin: 'https://app.example.com' } })).json(), { value: 'tok' })
  t.same((await app.inject({ method: 'POST', url: '/auth/read', headers: { origin: 'https://evil.example' } })).json(), { value: null },
    'no cookie, nothing to check: a request that does not use the cookie is not refused')
  for (const url of ['/token', '/authx/read', '/token?x=/auth/']) {
    for (const origin of ['https://app.example.com', 'https://evil.example']) {
      const outside = await app.inject({ method: 'POST', url, headers: { ...cookie, origin } })
      t.equal(outside.statusCode, 200, `${url} from ${origin}: not refused, since nothing is read`)
      t.same(outside.json(), { value: null }, `${url} from ${origin}: the cookie is never read outside /auth`)
    }
  }
  const foreign = await app.inject({ method: 'POST', url: '/auth/read', headers: { ...cookie, origin: 'https://evil.example' } })
  t.equal(foreign.statusCode, 403, 'reading a cookie a foreign origin sent is refused')
  t.equal(foreign.json().detail, FOREIGN_ORIGIN)
  t.same((await app.inject({ method: 'POST', url: '/auth/wanted', headers: { origin: 'https://auth.example.com' }, query: { mode: 'cookie' } })).json(), { wanted: true }, "the issuer's own origin")
  t.same((await app.inject({ method: 'POST', url: '/auth/wanted', query: { mode: 'json' } })).json(), { wanted: false }, 'mode=json needs no origin')
  t.same((await app.inject({ method: 'POST', url: '/form' })).json(), { error: 'invalid_request', error_description: FOREIGN_ORIGIN, detail: FOREIGN_ORIGIN }, 'the OAuth2 shape on form routes')

  t.equal((await app.inject({ method: 'POST', url: '/auth/set' })).headers['set-cookie'], 'latchkey_refresh=abc; Max-Age=604800; Path=/auth; HttpOnly; SameSite=Strict')
  t.equal((await app.inject({ method: 'POST', url: '/auth/clear' })).headers['set-cookie'], 'latchkey_refresh=; Max-Age=0; Path=/auth; HttpOnly; SameSite=Strict')

  const api = await app.inject({ url: '/api', headers: { ...cookie, origin: 'https://app.example.com' } })
  t.same(api.json(), { cookies: null }, 'no route has request.cookies: nothing parses cookies on its own')
  t.equal(api.headers['access-control-allow-origin'], 'https://app.example.com')
  t.notOk('access-control-allow-credentials' in api.headers)
  t.equal((await app.inject({ method: 'POST', url: '/auth/set', headers: { origin: 'https://app.example.com' } })).headers['access-control-allow-credentials'], 'true')
})
