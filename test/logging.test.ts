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
