// examples/spa in a real browser (Debian's Chromium via playwright-core): the built server on a real port, the
// page served from a second local origin. It logs in with mode=cookie, cannot see the cookie, survives a reload,
// refreshes when the 2-second access token expires, logs out; pages on other origins cannot use the cookie.
import t, { type Test } from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { BrowserContext, Page } from 'playwright-core'
import { packageRoot } from '../../src/paths.js'
import { freePort, newUser } from '../helper.js'
import { ARTIFACTS, CHROMIUM, launchBrowser, MISSING } from './chromium.js'
import { serve } from './server-process.js'

const PAGE = readFileSync(join(packageRoot, 'examples', 'spa', 'index.html'))

/** `latchkey` (the built CLI) on a free port with a 2-second access token; the SPA's origins in CORS_ORIGINS. */
async function startLatchkey (t: Test, corsOrigins: string[]) {
  const served = await serve(t, (port) => ({
    JWT_ISSUER: `http://localhost:${port}`,
    CORS_ORIGINS: corsOrigins.join(','),
    ACCESS_TOKEN_TTL: '2'
    // COOKIE_SECURE stays at its default (true): Chromium accepts Secure cookies from http://localhost.
  }))
  if (!served.ready) throw new Error(`latchkey did not start: ${served.output()}`)
  return served
}

/** A tiny static server: examples/spa/index.html at every path, as `npx serve examples/spa` would. */
async function serveSpa (t: Test): Promise<number> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(PAGE)
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return port
}

/** What the page sent to Latchkey and what it got back, in order ("POST /auth/refresh 200"). */
function watchApi (page: Page, apiPort: number): string[] {
  const calls: string[] = []
  page.on('response', (res) => {
    const url = new URL(res.url())
    if (url.port === String(apiPort) && res.request().method() !== 'OPTIONS') calls.push(`${res.request().method()} ${url.pathname} ${res.status()}`)
  })
  page.on('requestfailed', (req) => {
    const url = new URL(req.url())
    if (url.port === String(apiPort)) calls.push(`${req.method()} ${url.pathname} failed`)
  })
  return calls
}

// A 2-second token can expire between a refresh and the call after it on a busy machine; the page then
// refreshes once more and retries (the behaviour tested below), so that detour is allowed here.
const thenMe = (first: string) => new RegExp(`^${first},(GET /users/me 401,POST /auth/refresh 200,)?GET /users/me 200$`)

const state = (page: Page) => page.locator('body').getAttribute('data-state')
const waitForState = (page: Page, value: string) => page.waitForFunction((v) => document.body.dataset.state === v, value)
const refreshCookies = async (context: BrowserContext) => (await context.cookies()).filter((c) => c.name === 'latchkey_refresh')

async function registerAndLogIn (page: Page, user: { username: string, email: string, password: string }) {
  await page.fill('#reg-username', user.username)
  await page.fill('#reg-email', user.email)
  await page.fill('#reg-password', user.password)
  await page.click('#register-form button')
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'Registered: now log in')
  await page.fill('#login-password', user.password)
  await page.click('#login-form button')
  await waitForState(page, 'signed-in')
}

t.setTimeout(300_000)

t.test('chromium is installed', async (t) => {
  t.ok(existsSync(CHROMIUM), MISSING)
})

