// API.md "Coming from the FastAPI tutorials": the tutorials' paths as aliases of the real routes.
import t from 'tap'
import { build, form, login, newUser, PASSWORD, register, signUp } from '../helper.js'
import { QUERY_CREDENTIALS } from '../../src/routes/oauth-query.js'

const TOKEN_URLS = ['/auth/token', '/token', '/auth/login']

t.test('POST /token and /auth/login answer exactly as /auth/token', async (t) => {
  const app = await build(t)
  const user = await register(app)

  t.test('password grant by username or email, then the refresh grant', async (t) => {
    for (const url of TOKEN_URLS) {
      const res = await app.inject({ method: 'POST', url, ...form({ username: user.email.toUpperCase(), password: PASSWORD }) })
      t.equal(res.statusCode, 200, `${url} logs in`)
      t.equal(res.headers['cache-control'], 'no-store')
      t.equal(res.headers.pragma, 'no-cache')
      const body = res.json()
      t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type'])
      t.equal(body.token_type, 'bearer')
      const me = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${body.access_token}` } })
      t.equal(me.json().username, user.username, `${url}: the access token works`)
      const refreshed = await app.inject({ method: 'POST', url, ...form({ grant_type: 'refresh_token', refresh_token: body.refresh_token }) })
      t.equal(refreshed.statusCode, 200, `${url} refreshes`)
      const replay = await app.inject({ method: 'POST', url, ...form({ grant_type: 'refresh_token', refresh_token: 'not-a-token' }) })
      t.equal(replay.statusCode, 401)
      t.equal(replay.json().error, 'invalid_grant')
    }
  })

  t.test('the same error bodies, with detail and without WWW-Authenticate', async (t) => {
    const answers = new Map<string, string[]>()
    for (const url of TOKEN_URLS) {
      const wrong = await app.inject({ method: 'POST', url, ...form({ username: user.username, password: 'wrong password!' }) })
      t.equal(wrong.statusCode, 401)
      t.equal(wrong.headers['www-authenticate'], undefined, `${url}: no Bearer challenge on a failed grant`)
      t.same(wrong.json(), { error: 'invalid_grant', error_description: 'Incorrect username or password', detail: 'Incorrect username or password' })
      const missing = await app.inject({ method: 'POST', url, ...form({ username: user.username }) })
      t.equal(missing.statusCode, 400)
      t.same(missing.json(), {
        error: 'invalid_request',
        error_description: 'The password grant requires username and password',
        detail: 'The password grant requires username and password'
      })
      const grant = await app.inject({ method: 'POST', url, ...form({ grant_type: 'client_credentials' }) })
      t.equal(grant.json().error, 'unsupported_grant_type')
      const json = await app.inject({ method: 'POST', url, payload: { username: 'test', password: 'secret' } })
      t.equal(json.statusCode, 415, `${url}: JSON (the tutorial's "Mistake 1") is a 415`)
      t.match(json.json().detail, /application\/x-www-form-urlencoded/)
      for (const res of [wrong, missing, grant, json]) t.equal(res.headers['www-authenticate'], undefined)
      answers.set(url, [wrong.body, missing.body, grant.body, json.body])
    }
    t.same(answers.get('/token'), answers.get('/auth/token'), '/token: byte-identical errors')
    t.same(answers.get('/auth/login'), answers.get('/auth/token'), '/auth/login: byte-identical errors')
  })

  t.test('a POST without any body is a missing field, not a type error', async (t) => {
    for (const url of TOKEN_URLS) {
      const res = await app.inject({ method: 'POST', url })
      t.equal(res.statusCode, 400)
      t.equal(res.json().error_description, 'The password grant requires username and password')
    }
  })

  t.test('credentials in the query string: 400 invalid_request saying to use form fields', async (t) => {
    for (const url of TOKEN_URLS) {
      for (const query of [`username=${user.username}&password=${encodeURIComponent(PASSWORD)}`, 'password=x', 'refresh_token=abc', 'client_secret=s']) {
        const res = await app.inject({ method: 'POST', url: `${url}?${query}` })
        t.equal(res.statusCode, 400, `${url}?${query}`)
        t.same(res.json(), { error: 'invalid_request', error_description: QUERY_CREDENTIALS, detail: QUERY_CREDENTIALS })
        t.equal(res.headers['www-authenticate'], undefined)
      }
      // Also when the form is right: the credentials already travelled in the URL.
      const both = await app.inject({ method: 'POST', url: `${url}?password=${encodeURIComponent(PASSWORD)}`, ...form({ username: user.username, password: PASSWORD }) })
      t.equal(both.statusCode, 400)
      // A query string without credentials does not matter.
      const other = await app.inject({ method: 'POST', url: `${url}?utm_source=tutorial`, ...form({ username: user.username, password: PASSWORD }) })
      t.equal(other.statusCode, 200)
    }
    t.equal(QUERY_CREDENTIALS, 'Send the credentials as form fields in the request body (application/x-www-form-urlencoded), not in the query string')
    const revoke = await app.inject({ method: 'POST', url: '/auth/revoke?token=abc' })
    t.equal(revoke.statusCode, 400, 'the revocation endpoint refuses a token in the query too')
    t.equal(revoke.json().error_description, QUERY_CREDENTIALS)
  })
})

t.test('POST /users/signup is /auth/register with an optional username', async (t) => {
  const app = await build(t)

  t.test('201 with the user and Location; the username derived from the email', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/users/signup', payload: { email: 'Bob.Smith+tag@Example.com', password: 'SecurePass123' } })
    t.equal(res.statusCode, 201)
    const body = res.json()
    t.equal(res.headers.location, `/users/${String(body.id)}`)
    t.match(body, { username: 'bob.smith_tag', email: 'bob.smith+tag@example.com', role: 'user', disabled: false, email_verified: false })
    t.notOk('password' in body || 'password_hash' in body)
    const tokens = await login(app, 'bob.smith+tag@example.com', 'SecurePass123')
    t.equal(tokens.token_type, 'bearer', 'the new user logs in with the email, as the tutorial does')
  })

  t.test('a taken base gets -2, -3, …, compared ignoring case', async (t) => {
    await register(app, newUser({ username: 'Carol', email: 'someone-else@example.com' }))
    const second = await app.inject({ method: 'POST', url: '/users/signup', payload: { email: 'carol@example.com', password: PASSWORD } })
    t.equal(second.json().username, 'carol-2')
    const third = await app.inject({ method: 'POST', url: '/users/signup', payload: { email: 'CAROL@example.org', password: PASSWORD } })
    t.equal(third.json().username, 'carol-3')
    const short = await app.inject({ method: 'POST', url: '/users/signup', payload: { email: 'jo@example.com', password: PASSWORD } })
    t.equal(short.json().username, 'jo_')
  })

  t.test('a username, when given, is used as on /auth/register', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/users/signup', payload: { email: 'dave@example.com', password: PASSWORD, username: 'DaveX' } })
    t.equal(res.statusCode, 201)
    t.equal(res.json().username, 'DaveX')
    const bad = await app.inject({ method: 'POST', url: '/users/signup', payload: { email: 'eve@example.com', password: PASSWORD, username: 'e' } })
    t.equal(bad.statusCode, 422)
    t.same(bad.json().errors, [{ field: '/username', message: 'must be at least 3 characters' }])
  })

  t.test('a taken email is a 409 (not the tutorials\' 400); the policy and schema apply', async (t) => {
    const taken = await app.inject({ method: 'POST', url: '/users/signup', payload: { email: 'DAVE@example.com', password: PASSWORD } })
    t.equal(taken.statusCode, 409)
    t.equal(taken.json().detail, 'Username or email already registered')
    const weak = await app.inject({ method: 'POST', url: '/users/signup', payload: { email: 'frank@example.com', password: 'password123' } })
    t.equal(weak.statusCode, 422)
    t.equal(weak.json().errors[0].field, '/password')
    const missing = await app.inject({ method: 'POST', url: '/users/signup', payload: { password: PASSWORD } })
    t.equal(missing.statusCode, 422)
    t.same(missing.json().errors, [{ field: '/email', message: 'is required' }])
    const nodot = await app.inject({ method: 'POST', url: '/users/signup', payload: { email: 'frank@localhost', password: PASSWORD } })
    t.same(nodot.json().errors, [{ field: '/email', message: 'must be a valid email address' }])
  })

  t.test('the same handler as /auth/register: the same user shape, the same conflicts', async (t) => {
    const viaRegister = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'gina', email: 'gina@example.com', password: PASSWORD } })
    const viaSignup = await app.inject({ method: 'POST', url: '/users/signup', payload: { username: 'hank', email: 'hank@example.com', password: PASSWORD } })
    t.same(Object.keys(viaSignup.json()).sort(), Object.keys(viaRegister.json()).sort())
    const clash = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'HANK', email: 'other@example.com', password: PASSWORD } })
    t.equal(clash.statusCode, 409)
  })
})

