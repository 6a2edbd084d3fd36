// Swagger UI for a user with TOTP (Debian's Chromium via playwright-core): the OAuth2 password form answers
// that a one-time code is required; a token from `curl -d totp=…` pasted into HTTPBearer works.
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Secret, TOTP } from 'otpauth'
import { buildApp } from '../../src/app.js'
import { form, login, newUser, PASSWORD, register, testConfig, type Tokens } from '../helper.js'
import { ARTIFACTS, CHROMIUM, openBrowser } from './chromium.js'

t.setTimeout(300_000)

t.test('a TOTP user: the password form says a code is needed; a pasted token authorizes', async (t) => {
  t.ok(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install -y chromium)`)
  const app = await buildApp(testConfig(t, { PORT: 0 }), { logger: false })
  t.teardown(() => app.close())
  const url = await app.listen({ port: 0, host: '127.0.0.1' })

  // Enrol and confirm through the API, as the README's curl steps do.
  const user = await register(app, newUser())
  const first = await login(app, user.username)
  const auth = { authorization: `Bearer ${first.access_token}` }
  const { secret } = (await app.inject({ method: 'POST', url: '/users/me/totp', headers: auth, payload: { password: PASSWORD } })).json<{ secret: string }>()
  // A code made near the end of a step could reach the server in the next one: start inside a step.
  const left = 30_000 - (Date.now() % 30_000)
  if (left < 5000) await new Promise((resolve) => setTimeout(resolve, left + 50))
  const now = Date.now()
  const code = (at: number) => TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: at })
  t.equal((await app.inject({ method: 'POST', url: '/users/me/totp/confirm', headers: auth, payload: { code: code(now) } })).statusCode, 200)
  // curl -d username=… -d password=… -d totp=123456 http://…/auth/token
  const signedIn = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: PASSWORD, totp: code(now + 30_000) }) })
  t.equal(signedIn.statusCode, 200)
  const tokens = signedIn.json<Tokens>()

  const context = await openBrowser(t, { viewport: { width: 1280, height: 1000 } })
  const page = await context.newPage()
  await page.goto(`${url}/docs`)
  await page.getByRole('button', { name: 'Authorize' }).first().click()
  const dialog = page.locator('.modal-ux')
  await dialog.waitFor()

  const oauth = dialog.locator('.auth-container', { has: page.locator('#oauth_username') })
  await oauth.locator('#oauth_username').fill(user.username)
  await oauth.locator('#oauth_password').fill(PASSWORD)
  await oauth.locator('button.authorize').click()
  await oauth.locator('.errors').waitFor()
  t.match(await oauth.locator('.errors').textContent(), /A one-time code is required/, 'the password form cannot carry a code')

  // Found by its name: once authorized, its input gives way to "Authorized" and a Logout button.
  const bearer = dialog.locator('.auth-container', { hasText: 'HTTPBearer' })
  await bearer.locator('input[aria-label="auth-bearer-value"]').fill(tokens.access_token)
  await bearer.locator('button.authorize').click()
  await bearer.locator('button', { hasText: 'Logout' }).waitFor()
  t.match(await bearer.textContent(), /Authorized/)
  await page.screenshot({ path: join(ARTIFACTS, 'swagger-totp-bearer.png') })
  await dialog.locator('button.btn-done').first().click()
  await dialog.waitFor({ state: 'detached' })

  const op = page.locator('#operations-users-get_users_me')
  await op.locator('.opblock-summary').click()
  await op.getByRole('button', { name: 'Try it out' }).click()
  await op.getByRole('button', { name: 'Execute' }).click()
  const live = op.locator('.live-responses-table .response')
  await live.waitFor()
  t.equal((await live.locator('.response-col_status').textContent())?.trim(), '200')
  t.match(await live.locator('.response-col_description').textContent(), /"totp_enabled": true/)
  t.match(await op.locator('.curl-command').textContent(), `Authorization: Bearer ${tokens.access_token}`)
})
