// Liveness and readiness probes.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { STORAGE_RETRY_AFTER } from '../db/faults.js'
import { Problem } from '../errors.js'
import { problems } from '../schemas/common.js'

const Status = Type.Object({ status: Type.String({ examples: ['ok'] }) }, { description: 'Healthy' })

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', {
    schema: { tags: ['operations'], summary: 'Liveness: 200 while the process runs', response: { 200: Status } }
  }, async () => ({ status: 'ok' }))

  app.get('/ready', {
    schema: {
      tags: ['operations'],
      summary: 'Readiness: 200 when the database answers and commits a write (probed at most every 2 s), 503 otherwise',
      response: { 200: Status, ...problems(503) }
    }
  }, async () => {
    let probe
    try {
      // A read round trip first, on every call: the write probe's verdict is cached for 2 s, a closed or
      // broken connection must show at once. (A primary-key lookup of an id that never exists.)
      await app.store.userById(0)
      probe = await app.store.ready()
    } catch (err) {
      app.log.error({ err }, 'readiness check failed')
      throw new Problem(503, 'The database is not answering', { 'retry-after': String(STORAGE_RETRY_AFTER) })
    }
    if (!probe.ok) {
      app.log.error({ code: probe.code }, 'readiness write probe failed')
      throw new Problem(503, 'The database cannot accept writes right now', { 'retry-after': String(STORAGE_RETRY_AFTER) })
    }
    return { status: 'ok' }
  })

  // A person opening the server's root in a browser wants the docs.
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/docs'))
}

export default routes
