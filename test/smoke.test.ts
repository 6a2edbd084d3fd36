import t from 'tap'
import { build, signUp } from './helper.js'

t.test('smoke', async (t) => {
  const app = await build(t)
  const u = await signUp(app)
  const res = await app.inject({ url: '/users/me', headers: u.auth })
  t.equal(res.statusCode, 200)
})
