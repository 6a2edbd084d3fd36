// Browser apps (API.md "Browser apps"): mode=cookie on /auth/token, /auth/refresh and /auth/logout, the cookie's
// attributes, rotation, grace and reuse through the cookie, the CSRF origin rule, and CORS with credentials.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { LightMyRequestResponse } from 'fastify'
import type { App } from '../../src/app.js'
import { corsOrigins, parseConfig } from '../../src/config.js'
import { build, form, login, register, testEnv } from '../helper.js'

const SPA = 'http://localhost:5173'
const ISSUER = 'http://auth.example.test:8000'
const FOREIGN = 'http://evil.example'
const REFUSED = 'Cookie mode needs a request from an allowed origin'
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

interface SetCookie { name: string, value: string, attributes: Record<string, string | true> }

/** The response's one Set-Cookie header, split into name, value and attributes (names lower-cased). */
function setCookie (res: LightMyRequestResponse): SetCookie {
  const header = res.headers['set-cookie']
  if (typeof header !== 'string') throw new Error(`expected exactly one Set-Cookie, got ${JSON.stringify(header)}`)
  const [pair, ...rest] = header.split(';').map((s) => s.trim())
  const eq = pair.indexOf('=')
  const attributes: Record<string, string | true> = {}
  for (const a of rest) {
    const i = a.indexOf('=')
    if (i === -1) attributes[a.toLowerCase()] = true
    else attributes[a.slice(0, i).toLowerCase()] = a.slice(i + 1)
  }
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes }
}

const cookieHeader = (value: string) => ({ cookie: `theme=dark; latchkey_refresh=${value}` })

async function cookieLogin (app: App, user: { username: string, password: string }, headers: Record<string, string> = { origin: SPA }) {
  return app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: user.password, mode: 'cookie' }), headers: { ...FORM, ...headers } })
}

/** Log in with mode=cookie from the SPA's origin; the cookie's value is the refresh token. */
async function signInWithCookie (app: App) {
  const user = await register(app)
  const res = await cookieLogin(app, user)
  if (res.statusCode !== 200) throw new Error(`cookie login failed: ${res.statusCode} ${res.body}`)
  return { user, access: res.json<{ access_token: string }>().access_token, cookie: setCookie(res).value }
}

const cookieGrant = (app: App, cookie: string | undefined, headers: Record<string, string> = { origin: SPA }, fields: Record<string, string> = {}) =>
  app.inject({
    method: 'POST',
    url: '/auth/token',
    ...form({ grant_type: 'refresh_token', mode: 'cookie', ...fields }),
    headers: { ...FORM, ...(cookie === undefined ? {} : cookieHeader(cookie)), ...headers }
  })

const cookieRefresh = (app: App, cookie: string | undefined, headers: Record<string, string> = { origin: SPA }, body: Record<string, unknown> = { mode: 'cookie' }) =>
  app.inject({ method: 'POST', url: '/auth/refresh', payload: body, headers: { ...(cookie === undefined ? {} : cookieHeader(cookie)), ...headers } })

const me = (app: App, access: string, headers: Record<string, string> = {}) =>
  app.inject({ url: '/users/me', headers: { authorization: `Bearer ${access}`, ...headers } })

const config = { CORS_ORIGINS: `${SPA}, http://other.example`, JWT_ISSUER: ISSUER, REFRESH_TOKEN_TTL: 3600 }