t.test('GET /secure-data: any signed-in user', async (t) => {
  const app = await build(t)
  const user = await signUp(app, { username: 'alice_sd' })
  const res = await app.inject({ url: '/secure-data', headers: user.auth })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { message: 'Hello alice_sd, this is sensitive data!', status: 'Authorized' })
  const anonymous = await app.inject({ url: '/secure-data' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().detail, 'Not authenticated')
  t.equal(anonymous.headers['www-authenticate'], 'Bearer')
  const forged = await app.inject({ url: '/secure-data', headers: { authorization: 'Bearer abc.def.ghi' } })
  t.equal(forged.statusCode, 401)
  t.equal(forged.json().detail, 'Could not validate credentials')
  // Logout really logs out, also here.
  await app.inject({ method: 'POST', url: '/auth/logout', headers: user.auth })
  t.equal((await app.inject({ url: '/secure-data', headers: user.auth })).statusCode, 401)
})

t.test('GET /admin/dashboard: admins only, with the counts of /admin/stats', async (t) => {
  const app = await build(t)
  const admin = await signUp(app, { role: 'admin' })
  const user = await signUp(app)
  const res = await app.inject({ url: '/admin/dashboard', headers: admin.auth })
  t.equal(res.statusCode, 200)
  const stats = (await app.inject({ url: '/admin/stats', headers: admin.auth })).json()
  t.same(res.json(), { message: 'Welcome to the admin dashboard', ...stats })
  t.same(res.json(), { message: 'Welcome to the admin dashboard', users: 2, admins: 1, active_sessions: 2 })
  const denied = await app.inject({ url: '/admin/dashboard', headers: user.auth })
  t.equal(denied.statusCode, 403)
  t.equal(denied.json().detail, 'Admin access required')
  t.equal((await app.inject({ url: '/admin/dashboard' })).statusCode, 401)
  // The role is read from the database: a demoted admin is refused at once.
  await app.users.setRoleOrDisabled(user.id, { role: 'admin' })
  await app.users.setRoleOrDisabled(admin.id, { role: 'user' })
  t.equal((await app.inject({ url: '/admin/dashboard', headers: admin.auth })).statusCode, 403)
  t.equal((await app.inject({ url: '/admin/dashboard', headers: user.auth })).statusCode, 200)
})

