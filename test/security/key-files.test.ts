// Key-file problems: one sentence naming the file and what to do; group/other-readable keys refused; lost keys warned about.
import t from 'tap'
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { buildApp } from '../../src/app.js'
import { addKey, KeyFileError, keysDirectory, listKeys } from '../../src/services/keys.js'
import { totpKeyPath } from '../../src/services/totp-key.js'
import { form, newUser, PASSWORD, tempDir, testConfig } from '../helper.js'
import { runCli, serverEnv } from './server-process.js'

// Real processes on a machine that may be busy: well above tap's default 120 s per file.
t.setTimeout(600_000)

const NAME = '20260101T000000000Z-test.pem'

/** A data directory whose only key file holds `content` with `mode`. */
function dataDirWithKey (t: Parameters<typeof tempDir>[0], content: (validPem: string) => string, mode = 0o600) {
  const dir = tempDir(t)
  const valid = readFileSync(addKey(dir).file, 'utf8')
  rmSync(keysDirectory(dir), { recursive: true })
  mkdirSync(keysDirectory(dir), { mode: 0o700 })
  const file = join(keysDirectory(dir), NAME)
  writeFileSync(file, content(valid), { mode })
  chmodSync(file, mode)
  return { dir, file }
}

const cases: Array<{ name: string, content: (pem: string) => string, mode?: number, says: RegExp, serve?: boolean }> = [
  { name: 'empty', content: () => '', says: /is empty: restore it from a backup, or move it out of the keys folder/ },
  { name: 'garbage', content: () => 'not a key at all\n', says: /is not a PEM private key: restore it from a backup/ },
  { name: 'truncated', content: (pem) => pem.slice(0, 40), says: /is truncated: restore it from a backup/, serve: true },
  { name: 'corrupted body', content: (pem) => pem.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!'), says: /is corrupted \(not a readable PKCS#8 key\): restore/ },
  { name: 'readable by others (0644)', content: (pem) => pem, mode: 0o644, serve: true, says: /is readable by group or others \(mode 0644\): run `chmod 600 .*test\.pem`, and if someone else may have read it, `latchkey keys rotate` then retire this key/ },
  { name: 'readable by group (0640)', content: (pem) => pem, mode: 0o640, says: /mode 0640/ }
]

for (const c of cases) {
  t.test(`key file ${c.name}: ${c.serve === true ? 'serve and ' : ''}keys list exit 1 with one sentence naming the file`, async (t) => {
    const { dir, file } = dataDirWithKey(t, c.content, c.mode)
    t.throws(() => listKeys(dir), KeyFileError)
    t.throws(() => listKeys(dir), { file, message: c.says })
    const env = serverEnv(join(dir, 'latchkey.db'))
    // Each CLI start costs a second or more on a loaded machine: serve (the same code path) for two cases.
    for (const args of c.serve === true ? [[], ['keys', 'list']] : [['keys', 'list']]) {
      const res = await runCli(args, env, dir)
      t.equal(res.code, 1, `${args.join(' ') || 'serve'}: exit 1`)
      t.equal(res.stderr.split('\n').filter(Boolean).length, 1, 'one line, no stack trace')
      t.match(res.stderr, new RegExp(`^latchkey: signing key ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `), 'names the file')
      t.match(res.stderr, c.says, 'says what is wrong and what to do')
      t.notMatch(res.stderr, /PRIVATE KEY|MC4CAQ/, 'no key material')
    }
  })
}

t.test('a 0600 key is accepted; a partial write in progress (.partial) is ignored', async (t) => {
  const { dir } = dataDirWithKey(t, (pem) => pem)
  writeFileSync(join(keysDirectory(dir), '.abc.partial'), '-----BEGIN PRIV', { mode: 0o600 })
  t.equal(listKeys(dir).length, 1)
})

t.test('keys folder lost on a database with live sessions: a new key, a warning, old access tokens refused', async (t) => {
  const config = testConfig(t)
  let logs = ''
  const stream = new Writable({ write (chunk, _enc, done) { logs += String(chunk); done() } })
  const first = await buildApp(config, { logger: { level: 'warn', stream } })
  const user = newUser()
  t.equal((await first.inject({ method: 'POST', url: '/auth/register', payload: user })).statusCode, 201)
  const tokens = (await first.inject({ method: 'POST', url: '/auth/token', ...form({ username: user.username, password: PASSWORD }) })).json()
  await first.close()
  t.notMatch(logs, /signing key/, 'no warning on the first start (no sessions yet)')

  rmSync(keysDirectory(join(config.DATABASE_PATH, '..')), { recursive: true })
  const second = await buildApp(config, { logger: { level: 'warn', stream } })
  t.teardown(() => second.close())
  await second.ready()
  const warning = logs.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number, msg: string }).find((l) => /signing key/.test(l.msg))
  t.ok(warning, 'a warning is logged')
  t.equal(warning?.level, 40, 'at warn level')
  t.match(warning?.msg, /no signing key was found in .*keys, so a new one was created, but the database has 1 active session\(s\): every access token issued before now will be refused/)
  t.match(warning?.msg, /restore it from a backup/)
  t.notMatch(logs, new RegExp(tokens.access_token.slice(-20)), 'no token in the log')

  t.equal((await second.inject({ url: '/users/me', headers: { authorization: `Bearer ${tokens.access_token}` } })).statusCode, 401, 'the old access token is refused')
  const refreshed = await second.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: tokens.refresh_token } })
  t.equal(refreshed.statusCode, 200, 'the refresh token still works (it is not signed)')
  t.equal((await second.inject({ url: '/users/me', headers: { authorization: `Bearer ${refreshed.json().access_token}` } })).statusCode, 200)
})

