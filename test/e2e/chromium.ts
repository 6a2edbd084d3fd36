// Debian's Chromium (/usr/bin/chromium, or CHROMIUM_PATH) via playwright-core, for the browser end-to-end
// tests; screenshots go to test-artifacts/ (not a test file itself).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const MISSING = `Chromium not found at ${CHROMIUM}: install it with "apt-get install -y chromium" (or set CHROMIUM_PATH)`
export const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts')
mkdirSync(ARTIFACTS, { recursive: true })

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic']

/** Headless Chromium with a fresh profile directory; closed and removed at teardown. */
export async function openBrowser (t: Test, { viewport }: { viewport: { width: number, height: number } }): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(MISSING)
  const profile = mkdtempSync(join(tmpdir(), 'latchkey-chromium-'))
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport })
  t.teardown(async () => {
    await context.close()
    rmSync(profile, { recursive: true, force: true })
  })
  return context
}

/** Headless Chromium for tests that need several contexts (separate cookie jars); closed at teardown. */
export async function launchBrowser (t: Test): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(MISSING)
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS })
  t.teardown(() => browser.close())
  return browser
}

/** Collects what the page complains about: CSP violations and script errors break a page silently. */
export function watchConsole (page: Page): string[] {
  const problems: string[] = []
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(msg.text()) })
  page.on('pageerror', (err) => problems.push(err.message))
  return problems
}
