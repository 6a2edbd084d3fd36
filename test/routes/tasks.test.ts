// /tasks: CRUD, validation bounds, owner isolation for every verb, keyset pagination.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { build, signUp } from '../helper.js'

interface Task { id: number, title: string, description: string | null, done: boolean, created_at: string, updated_at: string }
interface TaskPage { items: Task[], next_cursor: string | null }

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

t.test('tasks', async (t) => {
  const app = await build(t)
  const alice = await signUp(app)
  const bob = await signUp(app)

  const create = async (auth: Record<string, string>, payload: Record<string, unknown>) =>
    await app.inject({ method: 'POST', url: '/tasks', headers: auth, payload })

  t.test('create, read, update, delete', async (t) => {
    const created = await create(alice.auth, { title: 'Buy milk' })
    t.equal(created.statusCode, 201)
    const task = created.json<Task>()
    t.equal(created.headers.location, `/tasks/${task.id}`)
    t.same(Object.keys(task).sort(), ['created_at', 'description', 'done', 'id', 'title', 'updated_at'])
    t.equal(task.title, 'Buy milk')
    t.equal(task.description, null, 'a missing description is null')
    t.equal(task.done, false, 'done defaults to false')
    t.match(task.created_at, ISO)
    t.equal(task.updated_at, task.created_at)

    const full = await create(alice.auth, { title: 'Write report', description: 'Q3 numbers', done: true })
    t.equal(full.statusCode, 201)
    t.match(full.json(), { title: 'Write report', description: 'Q3 numbers', done: true })

    const explicitNull = await create(alice.auth, { title: 'No description', description: null })
    t.equal(explicitNull.statusCode, 201)
    t.equal(explicitNull.json<Task>().description, null)

    const got = await app.inject({ url: `/tasks/${task.id}`, headers: alice.auth })
    t.equal(got.statusCode, 200)
    t.same(got.json(), task)

    await sleep(5) // so a changed updated_at is observable at millisecond resolution
    const patched = await app.inject({ method: 'PATCH', url: `/tasks/${task.id}`, headers: alice.auth, payload: { done: true, description: 'Two litres' } })
    t.equal(patched.statusCode, 200)
    const after = patched.json<Task>()
    t.match(after, { id: task.id, title: 'Buy milk', description: 'Two litres', done: true })
    t.equal(after.created_at, task.created_at, 'created_at does not change')
    t.not(after.updated_at, task.updated_at, 'updated_at changes on PATCH')
    t.ok(Date.parse(after.updated_at) > Date.parse(task.updated_at))

    const cleared = await app.inject({ method: 'PATCH', url: `/tasks/${task.id}`, headers: alice.auth, payload: { description: null, title: 'Buy oat milk' } })
    t.equal(cleared.statusCode, 200)
    t.match(cleared.json(), { title: 'Buy oat milk', description: null, done: true })

    const ignored = await app.inject({ method: 'PATCH', url: `/tasks/${task.id}`, headers: alice.auth, payload: { id: 999, user_id: bob.id, created_at: '2000-01-01T00:00:00.000Z' } })
    t.equal(ignored.statusCode, 200, 'unknown fields are ignored')
    t.match(ignored.json(), { id: task.id, created_at: task.created_at })

    const deleted = await app.inject({ method: 'DELETE', url: `/tasks/${task.id}`, headers: alice.auth })
    t.equal(deleted.statusCode, 204)
    t.equal(deleted.body, '')
    t.equal((await app.inject({ url: `/tasks/${task.id}`, headers: alice.auth })).statusCode, 404)
    t.equal((await app.inject({ method: 'DELETE', url: `/tasks/${task.id}`, headers: alice.auth })).statusCode, 404, 'deleting twice is a 404')
    t.equal((await app.inject({ method: 'PATCH', url: `/tasks/${task.id}`, headers: alice.auth, payload: { done: false } })).statusCode, 404)
  })

  t.test('validation', async (t) => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['missing title', { description: 'x' }, '/title'],
      ['empty title', { title: '' }, '/title'],
      ['title of 201 characters', { title: 'x'.repeat(201) }, '/title'],
      ['title not a string', { title: 5 }, '/title'],
      ['description of 10001 characters', { title: 'ok', description: 'd'.repeat(10001) }, '/description'],
      ['done as a string', { title: 'ok', done: 'yes' }, '/done'],
      ['done as "true"', { title: 'ok', done: 'true' }, '/done']
    ]
    for (const [name, payload, field] of cases) {
      const res = await create(alice.auth, payload)
      t.equal(res.statusCode, 422, name)
      t.match(res.headers['content-type'], /^application\/problem\+json/)
      t.ok(res.json<{ errors: Array<{ field: string }> }>().errors.some((e) => e.field === field), `${name}: error on ${field}`)
    }
    t.equal((await create(alice.auth, { title: 'x'.repeat(200), description: 'd'.repeat(10000) })).statusCode, 201, 'the upper bounds themselves are accepted')
    t.equal((await create(alice.auth, { title: 'x' })).statusCode, 201, 'a one-character title is accepted')

    const { id } = (await create(alice.auth, { title: 'valid' })).json<Task>()
    for (const [name, payload, field] of [
      ['empty title', { title: '' }, '/title'],
      ['long title', { title: 'x'.repeat(201) }, '/title'],
      ['long description', { description: 'd'.repeat(10001) }, '/description'],
      ['done as "yes"', { done: 'yes' }, '/done'],
      ['done as 1', { done: 1 }, '/done']
    ] as Array<[string, Record<string, unknown>, string]>) {
      const res = await app.inject({ method: 'PATCH', url: `/tasks/${id}`, headers: alice.auth, payload })
      t.equal(res.statusCode, 422, `PATCH ${name}`)
      t.ok(res.json<{ errors: Array<{ field: string }> }>().errors.some((e) => e.field === field), `PATCH ${name}: error on ${field}`)
    }
    t.match((await app.inject({ url: `/tasks/${id}`, headers: alice.auth })).json(), { title: 'valid', done: false }, 'a refused PATCH changes nothing')

    for (const bad of ['abc', '0', '-1', '1.5', '99999999999999999999']) {
      t.equal((await app.inject({ url: `/tasks/${bad}`, headers: alice.auth })).statusCode, 404, `GET /tasks/${bad}`)
      t.equal((await app.inject({ method: 'PATCH', url: `/tasks/${bad}`, headers: alice.auth, payload: { done: true } })).statusCode, 404, `PATCH /tasks/${bad}`)
      t.equal((await app.inject({ method: 'DELETE', url: `/tasks/${bad}`, headers: alice.auth })).statusCode, 404, `DELETE /tasks/${bad}`)
    }
  })

  t.test('owner isolation for every verb', async (t) => {
    const mine = (await create(alice.auth, { title: 'alice secret' })).json<Task>()
    const theirs = (await create(bob.auth, { title: 'bob secret' })).json<Task>()

    const get = await app.inject({ url: `/tasks/${mine.id}`, headers: bob.auth })
    t.equal(get.statusCode, 404)
    t.equal(get.json<{ detail: string }>().detail, 'Task not found', 'the same answer as for a missing task')
    t.notMatch(get.body, /alice secret/)

    const patch = await app.inject({ method: 'PATCH', url: `/tasks/${mine.id}`, headers: bob.auth, payload: { title: 'pwned', done: true } })
    t.equal(patch.statusCode, 404)
    const del = await app.inject({ method: 'DELETE', url: `/tasks/${mine.id}`, headers: bob.auth })
    t.equal(del.statusCode, 404)
    t.same((await app.inject({ url: `/tasks/${mine.id}`, headers: alice.auth })).json(), mine, 'untouched by the other user')

    const list = async (auth: Record<string, string>) => {
      const items: Task[] = []
      let cursor: string | null = null
      do {
        const query: Record<string, string> = cursor === null ? { limit: '100' } : { limit: '100', cursor }
        const res = await app.inject({ url: '/tasks', query, headers: auth })
        t.equal(res.statusCode, 200)
        const page: TaskPage = res.json<TaskPage>()
        items.push(...page.items)
        cursor = page.next_cursor
      } while (cursor !== null)
      return items
    }
    const aliceList = await list(alice.auth)
    const bobList = await list(bob.auth)
    t.ok(aliceList.some((x) => x.id === mine.id))
    t.notOk(aliceList.some((x) => x.id === theirs.id), 'alice does not see bob’s task')
    t.same(bobList.map((x) => x.id), [theirs.id], 'bob sees only his own task')

    t.equal((await app.inject({ url: `/tasks/${theirs.id}`, headers: alice.auth })).statusCode, 404)
    t.equal((await app.inject({ method: 'DELETE', url: `/tasks/${theirs.id}`, headers: bob.auth })).statusCode, 204)
  })

  t.test('without a token', async (t) => {
    for (const [method, url] of [['GET', '/tasks'], ['POST', '/tasks'], ['GET', '/tasks/1'], ['PATCH', '/tasks/1'], ['DELETE', '/tasks/1']] as const) {
      const res = await app.inject({ method, url, ...(method === 'POST' || method === 'PATCH' ? { payload: { title: 'x' } } : {}) })
      t.equal(res.statusCode, 401, `${method} ${url}`)
      t.equal(res.headers['www-authenticate'], 'Bearer')
    }
  })
})

