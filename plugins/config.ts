// Exposes the parsed Config as `app.config`; parsing happens once at the process edge (src/config.ts).
import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export default fp<{ config: Config }>(async (app, opts) => {
  app.decorate('config', Object.freeze({ ...opts.config }))
}, { name: 'config' })
