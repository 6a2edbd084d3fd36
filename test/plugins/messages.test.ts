// Every validation message is a sentence (API.md): AJV's phrases are mapped once, in plugins/errors.ts.
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import errorsPlugin from '../../plugins/errors.js'
import { schemaController } from '../../plugins/validation.js'
import { Email, NewPassword, Username } from '../../src/schemas/users.js'
import { build, signUp } from '../helper.js'

// Phrases AJV would produce by itself: none may reach a client.
const RAW = /must be (a|an) (object|array)\b|must NOT|must match pattern|must match format|must be equal to one of|must have required property|\b1 characters|fewer than|more than/

async function bare (t: Test) {
  const app = Fastify({ logger: false, schemaController })
  await app.register(errorsPlugin)
  app.post('/thing', {
    schema: {
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 5 }),
        code: Type.Optional(Type.String({ minLength: 3 })),
        short: Type.Optional(Type.String({ maxLength: 1 })),
        email: Type.Optional(Email),
        username: Type.Optional(Username),
        password: Type.Optional(NewPassword),
        count: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
        color: Type.Optional(Type.Union([Type.Literal('red'), Type.Literal('blue'), Type.Literal('green')])),
        size: Type.Optional(Type.String({ enum: ['s', 'm'] })),
        when: Type.Optional(Type.String({ format: 'date-time' })),
        note: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        done: Type.Optional(Type.Boolean()),
        digits: Type.Optional(Type.String({ pattern: '^[0-9]+$' }))
      })
    }
  }, async () => ({ ok: true }))
  t.teardown(() => app.close())
  return app
}

t.test('each keyword as a sentence; errors[].field stays a JSON pointer', async (t) => {
  const app = await bare(t)
  const cases: Array<[string, unknown, Array<{ field: string, message: string }>]> = [
    ['minLength 1', { name: '' }, [{ field: '/name', message: 'must be at least 1 character' }]],
    ['minLength 3', { name: 'a', code: 'ab' }, [{ field: '/code', message: 'must be at least 3 characters' }]],
    ['maxLength 5', { name: 'abcdef' }, [{ field: '/name', message: 'must be at most 5 characters' }]],
    ['maxLength 1', { name: 'a', short: 'ab' }, [{ field: '/short', message: 'must be at most 1 character' }]],
    ['required', {}, [{ field: '/name', message: 'is required' }]],
    ['type string', { name: 5 }, [{ field: '/name', message: 'must be a string' }]],
    ['type integer', { name: 'a', count: 1.5 }, [{ field: '/count', message: 'must be an integer' }]],
    ['type boolean', { name: 'a', done: 'true' }, [{ field: '/done', message: 'must be a boolean' }]],
    ['minimum', { name: 'a', count: 0 }, [{ field: '/count', message: 'must be at least 1' }]],
    ['maximum', { name: 'a', count: 101 }, [{ field: '/count', message: 'must be at most 100' }]],
    ['format email (and its pattern, said once)', { name: 'a', email: 'me@localhost' }, [{ field: '/email', message: 'must be a valid email address' }]],
    ['format date-time', { name: 'a', when: 'yesterday' }, [{ field: '/when', message: 'must be a date and time in ISO 8601 format' }]],
    ['enum', { name: 'a', size: 'xl' }, [{ field: '/size', message: 'must be one of "s" or "m"' }]],
    ['a union of literals', { name: 'a', color: 'pink' }, [{ field: '/color', message: 'must be one of "red", "blue" or "green"' }]],
    ['a union of types', { name: 'a', note: 5 }, [{ field: '/note', message: 'must be a string or null' }]],
    ['pattern with its own sentence', { name: 'a', username: 'bad name' }, [{ field: '/username', message: 'must contain only letters A-Z and a-z, digits, "_", "." and "-"' }]],
    ['pattern without one', { name: 'a', digits: 'x1' }, [{ field: '/digits', message: 'must match the pattern ^[0-9]+$' }]],
    ['password over the early cap states the policy', { name: 'a', password: 'x'.repeat(513) }, [{ field: '/password', message: 'must be at most 128 characters' }]]
  ]
  for (const [name, payload, errors] of cases) {
    const res = await app.inject({ method: 'POST', url: '/thing', payload: payload as object })
    t.equal(res.statusCode, 422, `${name}: 422`)
    const body = res.json()
    t.same(body.errors, errors, `${name}: ${errors.map((e) => e.message).join('; ')}`)
    t.equal(body.detail, `The request is invalid: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`, `${name}: detail is the sentence`)
    t.notMatch(body.detail, RAW, `${name}: no raw AJV phrase`)
  }
})

t.test('a body that is not an object: "The request body must be a JSON object"', async (t) => {
  const app = await bare(t)
  for (const payload of ['null', '[]', '[1]', '5', '"text"', 'true']) {
    const res = await app.inject({ method: 'POST', url: '/thing', payload, headers: { 'content-type': 'application/json' } })
    t.equal(res.statusCode, 422, payload)
    t.same(res.json().errors, [{ field: '', message: 'must be a JSON object' }], `${payload}: the root pointer`)
    t.equal(res.json().detail, 'The request body must be a JSON object')
  }
})

t.test('several errors make one sentence; missing and wrong fields together', async (t) => {
  const app = await bare(t)
  const res = await app.inject({ method: 'POST', url: '/thing', payload: { count: 'x', color: 3 } })
  t.same(res.json().errors, [
    { field: '/name', message: 'is required' },
    { field: '/count', message: 'must be an integer' },
    { field: '/color', message: 'must be one of "red", "blue" or "green"' }
  ])
  t.equal(res.json().detail, 'The request is invalid: /name is required; /count must be an integer; /color must be one of "red", "blue" or "green"')
})

t.test('in the whole app: register, tasks and the OAuth2 form share the sentences', async (t) => {
  const app = await build(t)
  const user = await signUp(app)
  const task = await app.inject({ method: 'POST', url: '/tasks', headers: user.auth, payload: { title: '' } })
  t.same(task.json().errors, [{ field: '/title', message: 'must be at least 1 character' }])
  const reg = await app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'ok_name', email: 'x@y', password: 'correct horse battery staple' } })
  t.same(reg.json().errors, [{ field: '/email', message: 'must be a valid email address' }])
  const admin = await signUp(app, { role: 'admin' })
  const role = await app.inject({ method: 'PATCH', url: `/users/${user.id}`, headers: admin.auth, payload: { role: 'root' } })
  t.same(role.json().errors, [{ field: '/role', message: 'must be one of "user" or "admin"' }])
  const limit = await app.inject({ url: '/tasks?limit=0', headers: user.auth })
  t.same(limit.json().errors, [{ field: '/limit', message: 'must be at least 1' }])
  const form = await app.inject({ method: 'POST', url: '/auth/token', payload: `username=${'u'.repeat(1100)}&password=x`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(form.statusCode, 400)
  t.same(form.json(), { error: 'invalid_request', error_description: 'username must be at most 1024 characters', detail: 'username must be at most 1024 characters' })
  for (const res of [task, reg, role, limit]) t.notMatch(res.json().detail, RAW)
})
