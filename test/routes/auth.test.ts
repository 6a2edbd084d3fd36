import t from 'tap'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { build, form, login, newUser, PASSWORD, register, signUp } from '../helper.js'

const JSON_CT = { 'content-type': 'application/json' }

t.test('POST /auth/register', async (t) => {
  const app = await build(t)

  t.test('201 with the user and Location; never a password or hash', async (t) => {
    const body = newUser({ username: 'Carol.Smith', email: 'Carol@Example.COM' })
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload: body })
    t.equal(res.statusCode, 201)
    const user = res.json()
    t.equal(res.headers.location, `/users/${user.id}`)
    t.match(user, { username: 'Carol.Smith', email: 'carol@example.com', role: 'user', disabled: false })
    t.type(user.id, 'number')
    t.match(user.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    t.same(Object.keys(user).sort(), ['created_at', 'disabled', 'email', 'email_verified', 'id', 'role', 'totp_enabled', 'username'])
    t.notMatch(res.body, /argon2|password/)
  })

  t.test('409 when the username (any case) or the email is taken', async (t) => {
    await register(app, newUser({ username: 'dave', email: 'dave@example.com' }))
    for (const clash of [newUser({ username: 'DAVE' }), newUser({ email: 'DAVE@example.com' })]) {
      const res = await app.inject({ method: 'POST', url: '/auth/register', payload: clash })
      t.equal(res.statusCode, 409)
      t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
      t.same(res.json(), { type: 'about:blank', title: 'Conflict', status: 409, detail: 'Username or email already registered' })
    }
  })

  t.test('422 with a JSON pointer per bad field, including missing ones; no coercion', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'x!', password: 12345678 } })
    t.equal(res.statusCode, 422)
    const body = res.json()
    t.match(body, { type: 'about:blank', title: 'Unprocessable Entity', status: 422 })
    t.type(body.detail, 'string')
    t.same([...new Set(body.errors.map((e: { field: string }) => e.field))].sort(), ['/email', '/password', '/username'])
    t.ok(body.errors.some((e: { field: string, message: string }) => e.field === '/email' && e.message === 'is required'))
    t.ok(body.errors.some((e: { field: string, message: string }) => e.field === '/password' && /string/.test(e.message)))
  })

  t.test('password policy: length after NFKC, not the username/email, not common', async (t) => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ password: 'short12' }, /at least 8/],
      [{ password: 'x'.repeat(129) }, /at most 128/],
      [{ password: 'password123' }, /too common/],
      [{ password: 'Iloveyou1' }, /too common/],
      [{ username: 'frank.pw', password: 'Frank.PW' }, /same as the username/],
      [{ email: 'gina.long@example.com', password: 'GINA.long@example.com' }, /same as the email/]
    ]
    for (const [overrides, message] of cases) {
      const res = await app.inject({ method: 'POST', url: '/auth/register', payload: newUser(overrides) })
      t.equal(res.statusCode, 422, JSON.stringify(overrides))
      t.equal(res.json().errors[0].field, '/password')
      t.match(res.json().errors[0].message, message)
    }
    // NFKC: "ｐａｓｓｗｏｒｄ１２３" (full-width) normalises to a common password.
    const fullWidth = await app.inject({ method: 'POST', url: '/auth/register', payload: newUser({ password: 'ｐａｓｓｗｏｒｄ１２３' }) })
    t.equal(fullWidth.statusCode, 422)
    // 8 code points that are 16 UTF-16 units are long enough; 7 emoji are not.
    t.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: newUser({ password: '🔑🔒🗝️🚪🔐🛡️🧱🪪' }) })).statusCode, 201)
    t.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: newUser({ password: '🔑🔒🚪🔐🧱🪪🎲' }) })).statusCode, 422)
  })

  t.test('two simultaneous identical registrations: one 201, one 409', async (t) => {
    const body = newUser()
    const results = await Promise.all([1, 2, 3].map(() => app.inject({ method: 'POST', url: '/auth/register', payload: body })))
    t.same(results.map((r) => r.statusCode).sort(), [201, 409, 409])
  })

  t.test('bad bodies: 400 unparsable, 415 wrong type, 413 too large', async (t) => {
    const bad = await app.inject({ method: 'POST', url: '/auth/register', headers: JSON_CT, payload: '{"username":' })
    t.equal(bad.statusCode, 400)
    t.match(bad.json(), { status: 400, detail: 'The request body is not valid JSON' })
    const text = await app.inject({ method: 'POST', url: '/auth/register', headers: { 'content-type': 'text/plain' }, payload: 'hi' })
    t.equal(text.statusCode, 415)
    t.equal(text.headers['content-type'], 'application/problem+json; charset=utf-8')
    const big = await app.inject({ method: 'POST', url: '/auth/register', headers: JSON_CT, payload: JSON.stringify({ username: 'x'.repeat(17 * 1024) }) })
    t.equal(big.statusCode, 413)
    t.match(big.json(), { status: 413, title: 'Payload Too Large' })
  })
})