t.test('pagination over more than two pages with inserts between pages', async (t) => {
  const app = await build(t)
  const carol = await signUp(app)
  const dave = await signUp(app)
  const add = async (title: string, auth = carol.auth) => {
    const res = await app.inject({ method: 'POST', url: '/tasks', headers: auth, payload: { title } })
    t.equal(res.statusCode, 201)
    return res.json<Task>().id
  }
  const expected: number[] = []
  for (let i = 0; i < 7; i++) {
    expected.push(await add(`task ${i}`))
    await add(`dave ${i}`, dave.auth) // interleaved ids of another owner must not show up or leave gaps
  }

  const seen: number[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const query: Record<string, string> = cursor === null ? { limit: '3' } : { limit: '3', cursor }
    const res = await app.inject({ url: '/tasks', query, headers: carol.auth })
    t.equal(res.statusCode, 200)
    const page: TaskPage = res.json<TaskPage>()
    t.ok(page.items.length <= 3)
    seen.push(...page.items.map((x) => x.id))
    cursor = page.next_cursor
    pages += 1
    if (pages === 1) expected.push(await add('inserted after page 1'))
    if (pages === 2) expected.push(await add('inserted after page 2'))
    t.ok(pages < 20, 'pagination terminates')
  } while (cursor !== null && pages < 20)

  t.ok(pages > 2, `more than two pages (${pages})`)
  t.same(seen, expected, 'every task exactly once, in id order, including those inserted while paging')
  t.equal(new Set(seen).size, seen.length, 'no duplicates')

  const def = (await app.inject({ url: '/tasks', headers: carol.auth })).json<TaskPage>()
  t.equal(def.items.length, 9, 'default limit (20) returns all 9 on one page')
  t.equal(def.next_cursor, null, 'next_cursor is null on the last page')

  const exact = (await app.inject({ url: '/tasks?limit=9', headers: carol.auth })).json<TaskPage>()
  t.equal(exact.items.length, 9)
  t.equal(exact.next_cursor, null, 'a page that ends exactly at the last item has no next cursor')

  const empty = await signUp(app)
  t.same((await app.inject({ url: '/tasks', headers: empty.auth })).json(), { items: [], next_cursor: null })

  for (const limit of ['0', '101', 'abc', '-1', '2.5']) {
    const res = await app.inject({ url: `/tasks?limit=${limit}`, headers: carol.auth })
    t.equal(res.statusCode, 422, `limit=${limit}`)
    t.equal(res.json<{ errors: Array<{ field: string }> }>().errors[0].field, '/limit')
  }
  t.equal((await app.inject({ url: '/tasks?limit=1', headers: carol.auth })).statusCode, 200)
  t.equal((await app.inject({ url: '/tasks?limit=100', headers: carol.auth })).statusCode, 200)

  const first = (await app.inject({ url: '/tasks?limit=2', headers: carol.auth })).json<TaskPage>()
  const valid = first.next_cursor!
  for (const cursor of ['garbage', '!!!', valid + 'x', Buffer.from('id:abc').toString('base64url'), Buffer.from('id:-5').toString('base64url'), 'x'.repeat(65)]) {
    const res = await app.inject({ url: '/tasks', query: { cursor }, headers: carol.auth })
    t.equal(res.statusCode, 422, `cursor ${cursor}`)
    t.equal(res.json<{ errors: Array<{ field: string }> }>().errors[0].field, '/cursor')
  }
})
