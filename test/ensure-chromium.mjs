// `npm test` pretest: the Swagger UI browser test drives Debian's Chromium. On a fresh machine where we are
// root with apt-get (this project's machines and CI), install it once; elsewhere say what to install.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
if (!existsSync(path)) {
  const canInstall = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')
  if (canInstall) {
    console.error('pretest: installing chromium for the Swagger UI browser test (apt-get install -y chromium)…')
    try {
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' })
      execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    } catch {
      console.error('pretest: could not install chromium; test/e2e/browser.test.ts will fail until it is installed')
    }
  } else {
    console.error(`pretest: ${path} is missing: install Chromium (Debian: apt-get install -y chromium) or set CHROMIUM_PATH`)
  }
}