t.test('configuration: COOKIE_SECURE and CORS_ORIGINS', async (t) => {
  const base = { ...testEnv, DATABASE_PATH: '/tmp/unused.db' }
  t.equal(parseConfig(base).COOKIE_SECURE, true, 'Secure by default')
  for (const v of ['false', '0', 'no', 'off']) t.equal(parseConfig({ ...base, COOKIE_SECURE: v }).COOKIE_SECURE, false, `COOKIE_SECURE=${v}`)
  t.equal(parseConfig({ ...base, COOKIE_SECURE: 'true' }).COOKIE_SECURE, true)
  t.throws(() => parseConfig({ ...base, COOKIE_SECURE: 'maybe' }), /COOKIE_SECURE="maybe" is not valid: expected true or false/)
  t.same(corsOrigins(parseConfig({ ...base, CORS_ORIGINS: ' http://localhost:5173 , https://app.example.com ' })), ['http://localhost:5173', 'https://app.example.com'], 'a list, spaces trimmed')
  for (const bad of ['http://localhost:5173/', 'localhost:5173', '*', 'ftp://files.example', 'https://app.example.com/path', 'https://app.example.com:443']) {
    t.throws(() => parseConfig({ ...base, CORS_ORIGINS: `http://ok.example,${bad}` }),
      new RegExp(`CORS_ORIGINS entry "${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}" is not an origin`), `${bad} is refused at boot`)
  }
})

t.test('login with mode=cookie: the refresh token only in an httpOnly cookie', async (t) => {
  const app = await build(t, config)
  const user = await register(app)
  const res = await cookieLogin(app, user)
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'token_type'], 'the usual body without refresh_token')
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers.pragma, 'no-cache')
  const cookie = setCookie(res)
  t.equal(cookie.name, 'latchkey_refresh')
  t.match(cookie.value, /^[\w-]{43,}$/, 'an opaque token of at least 256 bits')
  t.same(cookie.attributes, { 'max-age': '3600', path: '/auth', httponly: true, secure: true, samesite: 'Strict' },
    'HttpOnly; SameSite=Strict; Path=/auth; Max-Age=REFRESH_TOKEN_TTL; Secure — and nothing else (no Domain)')
  t.equal((await me(app, body.access_token)).statusCode, 200, 'the access token works')

  t.test('the issuer\'s own origin may ask for the cookie too', async (t) => {
    const own = await cookieLogin(app, user, { origin: ISSUER, 'sec-fetch-site': 'same-origin' })
    t.equal(own.statusCode, 200)
    t.equal(setCookie(own).name, 'latchkey_refresh')
  })

  t.test('every origin listed in CORS_ORIGINS may, with Sec-Fetch-Site same-site', async (t) => {
    t.equal((await cookieLogin(app, user, { origin: 'http://other.example', 'sec-fetch-site': 'same-site' })).statusCode, 200)
  })
})

t.test('COOKIE_SECURE=false leaves Secure out, nothing else changes', async (t) => {
  const app = await build(t, { ...config, COOKIE_SECURE: 'false' })
  const res = await cookieLogin(app, await register(app))
  t.equal(res.statusCode, 200)
  t.same(setCookie(res).attributes, { 'max-age': '3600', path: '/auth', httponly: true, samesite: 'Strict' })
})

t.test('mode=json (and no mode) is v1: refresh_token in the body, no cookie', async (t) => {
  const app = await build(t, config)
  const user = await register(app)
  for (const fields of [{}, { mode: 'json' }] as Array<Record<string, string>>) {
    const res = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: user.password, ...fields }), headers: { ...FORM, origin: FOREIGN } })
    t.equal(res.statusCode, 200, `${JSON.stringify(fields)}: 200 from any origin (no cookie involved)`)
    t.type(res.json().refresh_token, 'string', 'refresh_token in the body')
    t.notOk('set-cookie' in res.headers, 'no cookie')
    const refreshed = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: res.json().refresh_token, ...fields } })
    t.equal(refreshed.statusCode, 200)
    t.type(refreshed.json().refresh_token, 'string')
    t.notOk('set-cookie' in refreshed.headers)
  }
  const missing = await app.inject({ method: 'POST', url: '/auth/refresh', payload: {} })
  t.equal(missing.statusCode, 422, 'without mode, /auth/refresh still requires refresh_token')
  t.same(missing.json().errors, [{ field: '/refresh_token', message: 'is required' }])

  const wrongToken = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: user.password, mode: 'session' }) })
  t.equal(wrongToken.statusCode, 400)
  t.same(wrongToken.json(), { error: 'invalid_request', error_description: 'mode must be one of "json" or "cookie"', detail: 'mode must be one of "json" or "cookie"' })
  const wrongRefresh = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { mode: 'Cookie', refresh_token: 'x' } })
  t.equal(wrongRefresh.statusCode, 422)
  t.same(wrongRefresh.json().errors, [{ field: '/mode', message: 'must be one of "json" or "cookie"' }])
})

