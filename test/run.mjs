// `npm test`: the whole suite (SQLite, and the store tests on both engines), then the PostgreSQL matrix — the
// route, plugin and HTTP-security suites again, unchanged, each app on a fresh PostgreSQL database
// (LATCHKEY_TEST_ENGINE=postgres, see test/helper.ts). Arguments go to both tap runs (CI: --reporter=tap).
// One throwaway PostgreSQL serves every test process, unless TEST_POSTGRES_URL names one already.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

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

/**
 * The coverage floor (package.json "latchkey"."coverageFloor", per metric, in %): the measured level minus a
 * little, so coverage cannot fall silently. Read from the summary the first tap run writes (tap's
 * "coverage-report" includes json-summary); the matrix run collects none.
 */
function checkCoverageFloor () {
  const floor = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).latchkey?.coverageFloor ?? {}
  const file = join(root, '.tap', 'report', 'coverage-summary.json')
  if (Object.keys(floor).length === 0 || !existsSync(file)) return true
  const total = JSON.parse(readFileSync(file, 'utf8')).total
  const low = Object.entries(floor).filter(([metric, min]) => !(total[metric]?.pct >= min))
  for (const [metric, min] of Object.entries(floor)) console.log(`# coverage ${metric}: ${total[metric]?.pct}% (floor ${min}%)`)
  for (const [metric, min] of low) console.log(`not ok - coverage of ${metric} fell below its floor: ${total[metric]?.pct}% < ${min}%`)
  return low.length === 0
}

let server
const env = { ...process.env }
if (env.TEST_POSTGRES_URL === undefined) {
  server = join(tmpdir(), `latchkey-test-pg-${process.pid}`)
  env.TEST_POSTGRES_URL = execFileSync('bash', [join(root, 'test', 'pg-server.sh'), 'start', server], { encoding: 'utf8' }).trim()
}
let status = 1
try {
  const all = spawnSync(tap, args, { stdio: 'inherit', env, cwd: root })
  const covered = checkCoverageFloor()
  console.log('\n# PostgreSQL matrix: the route, plugin and HTTP-security suites on PostgreSQL\n')
  const matrix = spawnSync(tap, [...args, '--disable-coverage', ...MATRIX], { stdio: 'inherit', env: { ...env, LATCHKEY_TEST_ENGINE: 'postgres' }, cwd: root })
  status = all.status === 0 && covered && matrix.status === 0 ? 0 : 1
} finally {
  if (server !== undefined) execFileSync('bash', [join(root, 'test', 'pg-server.sh'), 'stop', server], { stdio: 'ignore' })
}
process.exitCode = status