t.test('the TOTP key file has the signing keys\' protections (review item 7)', async (t) => {
  const config = testConfig(t)
  const dir = join(config.DATABASE_PATH, '..')
  const file = totpKeyPath(dir)
  const first = await buildApp(config, { logger: false })
  await first.ready()
  await first.close()
  t.equal(statSync(file).mode & 0o777, 0o600, 'created 0600')
  t.equal(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64').length, 32, 'a whole key')
  t.same(readdirSync(keysDirectory(dir)).filter((n) => n.endsWith('.partial')), [], 'no temporary file left behind')
  const original = readFileSync(file)

  t.test('readable by others (0644): refused in one sentence, by the app and by `latchkey serve`', async (t) => {
    chmodSync(file, 0o644)
    t.teardown(() => chmodSync(file, 0o600))
    const says = new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is readable by group or others \\(mode 0644\\): run \`chmod 600 .*totp\\.key\`, and if someone else may have read it`)
    await t.rejects(buildApp(config, { logger: false }), { name: 'TotpKeyError', message: says })
    const res = await runCli([], serverEnv(config.DATABASE_PATH), dir)
    t.equal(res.code, 1)
    t.equal(res.stderr.split('\n').filter(Boolean).length, 1, 'one line, no stack trace')
    t.match(res.stderr, /^latchkey: .*totp\.key is readable by group or others \(mode 0644\)/)
    t.notOk(res.stderr.includes(original.toString('utf8').trim()), 'no key material')
  })

  t.test('empty or truncated: refused, never replaced', async (t) => {
    for (const [content, says] of [['', 'is empty'], [original.toString('utf8').slice(0, 20), 'is not a TOTP key']]) {
      writeFileSync(file, content, { mode: 0o600 })
      await t.rejects(buildApp(config, { logger: false }), { name: 'TotpKeyError', message: new RegExp(`totp\\.key ${says} \\(expected 32 random bytes, base64\\): restore the original file from a backup$`) })
      t.equal(readFileSync(file, 'utf8'), content, 'the file is left as it was')
    }
    writeFileSync(file, original)
    const app = await buildApp(config, { logger: false })
    await app.ready()
    await app.close()
    t.pass('the restored key is accepted')
  })
})
