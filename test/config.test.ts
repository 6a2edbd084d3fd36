import t from 'tap'
import { ConfigError, parseConfig } from '../src/config.js'

t.test('defaults need no configuration', async (t) => {
  const config = parseConfig({})
  t.equal(config.HOST, '127.0.0.1')
  t.equal(config.PORT, 8000)
  t.equal(config.DATABASE_PATH, './data/latchkey.db')
  t.equal(config.ACCESS_TOKEN_TTL, 1800)
  t.equal(config.REFRESH_TOKEN_TTL, 604800)
  t.equal(config.REFRESH_REUSE_GRACE, 10)
  t.equal(config.JWT_ISSUER, 'http://127.0.0.1:8000')
  t.equal(config.JWT_AUDIENCE, 'latchkey')
  t.equal(config.JWT_SECRET, undefined)
  t.equal(config.ARGON2_MEMORY_COST, 19456)
  t.equal(config.ARGON2_TIME_COST, 2)
  t.equal(config.ARGON2_PARALLELISM, 1)
  t.equal(config.RATE_LIMIT_PER_MINUTE, 60)
  t.equal(config.LOGIN_THROTTLE_AFTER, 5)
  t.equal(config.TRUST_PROXY, false)
  t.equal(config.LOG_LEVEL, 'info')
})

t.test('values are read from strings, as the environment gives them', async (t) => {
  const config = parseConfig({ PORT: '9001', HOST: '0.0.0.0', ACCESS_TOKEN_TTL: '60', TRUST_PROXY: 'true', JWT_ISSUER: 'https://auth.example.com/', UNRELATED: 'x' })
  t.equal(config.PORT, 9001)
  t.equal(config.ACCESS_TOKEN_TTL, 60)
  t.equal(config.TRUST_PROXY, true)
  t.equal(config.JWT_ISSUER, 'https://auth.example.com', 'trailing slash dropped')
  t.equal(parseConfig({ TRUST_PROXY: '0' }).TRUST_PROXY, false)
  t.equal(parseConfig({ PORT: '' }).PORT, 8000, 'an empty variable counts as unset')
  t.equal(parseConfig({ HOST: '::1', PORT: '8001' }).JWT_ISSUER, 'http://[::1]:8001')
})

t.test('every bad variable is reported, one line each, naming what is allowed', async (t) => {
  const err = t.throws(() => parseConfig({ PORT: 'abc', ACCESS_TOKEN_TTL: '-5', LOG_LEVEL: 'loud', TRUST_PROXY: 'maybe', JWT_SECRET: 'short' })) as ConfigError
  t.ok(err instanceof ConfigError)
  t.equal(err.problems.length, 5)
  t.match(err.problems.join('\n'), /PORT="abc" is not valid: expected a whole number/)
  t.match(err.problems.join('\n'), /ACCESS_TOKEN_TTL="-5" is not valid: expected a whole number, >= 1/)
  t.match(err.problems.join('\n'), /LOG_LEVEL="loud" is not valid: expected one of fatal, error/)
  t.match(err.problems.join('\n'), /TRUST_PROXY="maybe" is not valid: expected true or false/)
  t.match(err.problems.join('\n'), /JWT_SECRET=\(hidden\) is not valid: expected a string, at least 32 characters/)
  t.notMatch(err.message, /short/, 'the secret is never echoed')
})

t.test('a secret of 32 characters but fewer bytes is impossible; 32 ASCII bytes are accepted', async (t) => {
  t.equal(parseConfig({ JWT_SECRET: 'x'.repeat(32) }).JWT_SECRET, 'x'.repeat(32))
  t.throws(() => parseConfig({ JWT_SECRET: 'x'.repeat(31) }), ConfigError)
})

t.test('TUTORIAL_ROUTES: on by default; the boolean words of every boolean variable', async (t) => {
  t.equal(parseConfig({}).TUTORIAL_ROUTES, true)
  for (const word of ['off', 'OFF', 'false', '0', 'no']) t.equal(parseConfig({ TUTORIAL_ROUTES: word }).TUTORIAL_ROUTES, false, word)
  for (const word of ['on', 'true', '1', 'yes']) t.equal(parseConfig({ TUTORIAL_ROUTES: word }).TUTORIAL_ROUTES, true, word)
  const err = t.throws(() => parseConfig({ TUTORIAL_ROUTES: 'maybe' })) as ConfigError
  t.same(err.problems, ['TUTORIAL_ROUTES="maybe" is not valid: expected true or false'])
})