t.test('TUTORIAL_ROUTES=off removes every alias, from the routes and from OpenAPI', async (t) => {
  const app = await build(t, { TUTORIAL_ROUTES: 'off' })
  const user = await signUp(app)
  const probes = [
    { method: 'POST' as const, url: '/token', ...form({ username: user.username, password: PASSWORD }) },
    { method: 'POST' as const, url: '/auth/login', ...form({ username: user.username, password: PASSWORD }) },
    { method: 'POST' as const, url: '/users/signup', payload: { email: 'x@example.com', password: PASSWORD } },
    { method: 'GET' as const, url: '/secure-data', headers: user.auth },
    { method: 'GET' as const, url: '/admin/dashboard', headers: user.auth }
  ]
  for (const probe of probes) {
    const res = await app.inject(probe)
    t.equal(res.statusCode, 404, `${probe.method} ${probe.url} is gone`)
  }
  t.equal((await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: PASSWORD }) })).statusCode, 200, 'the real routes stay')
  const doc = app.swagger() as { paths: Record<string, Record<string, { tags?: string[] }>> }
  for (const path of ['/token', '/auth/login', '/users/signup', '/secure-data', '/admin/dashboard']) t.notOk(path in doc.paths, `${path} is not documented`)

  const on = await build(t)
  const onDoc = on.swagger() as typeof doc
  for (const [path, method] of [['/token', 'post'], ['/auth/login', 'post'], ['/users/signup', 'post'], ['/secure-data', 'get'], ['/admin/dashboard', 'get']]) {
    t.same(onDoc.paths[path]?.[method]?.tags, ['fastapi-tutorials'], `${path} is tagged fastapi-tutorials`)
  }
  t.same(JSON.stringify((onDoc.paths['/token'].post as { requestBody?: unknown }).requestBody),
    JSON.stringify((onDoc.paths['/auth/token'].post as { requestBody?: unknown }).requestBody), '/token documents the very same form')
})

t.test('POST /auth/revoke: token is required in the schema, and still answered in the OAuth2 shape', async (t) => {
  const app = await build(t)
  for (const fields of [{}, { token_type_hint: 'refresh_token' }, { token: '' }] as Array<Record<string, string>>) {
    const res = await app.inject({ method: 'POST', url: '/auth/revoke', ...form(fields) })
    t.equal(res.statusCode, 400, JSON.stringify(fields))
    t.same(res.json(), { error: 'invalid_request', error_description: 'token is required', detail: 'token is required' })
  }
  const bodiless = await app.inject({ method: 'POST', url: '/auth/revoke' })
  t.equal(bodiless.statusCode, 400)
  t.equal(bodiless.json().error, 'invalid_request')
  t.equal((await app.inject({ method: 'POST', url: '/auth/revoke', ...form({ token: 'unknown' }) })).statusCode, 200)
})
