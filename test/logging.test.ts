// Logs never carry a password, a token or an Authorization header, even at trace level.
import t from 'tap'
import { Writable } from 'node:stream'
import { buildApp, logRedactPaths } from '../src/app.js'
import { form, newUser, testConfig } from './helper.js'

t.test('request logs at trace level contain no secrets', async (t) => {
  let logs = ''
  const stream = new Writable({ write (chunk, _enc, done) { logs += String(chunk); done() } })
  const app = await buildApp(testConfig(t, { LOG_LEVEL: 'trace' }), { logger: { level: 'trace', stream, redact: logRedactPaths } })
  t.teardown(() => app.close())
  const user = newUser({ password: 'a secret passphrase nobody knows' })
  await app.inject({ method: 'POST', url: '/auth/register', payload: user })
  const login = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: user.password }) })
  const { access_token: access, refresh_token: refresh } = login.json()
  await app.inject({ url: '/users/me', headers: { authorization: `Bearer ${access}` } })
  await app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: refresh } })
  await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: 'wrong but secret-ish' }) })
  await app.inject({ url: '/users/me', headers: { authorization: 'Bearer tampered.token.value' } })
  t.ok(logs.length > 1000, 'requests were logged')
  for (const secret of [user.password, 'wrong but secret-ish', access, refresh, 'tampered.token.value', 'Bearer']) {
    t.notOk(logs.includes(secret), `log does not contain ${secret.slice(0, 12)}…`)
  }
})

t.test('no log line carries a query string value, at trace or info level (the request serializer redacts them)', async (t) => {
  for (const level of ['trace', 'info'] as const) {
    t.test(level, async (t) => {
      let logs = ''
      const stream = new Writable({ write (chunk, _enc, done) { logs += String(chunk); done() } })
      // Only level and stream: the redaction must come from buildApp itself, as in production.
      const app = await buildApp(testConfig(t, { LOG_LEVEL: level }), { logger: { level, stream } })
      t.teardown(() => app.close())
      const user = newUser({ password: 'query-secret-passphrase-1' })
      await app.inject({ method: 'POST', url: '/auth/register', payload: user })
      const values = ['query-secret-passphrase-1', 'eyJhbGciOiJFZERTQSJ9.bare-token-value', 'search-term-secret', 'refresh-secret-value', user.username]
      const urls = [
        `/auth/token?username=${user.username}&password=query-secret-passphrase-1`,
        '/token?password=query-secret-passphrase-1',
        '/auth/login?refresh_token=refresh-secret-value&grant_type=refresh_token',
        '/auth/revoke?token=refresh-secret-value',
        '/users?q=search-term-secret',
        '/nowhere?eyJhbGciOiJFZERTQSJ9.bare-token-value',
        '/health?x=search-term-secret&&y'
      ]
      for (const url of urls) {
        const res = await app.inject({ method: url.startsWith('/users') || url.startsWith('/nowhere') || url.startsWith('/health') ? 'GET' : 'POST', url })
        t.ok(res.statusCode >= 200, `${url} answered`)
      }
      const lines = logs.trim().split('\n').map((l) => JSON.parse(l) as { req?: { url?: string } })
      const logged = lines.map((l) => l.req?.url).filter((u): u is string => u !== undefined)
      t.ok(logged.length >= urls.length, `the requests were logged (${logged.length} request lines)`)
      t.ok(logged.includes('/auth/token?username=[redacted]&password=[redacted]'), 'names are kept, values replaced')
      t.ok(logged.includes('/nowhere?[redacted]'), 'a bare value in place of a name is redacted too')
      t.ok(logged.includes('/health?x=[redacted]&[redacted]'), 'a name without a value may be a value: redacted')
      for (const value of values) t.notOk(logs.includes(value), `the ${level} log does not contain ${value.slice(0, 12)}…`)
    })
  }
})