t.test('POST /auth/token (password grant)', async (t) => {
  const app = await build(t, { ACCESS_TOKEN_TTL: 900, JWT_ISSUER: 'https://auth.test', JWT_AUDIENCE: 'tests' })
  const alice = await register(app, newUser({ username: 'Alice', email: 'alice@example.com' }))

  t.test('200 token response with no-store, by username or email in any case', async (t) => {
    for (const name of ['Alice', 'alice', 'ALICE@EXAMPLE.COM']) {
      const res = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: name, password: PASSWORD }) })
      t.equal(res.statusCode, 200, name)
      t.equal(res.headers['cache-control'], 'no-store')
      t.equal(res.headers.pragma, 'no-cache')
      const body = res.json()
      t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type'])
      t.equal(body.token_type, 'bearer')
      t.equal(body.expires_in, 900)
      t.ok(body.refresh_token.length >= 43, 'at least 256 bits')
    }
  })

  t.test('the access token carries the contract claims and header', async (t) => {
    const { access_token: token } = await login(app, 'alice')
    const header = decodeProtectedHeader(token)
    t.equal(header.alg, 'EdDSA')
    t.type(header.kid, 'string')
    const claims = decodeJwt(token)
    t.equal(claims.sub, String(alice.id))
    t.equal(claims.username, 'Alice')
    t.equal(claims.role, 'user')
    t.type(claims.sid, 'number')
    t.equal(claims.iss, 'https://auth.test')
    t.equal(claims.aud, 'tests')
    t.type(claims.jti, 'string')
    t.equal(claims.exp! - claims.iat!, 900)
    t.notMatch(JSON.stringify(claims), /argon2|password|email/)
  })

  t.test('grant_type may be omitted or password; scope, client_id, client_secret and Basic are tolerated', async (t) => {
    const res = await app.inject({
      method: 'POST',
      url: '/auth/token',
      payload: 'grant_type=password&username=alice&password=' + encodeURIComponent(PASSWORD) + '&scope=read%20write&client_id=swagger&client_secret=',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic Og==' }
    })
    t.equal(res.statusCode, 200)
  })

  t.test('wrong password, unknown user and disabled user: the same 401 invalid_grant', async (t) => {
    const disabled = await register(app)
    await app.users.setRoleOrDisabled(disabled.id, { disabled: true })
    const answers = []
    for (const [username, password] of [['alice', 'wrong password!'], ['nobody-here', PASSWORD], [disabled.username, PASSWORD]]) {
      const res = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username, password }) })
      t.equal(res.statusCode, 401)
      // API.md v2: no resource-server challenge on the token endpoint (strict OAuth clients misread it).
      t.equal(res.headers['www-authenticate'], undefined)
      t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
      answers.push(res.body)
    }
    t.same(JSON.parse(answers[0]), { error: 'invalid_grant', error_description: 'Incorrect username or password', detail: 'Incorrect username or password' })
    t.equal(new Set(answers).size, 1, 'byte-identical bodies')
  })

  t.test('missing fields 400 invalid_request; unknown grant 400 unsupported_grant_type', async (t) => {
    for (const fields of [{ username: 'alice' }, { password: 'x' }, {}, { grant_type: 'refresh_token' }] as Array<Record<string, string>>) {
      const res = await app.inject({ method: 'POST', url: '/auth/token', ...form(fields) })
      t.equal(res.statusCode, 400, JSON.stringify(fields))
      t.equal(res.json().error, 'invalid_request')
      t.type(res.json().error_description, 'string')
    }
    const empty = await app.inject({ method: 'POST', url: '/auth/token' })
    t.equal(empty.statusCode, 400)
    t.equal(empty.json().error, 'invalid_request')
    const dup = await app.inject({ method: 'POST', url: '/auth/token', payload: 'username=a&username=b&password=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    t.equal(dup.statusCode, 400)
    t.equal(dup.json().error, 'invalid_request')
    const grant = await app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'client_credentials' }) })
    t.equal(grant.statusCode, 400)
    t.same(grant.json(), { error: 'unsupported_grant_type', error_description: 'grant_type must be password or refresh_token', detail: 'grant_type must be password or refresh_token' })
  })

  t.test('JSON is a 415 that says to send form data; oversize bodies 413; all in the OAuth2 shape', async (t) => {
    const json = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: 'alice', password: PASSWORD } })
    t.equal(json.statusCode, 415)
    t.equal(json.json().error, 'invalid_request')
    t.match(json.json().error_description, /application\/x-www-form-urlencoded/)
    const big = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: 'alice', password: 'x'.repeat(17 * 1024) }) })
    t.equal(big.statusCode, 413)
    t.equal(big.json().error, 'invalid_request')
  })
})

