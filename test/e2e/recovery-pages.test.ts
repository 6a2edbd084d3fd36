// The pages mail links open, in real Chromium (playwright-core, Debian's /usr/bin/chromium): open the
// link from a received mail, see that opening changed nothing, press the button, then sign in.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { buildApp } from '../../src/app.js'
import { freePort, newUser, PASSWORD, testConfig } from '../helper.js'
import { linkIn, startSmtp } from '../smtp.js'
import { ARTIFACTS, openBrowser, watchConsole } from './chromium.js'

const VIEWPORT = { width: 900, height: 800 }
const NEW_PASSWORD = 'my shiny new passphrase'
const CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

/** Latchkey on a real port whose issuer (and so APP_URL) is its own address, mailing to a real SMTP server. */
async function startServer (t: Test) {
  const inbox = await startSmtp(t)
  const port = await freePort()
  const app = await buildApp(testConfig(t, { PORT: port, SMTP_URL: inbox.url }), { logger: false })
  t.teardown(() => app.close())
  const url = await app.listen({ port, host: '127.0.0.1' })
  return { app, url, inbox }
}

async function post (url: string, path: string, body: unknown) {
  return await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

async function signIn (url: string, username: string, password: string) {
  return await fetch(`${url}/auth/token`, { method: 'POST', body: new URLSearchParams({ username, password }) })
}

t.setTimeout(300_000)

t.test('reset a password through the page the mail links to', async (t) => {
  const { app, url, inbox } = await startServer(t)
  const user = newUser()
  t.equal((await post(url, '/auth/register', user)).status, 201)
  await inbox.mail(0)
  t.equal((await post(url, '/auth/password/forgot', { email: user.email })).status, 202)
  const mail = await inbox.mail(1)
  const { link, token } = linkIn(mail, `${url}/reset-password?token=`)

  const context = await openBrowser(t, { viewport: VIEWPORT })
  const page = await context.newPage()
  const problems = watchConsole(page)
  const response = await page.goto(link)
  t.equal(response?.status(), 200)
  t.equal(response?.headers()['content-security-policy'], CSP, 'the page’s strict CSP, not the API default')
  t.equal(response?.headers()['cache-control'], 'no-store')
  t.equal(response?.headers()['referrer-policy'], 'no-referrer')
  t.equal(await page.title(), 'Choose a new password · Latchkey')
  t.equal(await page.locator('h1').textContent(), 'Choose a new password')
  await page.screenshot({ path: join(ARTIFACTS, 'recovery-1-reset-page.png') })

  // Opening the link (as a mail scanner would) used nothing up and changed nothing.
  t.ok(await app.accountTokens.find(token, 'reset'), 'the link is still unused')
  t.equal((await signIn(url, user.username, PASSWORD)).status, 200, 'the old password still works')

  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD)
  await page.getByLabel('Repeat the new password').fill('something different')
  await page.getByRole('button', { name: 'Set new password' }).click()
  t.equal(await page.locator('#status').textContent(), 'The two passwords are not the same.')
  t.ok(await app.accountTokens.find(token, 'reset'), 'a mismatch sends nothing')

  await page.getByLabel('Repeat the new password').fill(NEW_PASSWORD)
  await page.getByRole('button', { name: 'Set new password' }).click()
  const status = page.locator('#status.ok')
  await status.waitFor()
  t.equal(await status.textContent(), 'Your password has been changed. You can now sign in with the new password.')
  t.notOk(await page.locator('form').isVisible(), 'the form is gone')
  await page.screenshot({ path: join(ARTIFACTS, 'recovery-2-reset-done.png') })

  t.equal((await signIn(url, user.username, NEW_PASSWORD)).status, 200, 'the new password signs in')
  t.equal((await signIn(url, user.username, PASSWORD)).status, 401, 'the old one does not')

  // The same link again: the page shows the API's sentence.
  await page.goto(link)
  await page.getByLabel('New password', { exact: true }).fill('third passphrase here')
  await page.getByLabel('Repeat the new password').fill('third passphrase here')
  await page.getByRole('button', { name: 'Set new password' }).click()
  const error = page.locator('#status.error')
  await error.waitFor()
  t.equal(await error.textContent(), 'The reset link is invalid or has expired.')
  t.same(problems.filter((p) => !p.includes('400')), [], 'no CSP violation or script error')
})

t.test('verify an email address through the page the mail links to', async (t) => {
  const { app, url, inbox } = await startServer(t)
  const user = newUser()
  const created = await (await post(url, '/auth/register', user)).json() as { id: number, email_verified: boolean }
  t.equal(created.email_verified, false)
  const mail = await inbox.mail(0)
  const { link } = linkIn(mail, `${url}/verify-email?token=`)

  const context = await openBrowser(t, { viewport: VIEWPORT })
  const page = await context.newPage()
  const problems = watchConsole(page)
  const response = await page.goto(link)
  t.equal(response?.headers()['content-security-policy'], CSP)
  t.equal(await page.locator('h1').textContent(), 'Verify your email address')
  t.equal((await app.users.findById(created.id))?.emailVerified, false, 'opening the link verified nothing')

  await page.getByRole('button', { name: 'Verify my email address' }).click()
  const status = page.locator('#status.ok')
  await status.waitFor()
  t.equal(await status.textContent(), 'Your email address is verified. You can close this page.')
  t.equal((await app.users.findById(created.id))?.emailVerified, true)
  await page.screenshot({ path: join(ARTIFACTS, 'recovery-3-verified.png') })

  await page.goto(`${url}/verify-email`)
  await page.getByRole('button', { name: 'Verify my email address' }).click()
  t.equal(await page.locator('#status').textContent(), 'This link has no token. Open the link from the mail again.')
  t.same(problems, [], 'no CSP violation or script error')
})
