// `npm test` pretest: the suite drives Debian's Chromium (Swagger UI, the SPA), runs the store and route tests
// on a throwaway PostgreSQL and the shared rate limit on a throwaway Redis. On a fresh machine where we are root
// with apt-get (this project's machines and CI), install what is missing once; elsewhere say what to install.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const hasPostgres = () => existsSync('/usr/lib/postgresql') && readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/pg_ctl`))
const wanted = [
  ['chromium', () => existsSync(chromium), 'test/e2e/browser.test.ts (or set CHROMIUM_PATH)'],
  ['postgresql', () => process.env.TEST_POSTGRES_URL !== undefined || hasPostgres(), 'the PostgreSQL store tests and matrix (or set TEST_POSTGRES_URL)'],
  ['redis-server', () => existsSync('/usr/bin/redis-server'), 'test/plugins/rate-limit-redis.test.ts']
]
const missing = wanted.filter(([, present]) => !present())
if (missing.length > 0) {
  const names = missing.map(([name]) => name)
  const canInstall = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')
  if (canInstall) {
    console.error(`pretest: installing ${names.join(', ')} (apt-get install -y ${names.join(' ')})…`)
    try {
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' })
      execFileSync('apt-get', ['install', '-y', '-qq', ...names], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    } catch {
      console.error(`pretest: could not install ${names.join(', ')}; the tests that need them will fail until they are installed`)
    }
  } else {
    for (const [name, , what] of missing) console.error(`pretest: ${name} is missing (Debian: apt-get install -y ${name}): needed by ${what}`)
  }
}