t.test('REQUIRE_VERIFIED_EMAIL: the unverified 401 carries no WWW-Authenticate, on /auth/token and its aliases', async (t) => {
  const app = await build(t, { REQUIRE_VERIFIED_EMAIL: true })
  const user = await register(app)
  const sentence = 'Verify your email address before signing in'
  for (const url of ['/auth/token', '/token', '/auth/login']) {
    const res = await app.inject({ method: 'POST', url, ...form({ username: user.username, password: PASSWORD }) })
    t.equal(res.statusCode, 401, `${url}: 401`)
    t.same(res.json(), { error: 'invalid_grant', error_description: sentence, detail: sentence }, `${url}: invalid_grant`)
    // API.md v2: no resource-server challenge on any token-endpoint error.
    t.equal(res.headers['www-authenticate'], undefined, `${url}: no WWW-Authenticate`)
  }
})

t.test('GET /users/me and the 401s of protected routes', async (t) => {
  const app = await build(t)
  const user = await signUp(app)

  t.test('200 the current user', async (t) => {
    const res = await app.inject({ url: '/users/me', headers: user.auth })
    t.equal(res.statusCode, 200)
    t.match(res.json(), { id: user.id, username: user.username, email: user.email, role: 'user', disabled: false })
  })

  t.test('no token, empty bearer or another scheme: 401 Not authenticated, WWW-Authenticate: Bearer', async (t) => {
    for (const authorization of [undefined, '', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', `Token ${user.tokens.access_token}`]) {
      const res = await app.inject({ url: '/users/me', headers: authorization === undefined ? {} : { authorization } })
      t.equal(res.statusCode, 401, String(authorization))
      t.equal(res.headers['www-authenticate'], 'Bearer')
      t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
      t.same(res.json(), { type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'Not authenticated' })
    }
  })

  t.test('a bad or tampered token: 401 Could not validate credentials with invalid_token', async (t) => {
    const [h, p, s] = user.tokens.access_token.split('.')
    for (const token of ['garbage', `${h}.${p}`, `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`, `${h}.${Buffer.from('{"sub":"1"}').toString('base64url')}.${s}`]) {
      const res = await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${token}` } })
      t.equal(res.statusCode, 401)
      t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
      t.equal(res.json().detail, 'Could not validate credentials')
    }
  })

  t.test('the bearer scheme is case-insensitive', async (t) => {
    const res = await app.inject({ url: '/users/me', headers: { authorization: `bearer ${user.tokens.access_token}` } })
    t.equal(res.statusCode, 200)
  })
})

t.test('an expired access token says so, so clients know to refresh', async (t) => {
  const app = await build(t, { ACCESS_TOKEN_TTL: 1 })
  const user = await signUp(app)
  await new Promise((resolve) => setTimeout(resolve, 2100))
  const res = await app.inject({ url: '/users/me', headers: user.auth })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token", error_description="The access token expired"')
  t.equal(res.json().detail, 'Could not validate credentials')
})

t.test('operations and unknown routes', async (t) => {
  const app = await build(t)
  t.same((await app.inject('/health')).json(), { status: 'ok' })
  const ready = await app.inject('/ready')
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ok' })
  const missing = await app.inject('/no/such/route')
  t.equal(missing.statusCode, 404)
  t.equal(missing.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(missing.json(), { type: 'about:blank', title: 'Not Found', status: 404 })
  for (const url of [`/tasks/${'9'.repeat(101)}`, '/tasks/%zz']) {
    const routing = await app.inject(url)
    t.equal(routing.statusCode, 404, 'router failures answer like a missing row')
    t.equal(routing.headers['content-type'], 'application/problem+json; charset=utf-8')
    t.notMatch(routing.body, /%zz|999999/)
  }
  const root = await app.inject('/')
  t.equal(root.statusCode, 302)
  t.equal(root.headers.location, '/docs')
  await app.store.close()
  const down = await app.inject('/ready')
  t.equal(down.statusCode, 503)
  t.equal(down.json().status, 503)
})
