import t from 'tap'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import { schemaController } from '../../plugins/validation.js'
import { build, signUp } from '../helper.js'

t.test('validation plugin: bodies strict and stripped, query strings and params coerced', async (t) => {
  const app = Fastify({ schemaController })
  app.post('/x/:id', {
    schema: {
      body: Type.Object({ n: Type.Integer(), keep: Type.Optional(Type.String()) }),
      querystring: Type.Object({ limit: Type.Integer() }),
      params: Type.Object({ id: Type.Integer() })
    }
  }, async (request) => ({ body: request.body, query: request.query, params: request.params }))
  t.teardown(() => app.close())
  const ok = await app.inject({ method: 'POST', url: '/x/5?limit=10', payload: { n: 1, keep: 'a', extra: 'dropped' } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { body: { n: 1, keep: 'a' }, query: { limit: 10 }, params: { id: 5 } })
  const coerced = await app.inject({ method: 'POST', url: '/x/5?limit=10', payload: { n: '1' } })
  t.equal(coerced.statusCode, 400, '"1" for an integer is refused in a body')
  t.equal(coerced.json().code, 'FST_ERR_VALIDATION')
})

t.test('the whole app keeps those rules in every route context', async (t) => {
  const app = await build(t)
  const admin = await signUp(app, { role: 'admin' })
  const strict = await app.inject({ method: 'PATCH', url: `/users/${admin.id}`, headers: admin.auth, payload: { disabled: 'true' } })
  t.equal(strict.statusCode, 422)
  t.same(strict.json().errors, [{ field: '/disabled', message: 'must be a boolean' }])
  const query = await app.inject({ url: '/users?limit=1', headers: admin.auth })
  t.equal(query.statusCode, 200)
  t.equal(query.json().items.length, 1)
  const params = await app.inject({ url: `/users/${admin.id}`, headers: admin.auth })
  t.equal(params.statusCode, 200)
  const task = await app.inject({ method: 'POST', url: '/tasks', headers: admin.auth, payload: { title: 'x', done: 'yes' } })
  t.equal(task.statusCode, 422)
})

t.test('a route plugin that adds a schema keeps the strict and coercing validators', async (t) => {
  const app = Fastify({ schemaController })
  await app.register(async (child) => {
    child.addSchema({ $id: 'Thing', type: 'object', properties: { a: { type: 'string' } } })
    child.post('/y/:id', {
      schema: { params: Type.Object({ id: Type.Integer() }), body: Type.Object({ n: Type.Integer() }) }
    }, async (request) => ({ params: request.params, body: request.body }))
  })
  t.teardown(() => app.close())
  const ok = await app.inject({ method: 'POST', url: '/y/7', payload: { n: 1, extra: true } })
  t.same(ok.json(), { params: { id: 7 }, body: { n: 1 } })
  t.equal((await app.inject({ method: 'POST', url: '/y/7', payload: { n: '1' } })).statusCode, 400)
})