t.test('the refresh grant with mode=cookie rotates through the cookie', async (t) => {
  const app = await build(t, config)
  const { cookie } = await signInWithCookie(app)
  const res = await cookieGrant(app, cookie)
  t.equal(res.statusCode, 200)
  t.notOk('refresh_token' in res.json(), 'no refresh_token in the body')
  const next = setCookie(res)
  t.equal(next.name, 'latchkey_refresh')
  t.not(next.value, cookie, 'a new refresh token in the cookie')
  t.same(next.attributes, { 'max-age': '3600', path: '/auth', httponly: true, secure: true, samesite: 'Strict' })
  t.equal((await me(app, res.json().access_token)).statusCode, 200)

  t.test('/auth/refresh with {"mode":"cookie"} does the same', async (t) => {
    const again = await cookieRefresh(app, next.value)
    t.equal(again.statusCode, 200)
    t.notOk('refresh_token' in again.json())
    t.not(setCookie(again).value, next.value)
    t.equal((await me(app, again.json().access_token)).statusCode, 200)
  })
})

t.test('a refresh_token field, when also sent, wins over the cookie', async (t) => {
  const app = await build(t, config)
  const a = await signInWithCookie(app)
  const b = await signInWithCookie(app)
  const viaGrant = await cookieGrant(app, 'not-a-token', { origin: SPA }, { refresh_token: a.cookie })
  t.equal(viaGrant.statusCode, 200, 'the field is used, the bogus cookie ignored')
  t.notOk('refresh_token' in viaGrant.json(), 'still cookie mode: the new token goes into the cookie')
  const viaRefresh = await cookieRefresh(app, b.cookie, { origin: SPA }, { mode: 'cookie', refresh_token: 'not-a-token' })
  t.equal(viaRefresh.statusCode, 401, 'the field is used even though the cookie is valid')
  t.equal(viaRefresh.json().detail, 'The refresh token is invalid, expired or revoked')
  t.equal((await cookieRefresh(app, b.cookie)).statusCode, 200, 'and the cookie was left untouched')
})

t.test('a cookie refresh with neither cookie nor refresh_token is a 400 invalid_request', async (t) => {
  const app = await build(t, config)
  const grant = await cookieGrant(app, undefined)
  t.equal(grant.statusCode, 400)
  t.equal(grant.json().error, 'invalid_request')
  t.match(grant.json().error_description, /latchkey_refresh cookie/)
  const refresh = await cookieRefresh(app, undefined)
  t.equal(refresh.statusCode, 400)
  t.match(refresh.headers['content-type'], /^application\/problem\+json/)
  t.match(refresh.json(), { status: 400, detail: /latchkey_refresh cookie/ })
  const emptyCookie = await app.inject({ method: 'POST', url: '/auth/refresh', payload: { mode: 'cookie' }, headers: { origin: SPA, cookie: 'latchkey_refresh=' } })
  t.equal(emptyCookie.statusCode, 400, 'an empty cookie (as left by a logout) is no cookie')

  t.test('without mode=cookie the cookie is not read, so the grant still needs refresh_token', async (t) => {
    const { cookie } = await signInWithCookie(app)
    const res = await app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'refresh_token' }), headers: { ...FORM, ...cookieHeader(cookie), origin: SPA } })
    t.equal(res.statusCode, 400)
    t.same(res.json(), { error: 'invalid_request', error_description: 'The refresh_token grant requires refresh_token', detail: 'The refresh_token grant requires refresh_token' })
  })
})

