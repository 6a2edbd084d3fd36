// Swagger UI in a real browser (Debian's Chromium via playwright-core): Authorize with the
// password flow, then "Try it out" on GET /users/me; and a wrong password shows the auth error.
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { buildApp } from '../../src/app.js'
import { newUser, register, testConfig } from '../helper.js'
import { ARTIFACTS, CHROMIUM, MISSING, openBrowser, watchConsole } from './chromium.js'

const VIEWPORT = { width: 1280, height: 1000 }

async function startServer (t: Test) {
  const app = await buildApp(testConfig(t, { PORT: 0 }), { logger: false })
  t.teardown(() => app.close())
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url }
}

/** Expand GET /users/me, "Try it out", Execute; resolves once the live response is shown. */
async function executeUsersMe (page: Page) {
  const op = page.locator('#operations-users-get_users_me')
  await op.locator('.opblock-summary').click()
  await op.getByRole('button', { name: 'Try it out' }).click()
  await op.getByRole('button', { name: 'Execute' }).click()
  const live = op.locator('.live-responses-table .response')
  await live.waitFor()
  return { op, live }
}

async function authorize (page: Page, username: string, password: string) {
  await page.getByRole('button', { name: 'Authorize' }).first().click()
  const dialog = page.locator('.modal-ux')
  await dialog.waitFor()
  await dialog.locator('#oauth_username').fill(username)
  await dialog.locator('#oauth_password').fill(password)
  // The dialog also lists the HTTPBearer scheme, with its own Authorize button.
  await dialog.locator('.auth-container', { has: page.locator('#oauth_username') }).locator('button.authorize').click()
  return dialog
}

// Chromium's first start on a busy 2-core machine can take a while.
t.setTimeout(300_000)

t.test('chromium is installed', async (t) => {
  // CI installs it (.ci/run); a missing browser is a failure to fix, not a reason to skip.
  t.ok(existsSync(CHROMIUM), MISSING)
})

t.test('Swagger UI: Authorize with the password flow, then Try it out on GET /users/me', async (t) => {
  const { app, url } = await startServer(t)
  const user = await register(app, newUser())
  const context = await openBrowser(t, { viewport: VIEWPORT })
  const page = await context.newPage()
  const problems = watchConsole(page)

  await page.goto(`${url}/docs`)
  await page.locator('.opblock-summary-path', { hasText: '/users/me' }).first().waitFor()
  await page.screenshot({ path: join(ARTIFACTS, 'swagger-1-loaded.png') })

  const dialog = await authorize(page, user.username, user.password)
  // After a successful password grant the dialog shows "Authorized" and a Logout button.
  await dialog.locator('button.authorize', { hasText: 'Logout' }).waitFor()
  t.match(await dialog.textContent(), /Authorized/)
  await page.screenshot({ path: join(ARTIFACTS, 'swagger-2-authorized.png') })
  await dialog.locator('button.btn-done').first().click()
  await dialog.waitFor({ state: 'detached' })

  const { op, live } = await executeUsersMe(page)
  t.equal((await live.locator('.response-col_status').textContent())?.trim(), '200')
  const body = await live.locator('.response-col_description .microlight, .response-col_description pre').first().textContent()
  t.match(body, user.username, 'the response shows the username')
  t.match(body, user.email, 'the response shows the email')
  // The request Swagger UI sent carried the bearer token it obtained.
  t.match(await op.locator('.curl-command').textContent(), /Authorization: Bearer [\w-]+\.[\w-]+\.[\w-]+/)
  await op.scrollIntoViewIfNeeded()
  await page.screenshot({ path: join(ARTIFACTS, 'swagger-3-users-me.png'), fullPage: false })
  t.same(problems, [], 'no console errors (CSP violations, script errors)')
})

t.test('Swagger UI: a wrong password shows the auth error and no token is kept', async (t) => {
  const { app, url } = await startServer(t)
  const user = await register(app, newUser())
  const context = await openBrowser(t, { viewport: VIEWPORT })
  const page = await context.newPage()

  await page.goto(`${url}/docs`)
  const dialog = await authorize(page, user.username, 'not the right password')
  const errors = dialog.locator('.errors')
  await errors.waitFor()
  t.match(await errors.textContent(), /Incorrect username or password/)
  t.notOk(await dialog.locator('button.authorize', { hasText: 'Logout' }).isVisible(), 'not authorized')
  await page.screenshot({ path: join(ARTIFACTS, 'swagger-4-wrong-password.png') })
  await dialog.locator('button.btn-done').first().click()

  // Without a token, Try it out on a protected route gets the contract's 401.
  const { live } = await executeUsersMe(page)
  t.equal((await live.locator('.response-col_status').textContent())?.trim(), '401')
  t.match(await live.locator('.response-col_description').textContent(), /Not authenticated/)
})