t.test('examples/spa from a second origin: cookie login, reload, refresh on expiry, logout; other origins refused', async (t) => {
  const spaPort = await serveSpa(t)
  const spa = `http://localhost:${spaPort}`
  // The same page on 127.0.0.1 is a different site from localhost (see the host-name test below).
  const latchkey = await startLatchkey(t, [spa, `http://127.0.0.1:${spaPort}`])
  const api = `http://localhost:${latchkey.port}`
  const browser = await launchBrowser(t)
  const context = await browser.newContext({ viewport: { width: 1100, height: 1000 } })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(err.message))
  const calls = watchApi(page, latchkey.port)
  const user = newUser()

  await page.goto(`${spa}/?api=${encodeURIComponent(api)}`)
  await waitForState(page, 'signed-out')
  t.same(calls, ['POST /auth/refresh 400'], 'on first load the page tries the cookie: there is none yet (400)')

  await t.test('register, then log in with mode=cookie', async (t) => {
    await registerAndLogIn(page, user)
    t.equal(await page.textContent('#status'), `Signed in as ${user.username}`)
    const me = JSON.parse(await page.textContent('#me') ?? '{}')
    t.match(me, { username: user.username, email: user.email, role: 'user' }, 'the page shows /users/me')
    t.match(calls.slice(1).join(), thenMe('POST /auth/register 201,POST /auth/token 200'))
  })

  await t.test('the refresh token is an httpOnly cookie the page cannot see; nothing is stored', async (t) => {
    t.equal(await page.evaluate(() => document.cookie), '', 'document.cookie is empty')
    t.equal(await page.textContent('#document-cookie'), '""', 'and the page says so')
    t.same(await page.evaluate(() => [localStorage.length, sessionStorage.length]), [0, 0], 'no token in web storage')
    const [cookie] = await refreshCookies(context)
    t.match(cookie, { domain: 'localhost', path: '/auth', httpOnly: true, secure: true, sameSite: 'Strict' },
      'Chromium kept the Secure cookie that http://localhost set')
    await page.screenshot({ path: join(ARTIFACTS, 'spa-signed-in.png') })
  })

  await t.test('a reload signs back in from the cookie', async (t) => {
    const before = (await refreshCookies(context))[0].value
    calls.length = 0
    await page.reload()
    await waitForState(page, 'signed-in')
    t.match(calls.join(), thenMe('POST /auth/refresh 200'))
    t.match(await page.textContent('#me'), user.email)
    t.not((await refreshCookies(context))[0].value, before, 'the refresh rotated the cookie')
  })

  await t.test('an expired access token is refreshed from the cookie, and the call retried', async (t) => {
    calls.length = 0
    await sleep(2500) // ACCESS_TOKEN_TTL=2
    await page.click('#call-me')
    await page.locator('#log li', { hasText: 'The access token expired' }).waitFor()
    await page.waitForFunction(() => [...document.querySelectorAll('#log li')].at(-1)?.textContent?.includes('GET /users/me → 200'))
    t.same(calls, ['GET /users/me 401', 'POST /auth/refresh 200', 'GET /users/me 200'])
    t.equal(await state(page), 'signed-in')
  })

  let stolen = ''
  await t.test('a page on an origin not in CORS_ORIGINS can neither log in nor refresh', async (t) => {
    stolen = (await refreshCookies(context))[0].value
    const otherPort = await serveSpa(t)
    const other = await context.newPage()
    const otherCalls = watchApi(other, latchkey.port)
    // Same site as the real app (localhost, another port), so SameSite=Strict does not stop the cookie: the Origin check does.
    await other.goto(`http://localhost:${otherPort}/?api=${encodeURIComponent(api)}`)
    await waitForState(other, 'signed-out')
    t.same(otherCalls, ['POST /auth/refresh failed'], 'its refresh on load is refused (403 without CORS headers: the page reads nothing)')
    await other.fill('#login-username', user.username)
    await other.fill('#login-password', user.password)
    await other.click('#login-form button')
    await other.waitForFunction(() => document.getElementById('message')?.textContent?.startsWith('Could not log in'))
    t.equal(await state(other), 'signed-out', 'it cannot log in')
    t.same(otherCalls.slice(1), ['POST /auth/token failed'])
    t.equal((await refreshCookies(context))[0].value, stolen, 'the cookie was neither used nor replaced')
    // What the server answered, seen without a browser: the 403 of the contract.
    const res = await fetch(`${api}/auth/refresh`, {
      method: 'POST',
      headers: { origin: `http://localhost:${otherPort}`, 'content-type': 'application/json', cookie: `latchkey_refresh=${stolen}` },
      body: JSON.stringify({ mode: 'cookie' })
    })
    t.equal(res.status, 403)
    t.equal((await res.json()).detail, 'Cookie mode needs a request from an allowed origin')
    t.equal(res.headers.get('access-control-allow-origin'), null)
    await other.close()
  })

  await t.test('log out: the session ends and the cookie is gone', async (t) => {
    calls.length = 0
    await page.click('#logout')
    await waitForState(page, 'signed-out')
    t.same(calls, ['POST /auth/logout 204'])
    t.same(await refreshCookies(context), [], 'Max-Age=0 removed the cookie')
    const res = await fetch(`${api}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: stolen }) })
    t.equal(res.status, 401, 'the last cookie value no longer refreshes: the session ended')
    calls.length = 0
    await page.reload()
    await waitForState(page, 'signed-out')
    t.same(calls, ['POST /auth/refresh 400'], 'after a reload the page stays signed out')
  })

  t.same(problems, [], 'no script errors on the page')
})

t.test('which host names work for local development (what the README says, checked in Chromium)', async (t) => {
  const spaPort = await serveSpa(t)
  const latchkey = await startLatchkey(t, [`http://localhost:${spaPort}`, `http://127.0.0.1:${spaPort}`])
  const browser = await launchBrowser(t)

  async function logIn (pageOrigin: string, apiHost: string) {
    const context = await browser.newContext()
    const page = await context.newPage()
    const calls = watchApi(page, latchkey.port)
    const user = newUser()
    await page.goto(`${pageOrigin}/?api=${encodeURIComponent(`http://${apiHost}:${latchkey.port}`)}`)
    await waitForState(page, 'signed-out')
    await page.fill('#reg-username', user.username)
    await page.fill('#reg-email', user.email)
    await page.fill('#reg-password', user.password)
    await page.click('#register-form button')
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'Registered: now log in')
    await page.fill('#login-password', user.password)
    await page.click('#login-form button')
    await page.waitForFunction(() => document.body.dataset.state === 'signed-in' || document.getElementById('message')?.textContent !== '')
    const result = { state: await state(page), message: await page.textContent('#message'), cookies: await refreshCookies(context), calls }
    await context.close()
    return result
  }

  const ip = await logIn(`http://127.0.0.1:${spaPort}`, '127.0.0.1')
  t.equal(ip.state, 'signed-in', '127.0.0.1 page → 127.0.0.1 API (other port): same site, works')
  t.match(ip.cookies, [{ domain: '127.0.0.1', secure: true, sameSite: 'Strict' }], 'Chromium keeps a Secure cookie from http://127.0.0.1 too')

  const mixed = await logIn(`http://127.0.0.1:${spaPort}`, 'localhost')
  t.equal(mixed.state, 'signed-out', '127.0.0.1 page → localhost API: cross-site, refused even though the origin is listed')
  t.ok(mixed.calls.includes('POST /auth/token 403'), 'the login is refused: Chromium sent Sec-Fetch-Site: cross-site')
  t.equal(mixed.message, 'Cookie mode needs a request from an allowed origin', 'the listed origin can read the refusal')
  t.same(mixed.cookies, [], 'and no cookie is kept')
  // The server saw Sec-Fetch-Site: cross-site; the same request without a browser shows the answer.
  const res = await fetch(`http://localhost:${latchkey.port}/auth/token`, {
    method: 'POST',
    headers: { origin: `http://127.0.0.1:${spaPort}`, 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' },
    body: 'username=x&password=y&mode=cookie'
  })
  t.equal(res.status, 403)
})
