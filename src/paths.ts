// Where the package's own files live, found from this module so `latchkey` works from any directory.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findPackageRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  // src/paths.ts and dist/src/paths.js sit at different depths; walk up to package.json.
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('latchkey: cannot find its package.json')
    dir = parent
  }
  return dir
}

export const packageRoot = findPackageRoot()
/** drizzle-kit output per engine (migrations/sqlite, migrations/postgres), applied at start. */
export const migrationsFolders = {
  sqlite: join(packageRoot, 'migrations', 'sqlite'),
  postgres: join(packageRoot, 'migrations', 'postgres')
} as const
export const packageVersion = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version
