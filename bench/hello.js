// The baseline: a bare Fastify hello-world route, run as its own process like the real server.
// HELLO_VARIANT=helmet adds @fastify/helmet with the options of plugins/security.ts, to price helmet alone;
// HELLO_VARIANT=static-headers sets the same headers, computed once by helmet at startup, from one hook.
import Fastify from 'fastify'

const app = Fastify({ logger: false })
const variant = process.env.HELLO_VARIANT ?? 'bare'
if (variant !== 'bare') {
  // The server's own options and header recording (the built plugins/security.ts; the bench builds first).
  const { helmetOptions, helmetHeaders } = await import('../dist/plugins/security.js')
  if (variant === 'helmet') await app.register((await import('@fastify/helmet')).default, helmetOptions)
  else if (variant === 'static-headers') addStaticHeaders(helmetHeaders(helmetOptions))
}
/** As plugins/security.ts does it: the recorded headers set on the raw response from one hook. */
function addStaticHeaders (headers) {
  const names = headers.map(([name]) => name)
  const values = headers.map(([, value]) => value)
  app.addHook('onRequest', (_request, reply, done) => {
    for (let i = 0; i < names.length; i++) reply.raw.setHeader(names[i], values[i])
    done()
  })
}
app.get('/', async () => ({ hello: 'world' }))
app.get('/health', async () => ({ status: 'ok' }))

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
process.stdout.write(`ready ${address} (${variant})\n`)
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => { app.close().then(() => process.exit(0)) })