t.test('the tutorial aliases: mode=cookie logs in on /token and /auth/login; only /auth/login reads the cookie', async (t) => {
  const app = await build(t, config)
  const user = await register(app)
  const cookies: Record<string, string> = {}
  for (const url of ['/token', '/auth/login']) {
    const res = await app.inject({ method: 'POST', url, ...form({ username: user.username, password: user.password, mode: 'cookie' }), headers: { ...FORM, origin: SPA } })
    t.equal(res.statusCode, 200, `${url}: 200`)
    t.same(Object.keys(res.json()).sort(), ['access_token', 'expires_in', 'token_type'], `${url}: the body without refresh_token`)
    const cookie = setCookie(res)
    t.equal(cookie.name, 'latchkey_refresh', `${url}: the cookie`)
    t.same(cookie.attributes, { 'max-age': '3600', path: '/auth', httponly: true, secure: true, samesite: 'Strict' }, `${url}: Path=/auth, as on /auth/token`)
    t.equal((await me(app, res.json().access_token)).statusCode, 200, `${url}: the access token works`)
    cookies[url] = cookie.value
  }

  const viaLogin = await app.inject({ method: 'POST', url: '/auth/login', ...form({ grant_type: 'refresh_token', mode: 'cookie' }), headers: { ...FORM, ...cookieHeader(cookies['/auth/login']), origin: SPA } })
  t.equal(viaLogin.statusCode, 200, '/auth/login is under the cookie\'s path: the refresh grant reads it')
  t.not(setCookie(viaLogin).value, cookies['/auth/login'], 'and rotates it')

  // A browser never sends the cookie to /token; a request that does anyway is not read (API.md: never outside /auth).
  const viaToken = await app.inject({ method: 'POST', url: '/token', ...form({ grant_type: 'refresh_token', mode: 'cookie' }), headers: { ...FORM, ...cookieHeader(cookies['/token']), origin: SPA } })
  t.equal(viaToken.statusCode, 400, '/token: the cookie is not read')
  t.equal(viaToken.json().error, 'invalid_request')
  t.match(viaToken.json().error_description, /latchkey_refresh cookie/, 'the missing-cookie answer')
  t.notOk('set-cookie' in viaToken.headers)
  t.equal((await cookieRefresh(app, cookies['/token'])).statusCode, 200, 'the cookie sent to /token was not used: it still rotates under /auth')
})

t.test('the two-tab grace: the same cookie twice within REFRESH_REUSE_GRACE, both 200 with working pairs', async (t) => {
  const app = await build(t, config)
  const { cookie } = await signInWithCookie(app)
  const first = await cookieGrant(app, cookie)
  const second = await cookieRefresh(app, cookie)
  t.equal(first.statusCode, 200, 'first tab')
  t.equal(second.statusCode, 200, 'second tab, same cookie: a concurrent refresh, not theft')
  t.equal((await me(app, first.json().access_token)).statusCode, 200, 'the first pair stays valid')
  t.equal((await me(app, second.json().access_token)).statusCode, 200, 'the second pair works')
  t.equal((await cookieRefresh(app, setCookie(first).value)).statusCode, 200, "the first tab's new cookie works")
})

t.test('a cookie replayed after rotation ends the session', async (t) => {
  t.test('after the grace', async (t) => {
    const app = await build(t, { ...config, REFRESH_REUSE_GRACE: 1 })
    const { cookie, access } = await signInWithCookie(app)
    const rotated = await cookieGrant(app, cookie)
    t.equal(rotated.statusCode, 200)
    await sleep(1200)
    const replay = await cookieGrant(app, cookie)
    t.equal(replay.statusCode, 401)
    t.equal(replay.json().error, 'invalid_grant')
    t.equal((await cookieRefresh(app, setCookie(rotated).value)).statusCode, 401, 'the newest cookie is dead too')
    t.equal((await me(app, rotated.json().access_token)).statusCode, 401, 'and every access token of the session')
    t.equal((await me(app, access)).statusCode, 401)
  })

  t.test('an older cookie than the previous one, at once', async (t) => {
    const app = await build(t, config)
    const { cookie } = await signInWithCookie(app)
    const second = setCookie(await cookieRefresh(app, cookie)).value
    const third = await cookieRefresh(app, second)
    t.equal(third.statusCode, 200)
    t.equal((await cookieRefresh(app, cookie)).statusCode, 401, 'the first cookie, two rotations ago: theft')
    t.equal((await cookieRefresh(app, setCookie(third).value)).statusCode, 401, 'the session is over')
  })

  t.test('no other session of the user is touched', async (t) => {
    const app = await build(t, config)
    const { user, cookie } = await signInWithCookie(app)
    const other = await login(app, user.username, user.password)
    await cookieRefresh(app, setCookie(await cookieRefresh(app, cookie)).value)
    t.equal((await cookieRefresh(app, cookie)).statusCode, 401)
    t.equal((await me(app, other.access_token)).statusCode, 200, 'the body-token session goes on')
  })
})

