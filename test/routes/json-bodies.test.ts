// API.md v2: a JSON body that is not an object (null, an array, a number, a string, a boolean) where an
// object is expected is a 422 on every JSON route; only a truly absent body may count as empty.
import t from 'tap'
import { build, signUp } from '../helper.js'

interface Operation { tags?: string[], requestBody?: { content: Record<string, unknown> } }
const NOT_OBJECTS = ['null', '[]', '[{"refresh_token":"x"}]', '0', '42', '"text"', 'true', 'false']

t.test('every JSON route: a body that is not an object is a 422 with the root pointer', async (t) => {
  const app = await build(t)
  const doc = app.swagger() as { paths: Record<string, Record<string, Operation>> }
  const user = await signUp(app)
  const admin = await signUp(app, { role: 'admin' })
  const task = (await app.inject({ method: 'POST', url: '/tasks', headers: user.auth, payload: { title: 'mine' } })).json<{ id: number }>()
  let routes = 0
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (op.requestBody?.content['application/json'] === undefined) continue
      routes++
      const isAdmin = op.tags?.includes('admin') ?? false
      const url = path.replace('{id}', String(path.startsWith('/tasks') ? task.id : user.id))
      for (const payload of NOT_OBJECTS) {
        const res = await app.inject({
          method: method.toUpperCase() as 'POST',
          url,
          payload,
          headers: { ...(isAdmin ? admin.auth : user.auth), 'content-type': 'application/json' }
        })
        t.equal(res.statusCode, 422, `${method.toUpperCase()} ${path} with ${payload}: 422`)
        t.same(res.json().errors, [{ field: '', message: 'must be a JSON object' }], `${method.toUpperCase()} ${path} with ${payload}: the body is the field`)
        t.equal(res.json().detail, 'The request body must be a JSON object')
      }
    }
  }
  t.ok(routes >= 9, `covered every JSON route (${routes})`)
  // Nothing was changed by any of those requests.
  t.equal((await app.inject({ url: '/users/me', headers: user.auth })).statusCode, 200, 'the user still exists and is signed in')
  t.equal((await app.inject({ url: `/tasks/${task.id}`, headers: user.auth })).json().title, 'mine')
})

t.test('POST /auth/logout: null is a 422, an absent body with a bearer ends the session', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const asNull = await app.inject({ method: 'POST', url: '/auth/logout', headers: { ...user.auth, 'content-type': 'application/json' }, payload: 'null' })
  t.equal(asNull.statusCode, 422, 'null is a body, and not an object')
  t.equal((await app.inject({ url: '/users/me', headers: user.auth })).statusCode, 200, 'the session did not end')
  const absent = await app.inject({ method: 'POST', url: '/auth/logout', headers: user.auth })
  t.equal(absent.statusCode, 204)
  t.equal((await app.inject({ url: '/users/me', headers: user.auth })).statusCode, 401, 'now it did')
  const nothing = await app.inject({ method: 'POST', url: '/auth/logout' })
  t.equal(nothing.statusCode, 422, 'neither a body nor a bearer')
  t.same(nothing.json().errors, [{ field: '/refresh_token', message: 'is required' }])
})
