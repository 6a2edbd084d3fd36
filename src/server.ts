// The process edge for serving: build the app from a parsed Config, listen, and shut down gracefully.
import closeWithGrace from 'close-with-grace'
import { resolve } from 'node:path'
import { buildApp, type App } from './app.js'
import type { Config } from './config.js'
import { dataDirectory } from './db/open.js'

export interface Started { app: App, url: string }

export async function startServer (config: Config, out: (line: string) => void = console.log): Promise<Started> {
  const app = await buildApp(config)
  const address = await app.listen({ host: config.HOST, port: config.PORT })
  const url = address.replace('[::1]', 'localhost')
  out(`Latchkey is serving on ${url}  (API docs: ${url}/docs)`)
  out(`Data directory: ${resolve(dataDirectory(config.DATABASE_PATH))}  (signing: ${app.signingAlgorithm})`)
  if (app.users.countActiveAdmins() === 0) {
    out('No admin account yet. Create one with:')
    out('  npx latchkey user create --username admin --email admin@example.com --role admin')
  }

  // Stop accepting, let in-flight requests finish, close the database; a second signal forces exit.
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })
  return { app, url }
}
