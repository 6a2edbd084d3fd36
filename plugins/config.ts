// Exposes the parsed Config as `app.config` (parsing happens once at the process edge, src/config.ts) and the data directory it names.
import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'
import { dataDirectory } from '../src/db/open.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    /** The folder of DATABASE_PATH: keys, the TOTP key, the mail outbox (derived here once). */
    dataDir: string
  }
}

export default fp<{ config: Config }>(async (app, opts) => {
  app.decorate('config', Object.freeze({ ...opts.config }))
  app.decorate('dataDir', dataDirectory(opts.config.DATABASE_PATH))
}, { name: 'config' })
