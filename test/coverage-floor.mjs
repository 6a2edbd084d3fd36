// The coverage floor of `npm test` (test/run.mjs); `node test/coverage-floor.mjs` checks the last run's summary alone.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The coverage floor (package.json "latchkey"."coverageFloor", per metric, in %): the measured level minus a
 * little, so coverage cannot fall silently. Read from the summary the first tap run writes (tap's
 * "coverage-report" includes json-summary); the matrix run collects none.
 */
export function checkCoverageFloor (root) {
  const floor = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).latchkey?.coverageFloor ?? {}
  const file = join(root, '.tap', 'report', 'coverage-summary.json')
  if (Object.keys(floor).length === 0) return true
  if (!existsSync(file)) {
    console.log(`not ok - no coverage summary at ${file}: tap's "coverage-report" must include json-summary`)
    return false
  }
  const total = JSON.parse(readFileSync(file, 'utf8')).total
  const low = Object.entries(floor).filter(([metric, min]) => !(total[metric]?.pct >= min))
  for (const [metric, min] of Object.entries(floor)) console.log(`# coverage ${metric}: ${total[metric]?.pct}% (floor ${min}%)`)
  for (const [metric, min] of low) console.log(`not ok - coverage of ${metric} fell below its floor: ${total[metric]?.pct}% < ${min}%`)
  return low.length === 0
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = checkCoverageFloor(fileURLToPath(new URL('..', import.meta.url))) ? 0 : 1
}
