// API.md: passwords are NFKC-normalised and their length (8–128) is counted in code points after that;
// the schema only stops absurd input early, so it must not refuse what the policy accepts.
import t from 'tap'
import { build, form, login, newUser, signUp } from '../helper.js'

t.test('the bounds apply to the normalised password', async (t) => {
  const app = await build(t)

  t.test('"ﬃﬃZ9" is 4 code points as typed, "ffiffiZ9" (8) after NFKC: accepted', async (t) => {
    t.equal([...'ﬃﬃZ9'].length, 4)
    t.equal('ﬃﬃZ9'.normalize('NFKC'), 'ffiffiZ9')
    const user = newUser({ password: 'ﬃﬃZ9' })
    const res = await app.inject({ method: 'POST', url: '/auth/register', payload: user })
    t.equal(res.statusCode, 201, res.body)
    t.equal((await login(app, user.username, 'ﬃﬃZ9')).token_type, 'bearer', 'logs in as typed')
    t.equal((await login(app, user.username, 'ffiffiZ9')).token_type, 'bearer', 'and as normalised')
    const signup = await app.inject({ method: 'POST', url: '/users/signup', payload: { email: 'ligature@example.com', password: 'ﬃﬃZ9' } })
    t.equal(signup.statusCode, 201, 'the same on /users/signup')
  })

  t.test('7 code points after NFKC is too short, however it was typed', async (t) => {
    for (const password of ['ﬃﬃZ', 'abcdefg', '']) {
      const res = await app.inject({ method: 'POST', url: '/auth/register', payload: newUser({ password }) })
      t.equal(res.statusCode, 422, JSON.stringify(password))
      t.same(res.json().errors, [{ field: '/password', message: 'must be at least 8 characters' }])
    }
  })

  t.test('128 code points after NFKC is the most; over the early cap of 512 the policy limit is stated', async (t) => {
    // 43 × "ﬃ" is 43 code points typed and 129 after NFKC.
    const expands = 'ﬃ'.repeat(43)
    const over = await app.inject({ method: 'POST', url: '/auth/register', payload: newUser({ password: expands }) })
    t.equal(over.statusCode, 422)
    t.same(over.json().errors, [{ field: '/password', message: 'must be at most 128 characters' }])
    // 128 typed code points that compose to 64 (e + combining acute → é): accepted.
    const composes = 'e\u0301'.repeat(64)
    t.equal([...composes.normalize('NFKC')].length, 64)
    t.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: newUser({ password: composes }) })).statusCode, 201, '128 typed, 64 after NFKC')
    const exact = 'p'.repeat(120) + 'ﬃﬃZ9'.normalize('NFKC')
    t.equal([...exact].length, 128)
    t.equal((await app.inject({ method: 'POST', url: '/auth/register', payload: newUser({ password: exact }) })).statusCode, 201, '128 is allowed')
    const huge = await app.inject({ method: 'POST', url: '/auth/register', payload: newUser({ password: 'x'.repeat(513) }) })
    t.same(huge.json().errors, [{ field: '/password', message: 'must be at most 128 characters' }])
  })

  t.test('a password change follows the same rule', async (t) => {
    const user = await signUp(app)
    const res = await app.inject({ method: 'POST', url: '/users/me/password', headers: user.auth, payload: { current_password: user.password, new_password: 'ﬃﬃZ9' } })
    t.equal(res.statusCode, 204)
    const relog = await app.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: 'ffiffiZ9' }) })
    t.equal(relog.statusCode, 200)
  })
})
