import t from 'tap'
import Fastify from 'fastify'
import configPlugin from '../../plugins/config.js'
import { parseConfig } from '../../src/config.js'

t.test('config plugin decorates a frozen copy of the config', async (t) => {
  const app = Fastify()
  const config = parseConfig({ PORT: '1234' })
  await app.register(configPlugin, { config })
  await app.ready()
  t.equal(app.config.PORT, 1234)
  t.ok(Object.isFrozen(app.config))
  t.not(app.config, config)
  await app.close()
})