t.test('logout with the cookie ends its session and clears the cookie', async (t) => {
  const app = await build(t, config)
  const cleared = (res: LightMyRequestResponse, name: string) => {
    t.equal(res.statusCode, 204, `${name}: 204`)
    const c = setCookie(res)
    t.equal(c.name, 'latchkey_refresh', `${name}: the cookie`)
    t.equal(c.value, '', `${name}: emptied`)
    t.same(c.attributes, { 'max-age': '0', path: '/auth', httponly: true, secure: true, samesite: 'Strict' }, `${name}: Max-Age=0 on the same path`)
  }

  t.test('{"mode":"cookie"}', async (t) => {
    const { cookie, access } = await signInWithCookie(app)
    const res = await app.inject({ method: 'POST', url: '/auth/logout', payload: { mode: 'cookie' }, headers: { ...cookieHeader(cookie), origin: SPA } })
    cleared(res, 'logout')
    t.equal((await cookieRefresh(app, cookie)).statusCode, 401, 'the refresh cookie is dead')
    t.equal((await me(app, access)).statusCode, 401, 'the access token stops working at once')
    const again = await app.inject({ method: 'POST', url: '/auth/logout', payload: { mode: 'cookie' }, headers: { ...cookieHeader(cookie), origin: SPA } })
    cleared(again, 'the session had already ended')
    cleared(await app.inject({ method: 'POST', url: '/auth/logout', payload: { mode: 'cookie' }, headers: { origin: SPA } }), 'no cookie at all')
  })

  t.test('a bodiless POST that carries the cookie', async (t) => {
    const { cookie, access } = await signInWithCookie(app)
    const res = await app.inject({ method: 'POST', url: '/auth/logout', headers: { ...cookieHeader(cookie), origin: SPA } })
    cleared(res, 'bodiless logout')
    t.equal((await me(app, access)).statusCode, 401)
    cleared(await app.inject({ method: 'POST', url: '/auth/logout', payload: {}, headers: { ...cookieHeader(cookie), origin: SPA } }), 'an empty JSON object, session already ended')
  })

  t.test('{"mode":"cookie","all":true} with the bearer ends every session and clears the cookie', async (t) => {
    const { user, cookie, access } = await signInWithCookie(app)
    const other = await login(app, user.username, user.password)
    cleared(await app.inject({ method: 'POST', url: '/auth/logout', payload: { mode: 'cookie', all: true }, headers: { ...cookieHeader(cookie), origin: SPA, authorization: `Bearer ${access}` } }), 'logout all')
    t.equal((await me(app, other.access_token)).statusCode, 401)
    t.equal((await cookieRefresh(app, cookie)).statusCode, 401)
  })

  t.test('v1 logouts neither need an origin nor touch the cookie', async (t) => {
    const user = await register(app)
    const tokens = await login(app, user.username, user.password)
    const res = await app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: tokens.refresh_token } })
    t.equal(res.statusCode, 204)
    t.notOk('set-cookie' in res.headers)
    t.equal((await app.inject({ method: 'POST', url: '/auth/logout', payload: {} })).statusCode, 422, 'an empty body with neither cookie nor bearer')
  })
})

