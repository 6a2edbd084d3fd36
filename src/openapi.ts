// The OpenAPI 3 document as a file (`npm run openapi [file]`), built from the routes without serving.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildApp } from './app.js'
import { parseConfig } from './config.js'

/** Build the app on a throwaway database (cheap argon2, no logs) and return its OpenAPI document. */
export async function buildOpenApiDocument (): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-openapi-'))
  try {
    const config = parseConfig({
      DATABASE_PATH: join(dir, 'latchkey.db'),
      ARGON2_MEMORY_COST: 1024,
      ARGON2_TIME_COST: 1,
      LOG_LEVEL: 'silent',
      SESSION_PURGE_INTERVAL: 0
    })
    const app = await buildApp(config, { logger: false })
    try {
      await app.ready()
      return app.swagger() as unknown as Record<string, unknown>
    } finally {
      await app.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Write the document as pretty JSON; returns the absolute path written. */
export async function writeOpenApiDocument (file = 'openapi.json'): Promise<string> {
  const path = resolve(file)
  writeFileSync(path, `${JSON.stringify(await buildOpenApiDocument(), null, 2)}\n`)
  return path
}

// Run as a script: node dist/src/openapi.js [file]
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeOpenApiDocument(process.argv[2]).then((path) => {
    console.log(`Wrote ${path}`)
  }, (err: unknown) => {
    console.error(`openapi: ${(err as Error).message}`)
    process.exitCode = 1
  })
}
