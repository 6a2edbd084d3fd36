// `npm test`: the whole suite (SQLite, and the store tests on both engines), then the PostgreSQL matrix — the
// route, plugin and HTTP-security suites again, unchanged, each app on a fresh PostgreSQL database
// (LATCHKEY_TEST_ENGINE=postgres, see test/helper.ts). Arguments go to both tap runs (CI: --reporter=tap).
// One throwaway PostgreSQL serves every test process, unless TEST_POSTGRES_URL names one already.
import { execFileSync, spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkCoverageFloor } from './coverage-floor.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const tap = join(root, 'node_modules', '.bin', 'tap')
const args = process.argv.slice(2)
const files = (dir, only) => readdirSync(join(root, dir)).filter((f) => f.endsWith('.test.ts') && (only === undefined || only.includes(f))).map((f) => `${dir}/${f}`)
// The suites whose every test goes through the store; the others (CLI, files on disk, SQLite's own faults) are engine-specific.
const MATRIX = [
  ...files('test/routes'),
  ...files('test/plugins'),
  ...files('test/security', ['enumeration.test.ts', 'headers.test.ts', 'throttle.test.ts', 'log-redaction.test.ts'])
]

let server
const env = { ...process.env }
if (env.TEST_POSTGRES_URL === undefined) {
  server = join(tmpdir(), `latchkey-test-pg-${process.pid}`)
  env.TEST_POSTGRES_URL = execFileSync('bash', [join(root, 'test', 'pg-server.sh'), 'start', server], { encoding: 'utf8' }).trim()
}
let status = 1
try {
  const all = spawnSync(tap, args, { stdio: 'inherit', env, cwd: root })
  const covered = checkCoverageFloor(root)
  console.log('\n# PostgreSQL matrix: the route, plugin and HTTP-security suites on PostgreSQL\n')
  const matrix = spawnSync(tap, [...args, '--disable-coverage', ...MATRIX], { stdio: 'inherit', env: { ...env, LATCHKEY_TEST_ENGINE: 'postgres' }, cwd: root })
  status = all.status === 0 && covered && matrix.status === 0 ? 0 : 1
} finally {
  if (server !== undefined) execFileSync('bash', [join(root, 'test', 'pg-server.sh'), 'stop', server], { stdio: 'ignore' })
}
process.exitCode = status