t.test('CSRF: every request that asks for or uses the cookie needs an allowed Origin and no cross-site fetch', async (t) => {
  const app = await build(t, config)
  const { user, cookie, access } = await signInWithCookie(app)
  const refusals: Record<string, Record<string, string>> = {
    'no Origin': {},
    'a foreign Origin': { origin: FOREIGN },
    'Origin: null (sandboxed frame, file:)': { origin: 'null' },
    'an allowed origin on another port': { origin: 'http://localhost:5174' },
    'an allowed Origin with Sec-Fetch-Site: cross-site': { origin: SPA, 'sec-fetch-site': 'cross-site' }
  }
  const requests: Record<string, (h: Record<string, string>) => Promise<LightMyRequestResponse>> = {
    'POST /auth/token password grant, mode=cookie': (h) => cookieLogin(app, user, h),
    'POST /auth/token refresh grant, mode=cookie': (h) => cookieGrant(app, cookie, h),
    'POST /auth/refresh {"mode":"cookie"}': (h) => cookieRefresh(app, cookie, h),
    'POST /auth/logout {"mode":"cookie"}': (h) => app.inject({ method: 'POST', url: '/auth/logout', payload: { mode: 'cookie' }, headers: { ...cookieHeader(cookie), ...h } }),
    'POST /auth/logout, bodiless, with the cookie': (h) => app.inject({ method: 'POST', url: '/auth/logout', headers: { ...cookieHeader(cookie), ...h } })
  }
  for (const [name, send] of Object.entries(requests)) {
    const oauth = name.startsWith('POST /auth/token')
    for (const [why, headers] of Object.entries(refusals)) {
      const res = await send(headers)
      t.equal(res.statusCode, 403, `${name} with ${why}: 403`)
      if (oauth) {
        t.same(res.json(), { error: 'invalid_request', error_description: REFUSED, detail: REFUSED }, `${name} with ${why}: the OAuth2 error`)
      } else {
        t.match(res.headers['content-type'], /^application\/problem\+json/)
        t.match(res.json(), { type: 'about:blank', title: 'Forbidden', status: 403, detail: REFUSED }, `${name} with ${why}: the problem`)
      }
      t.notOk('set-cookie' in res.headers, `${name} with ${why}: no cookie set or cleared`)
    }
  }
  t.equal((await me(app, access)).statusCode, 200, 'none of the refused logouts ended the session')
  t.equal((await cookieRefresh(app, cookie, { origin: SPA, 'sec-fetch-site': 'same-site' })).statusCode, 200,
    'none of the refused refreshes used the cookie: it still rotates (same-site is fine)')
})

t.test('the cookie is read nowhere outside /auth', async (t) => {
  const app = await build(t, config)
  const { cookie } = await signInWithCookie(app)
  const res = await app.inject({ url: '/users/me', headers: { ...cookieHeader(cookie), origin: SPA } })
  t.equal(res.statusCode, 401, 'a protected route with only the cookie is unauthenticated')
  t.equal(res.json().detail, 'Not authenticated')
  t.equal(res.headers['www-authenticate'], 'Bearer')
  const sessions = await app.inject({ url: '/users/me/sessions', headers: { ...cookieHeader(cookie), origin: SPA } })
  t.equal(sessions.statusCode, 401)
  t.equal((await cookieRefresh(app, cookie)).statusCode, 200, 'and the cookie was not consumed by those requests')
})

