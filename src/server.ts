// The process edge for serving: build the app from a parsed Config, listen, and shut down gracefully.
import closeWithGrace from 'close-with-grace'
import { resolve } from 'node:path'
import { buildApp, type App } from './app.js'
import type { Config } from './config.js'
import { dataDirectory } from './db/open.js'
import threadpool from './threadpool.cjs'

export interface Started { app: App, url: string }

/** Signals the kernel raises for a native fault (https://nodejs.org/api/process.html#signal-events). */
export const CRASH_SIGNALS = ['SIGBUS', 'SIGSEGV', 'SIGILL', 'SIGFPE'] as const

export async function startServer (config: Config, out: (line: string) => void = console.log): Promise<Started> {
  const app = await buildApp(config)
  // What the bin did with the hashing threads (undefined when the process did not start through it).
  const pool = threadpool.threadpoolStatus()
  if (pool !== undefined) app.log.debug({ threadpool: { size: pool.size, nice: pool.nice ?? null } }, pool.note)
  const address = await app.listen({ host: config.HOST, port: config.PORT })
  const url = address.replace('[::1]', 'localhost')
  out(`Latchkey is serving on ${url}  (API docs: ${url}/docs)`)
  out(`Data directory: ${resolve(dataDirectory(config.DATABASE_PATH))}  (signing: ${app.signingAlgorithm})`)
  if (await app.users.countActiveAdmins() === 0) {
    out('No admin account yet. Create one with:')
    out('  npx latchkey user create --username admin --email admin@example.com --role admin')
  }

  // Stop accepting, let in-flight requests finish, close the database; a second signal forces exit.
  // Not on a crash signal: a JS listener for SIGBUS/SIGSEGV/SIGILL/SIGFPE returns to the faulting
  // instruction, which faults again forever (100 % CPU, SIGTERM ignored). Left to the default action,
  // the process dies by the signal and the supervisor restarts it (docs/deploying.md).
  closeWithGrace({ delay: 10_000, skip: [...CRASH_SIGNALS] }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })
  return { app, url }
}
