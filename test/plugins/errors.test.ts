import t, { type Test } from 'tap'
import Fastify from 'fastify'
import errorsPlugin from '../../plugins/errors.js'
import { OAuthError, Problem } from '../../src/errors.js'

async function bare (t: Test) {
  const app = Fastify({ logger: false })
  await app.register(errorsPlugin)
  t.teardown(() => app.close())
  return app
}

t.test('errors plugin: typed errors become problem details or OAuth2 errors', async (t) => {
  const app = await bare(t)
  app.get('/problem', async () => { throw new Problem(409, 'Taken', { 'x-extra': '1' }) })
  app.get('/oauth', { config: { oauth: true } }, async () => { throw new OAuthError(401, 'invalid_grant', 'Nope', { 'www-authenticate': 'Bearer' }) })
  app.get('/boom', async () => { throw new Error('SELECT secret FROM users') })
  app.get('/boom-oauth', { config: { oauth: true } }, async () => { throw new Error('stack') })
  app.get('/sqlite', async () => { throw Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' }) })

  const problem = await app.inject('/problem')
  t.equal(problem.statusCode, 409)
  t.equal(problem.headers['x-extra'], '1')
  t.equal(problem.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.same(problem.json(), { type: 'about:blank', title: 'Conflict', status: 409, detail: 'Taken' })

  const oauth = await app.inject('/oauth')
  t.equal(oauth.statusCode, 401)
  t.equal(oauth.headers['www-authenticate'], 'Bearer')
  t.same(oauth.json(), { error: 'invalid_grant', error_description: 'Nope', detail: 'Nope' })

  const boom = await app.inject('/boom')
  t.equal(boom.statusCode, 500)
  t.same(boom.json(), { type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'An unexpected error occurred' })
  t.notMatch(boom.body, /SELECT|stack|at /)
  const boomOauth = await app.inject('/boom-oauth')
  t.same(boomOauth.json(), { error: 'server_error', error_description: 'An unexpected error occurred', detail: 'An unexpected error occurred' })

  const sqlite = await app.inject('/sqlite')
  t.equal(sqlite.statusCode, 503)
  t.notMatch(sqlite.body, /readonly database/)

  const missing = await app.inject('/nowhere?x=1')
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), { type: 'about:blank', title: 'Not Found', status: 404, detail: 'No route for GET /nowhere' })
})
