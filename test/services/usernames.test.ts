import t from 'tap'
import { deriveUsername, usernameBase } from '../../src/services/usernames.js'

t.test('the base is the cleaned, lower-cased local part, 3–32 characters', async (t) => {
  t.equal(usernameBase('Alice.Smith@Example.com'), 'alice.smith')
  t.equal(usernameBase('a+b@example.com'), 'a_b')
  t.equal(usernameBase('jo@example.com'), 'jo_')
  t.equal(usernameBase('x@example.com'), 'x__')
  t.equal(usernameBase('émile😀@example.com'), '_mile_')
  t.equal(usernameBase(`${'a'.repeat(40)}@example.com`), 'a'.repeat(32))
})

t.test('taken names get -2, -3, … and the whole stays within 32', async (t) => {
  const taken = new Set(['alice', 'alice-2'])
  t.equal(deriveUsername('alice@example.com', (n) => taken.has(n.toLowerCase())), 'alice-3')
  t.equal(deriveUsername('bob@example.com', () => false), 'bob')
  const long = 'b'.repeat(32)
  const takenLong = new Set([long])
  const derived = deriveUsername(`${long}@example.com`, (n) => takenLong.has(n))
  t.equal(derived, `${'b'.repeat(30)}-2`)
  t.equal(derived.length, 32)
})