t.test('CORS for CORS_ORIGINS: credentials under /auth only, nothing for other origins', async (t) => {
  const app = await build(t, config)
  const { access, cookie } = await signInWithCookie(app)

  const login = await cookieLogin(app, await register(app))
  t.equal(login.headers['access-control-allow-origin'], SPA, '/auth/token: the origin is echoed')
  t.match(String(login.headers.vary), /\bOrigin\b/)
  t.equal(login.headers['access-control-allow-credentials'], 'true', 'under /auth, with credentials')

  for (const [url, res] of [['/auth/refresh', await cookieRefresh(app, cookie)], ['/auth/logout', await app.inject({ method: 'POST', url: '/auth/logout', payload: { mode: 'cookie' }, headers: { origin: SPA } })]] as const) {
    t.equal(res.headers['access-control-allow-origin'], SPA, `${url}: allowed origin`)
    t.equal(res.headers['access-control-allow-credentials'], 'true', `${url}: credentials`)
  }
  const error = await cookieRefresh(app, undefined)
  t.equal(error.statusCode, 400)
  t.equal(error.headers['access-control-allow-origin'], SPA, 'error answers carry CORS headers too, so the page can read them')

  const protectedRoute = await me(app, access, { origin: SPA })
  t.equal(protectedRoute.statusCode, 200)
  t.equal(protectedRoute.headers['access-control-allow-origin'], SPA, 'protected route: allowed origin')
  t.match(String(protectedRoute.headers.vary), /\bOrigin\b/)
  t.notOk('access-control-allow-credentials' in protectedRoute.headers, 'protected route: no credentials (bearer tokens only)')
  const expired = await me(app, 'not.a.token', { origin: SPA })
  t.equal(expired.statusCode, 401)
  t.match(String(expired.headers['access-control-expose-headers']), /WWW-Authenticate/, 'pages may read WWW-Authenticate (to see "The access token expired")')

  t.test('preflights allow Authorization and Content-Type', async (t) => {
    for (const [url, credentials] of [['/auth/refresh', true], ['/auth/logout', true], ['/auth/token', true], ['/users/me', false], ['/tasks', false]] as const) {
      const pre = await app.inject({
        method: 'OPTIONS', url, headers: { origin: SPA, 'access-control-request-method': url === '/users/me' ? 'GET' : 'POST', 'access-control-request-headers': 'authorization,content-type' }
      })
      t.equal(pre.statusCode, 204, `${url}: preflight 204`)
      t.equal(pre.headers['access-control-allow-origin'], SPA)
      const allowed = String(pre.headers['access-control-allow-headers']).toLowerCase().split(/\s*,\s*/)
      t.ok(allowed.includes('authorization') && allowed.includes('content-type'), `${url}: Authorization and Content-Type allowed (${allowed.join(', ')})`)
      t.match(String(pre.headers['access-control-allow-methods']), /POST/)
      if (credentials) t.equal(pre.headers['access-control-allow-credentials'], 'true', `${url}: credentials allowed`)
      else t.notOk('access-control-allow-credentials' in pre.headers, `${url}: no credentials`)
    }
  })

  t.test('other origins get no CORS headers at all', async (t) => {
    const cors = (res: LightMyRequestResponse) => Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))
    for (const origin of [FOREIGN, 'http://localhost:5174', 'https://localhost:5173', 'null']) {
      t.same(cors(await me(app, access, { origin })), [], `${origin}: protected route`)
      t.same(cors(await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'x' }, headers: { origin } })), [], `${origin}: /auth/refresh`)
      const pre = await app.inject({ method: 'OPTIONS', url: '/auth/token', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
      t.same(cors(pre), [], `${origin}: preflight`)
      t.not(pre.statusCode, 204, `${origin}: the preflight is not granted`)
    }
    t.same(cors(await me(app, access)), [], 'no Origin (same-origin or not a browser): none either')
  })
})

t.test('without CORS_ORIGINS: no CORS at all, and only the issuer\'s own origin may use the cookie', async (t) => {
  const app = await build(t, { JWT_ISSUER: ISSUER })
  const user = await register(app)
  const foreign = await cookieLogin(app, user, { origin: SPA })
  t.equal(foreign.statusCode, 403)
  t.notOk('access-control-allow-origin' in foreign.headers)
  const own = await cookieLogin(app, user, { origin: ISSUER })
  t.equal(own.statusCode, 200)
  t.notOk('access-control-allow-origin' in own.headers, 'same-origin needs no CORS')
  t.equal((await cookieRefresh(app, setCookie(own).value, { origin: ISSUER })).statusCode, 200)
})
