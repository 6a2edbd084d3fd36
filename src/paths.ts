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
export const migrationsFolder = join(packageRoot, 'migrations')
export const packageVersion = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version
