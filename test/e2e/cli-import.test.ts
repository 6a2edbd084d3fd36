// `latchkey import` as an operator runs it, against the built CLI and a real server over HTTP:
// the tutorials' databases (made by passlib and argon2-cffi), the report, dry runs and refusals.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { packageRoot } from '../../src/paths.js'
import { freePort, PASSWORD, tempDir } from '../helper.js'

const cli = join(packageRoot, 'dist', 'src', 'cli.js')
const fixtures = join(packageRoot, 'test', 'fixtures', 'import')
const passwords = JSON.parse(readFileSync(join(fixtures, 'passwords.json'), 'utf8')) as Record<string, string>
const cheap = { ARGON2_MEMORY_COST: '1024', ARGON2_TIME_COST: '1', ARGON2_PARALLELISM: '1', RATE_LIMIT_PER_MINUTE: '0', LOGIN_THROTTLE_AFTER: '0', LOG_LEVEL: 'warn' }

// About thirty process starts and a server: on the shared 2-core machine that has taken over five minutes.
t.setTimeout(600_000)

interface Run { code: number | null, stdout: string, stderr: string }

function start (cwd: string, env: Record<string, string>, args: string[]): ChildProcess & { out: Run } {
  const child = spawn(process.execPath, [cli, ...args], { cwd, env: { ...process.env, ...cheap, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const out: Run = { code: null, stdout: '', stderr: '' }
  child.stdout!.on('data', (d: Buffer) => { out.stdout += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { out.stderr += d.toString() })
  return Object.assign(child, { out })
}

async function run (cwd: string, env: Record<string, string>, args: string[]): Promise<Run> {
  const child = start(cwd, env, args)
  return await new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve({ ...child.out, code }))
  })
}

/** The users table of Latchkey's database, read as the test sees it (never through the server). */
function storedUsers (path: string): Array<{ username: string, email: string, password_hash: string, role: string, disabled: number, email_verified: number }> {
  const db = new Database(path, { readonly: true, fileMustExist: true })
  try {
    return db.prepare('SELECT username, email, password_hash, role, disabled, email_verified FROM users ORDER BY id').all() as never
  } finally {
    db.close()
  }
}

/** A private copy of a fixture, so that the test can show the source is left as it was. */
function copyFixture (t: Test, name: string): string {
  const to = join(tempDir(t), name)
  copyFileSync(join(fixtures, name), to)
  return to
}

t.before(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build" first`)
})

const BCRYPT_REPORT = [
  'Reading tutorial-bcrypt.db (SQLite, table "users"): 14 rows; columns username=username, email=email, password_hash=hashed_password, role=role, is_active=is_active',
  'row  1  imported  alice <alice@example.com>  user, bcrypt, unverified',
  'row  2  imported  bob <bob@example.com>  admin, bcrypt, unverified',
  'row  3  imported  carol <carol@example.com>  user, bcrypt, unverified',
  'row  4  imported  dan <dan@example.com>  user, bcrypt, unverified, disabled',
  'row  5  imported  dave.smith-2 <dave.smith@example.com>  user, bcrypt, unverified, username derived from the email',
  'row  6  imported  dave.smith-3 <dave.smith@example.org>  user, bcrypt, unverified, username derived from the email',
  'row  7  skipped   ALICE: username ALICE is already taken (ignoring case)',
  'row  8  skipped   alice_dup: email alice@example.com is already registered',
  'row  9  skipped   eve: invalid email "eve-at-example.com"',
  'row 10  skipped   frank: unknown password hash format ($1$)',
  'row 11  skipped   grace: missing email',
  'row 12  skipped   heidi: bcrypt cost 15 is over the cap of 14',
  'row 13  imported  ivan <ivan@example.com>  user, bcrypt, unverified',
  'row 14  imported  judy <judy@example.com>  user, bcrypt, unverified, role "moderator" imported as user'
]

t.test('import the tutorials\' databases while the server runs, then sign in with the old passwords', async (t) => {
  const dir = tempDir(t)
  const dbPath = join(dir, 'latchkey.db')
  const port = await freePort()
  const env = { DATABASE_PATH: dbPath, PORT: String(port), HOST: '127.0.0.1' }
  const server = start(dir, env, ['serve'])
  t.teardown(() => { if (server.exitCode === null) server.kill('SIGKILL') })
  const base = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    if (server.exitCode !== null || i > 600) throw new Error(`the server did not start: ${server.out.stderr}`)
    if (await fetch(`${base}/health`).then((r) => r.ok, () => false)) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const register = async (username: string, email: string) => {
    const res = await fetch(`${base}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, email, password: PASSWORD }) })
    t.equal(res.status, 201, `registered ${username}`)
  }
  const token = async (username: string, password: string) =>
    await fetch(`${base}/auth/token`, { method: 'POST', body: new URLSearchParams({ username, password }) })
  const me = async (username: string, password: string) => {
    const res = await token(username, password)
    t.equal(res.status, 200, `${username} signs in with the old password`)
    const { access_token: access } = await res.json() as { access_token: string }
    return await (await fetch(`${base}/users/me`, { headers: { authorization: `Bearer ${access}` } })).json() as Record<string, unknown>
  }
  const hashOf = (username: string) => storedUsers(dbPath).find((u) => u.username === username)!.password_hash
  // Names already in Latchkey: derived names step past them, taken ones are skipped, ignoring case.
  await register('Dave.Smith', 'dave@elsewhere.example')
  await register('VICTOR', 'victor@elsewhere.example')

  const source = copyFixture(t, 'tutorial-bcrypt.db')
  const before = readFileSync(source)

  t.test('tutorial-bcrypt.db: the report names every row', async (t) => {
    const r = await run(dir, env, ['import', source])
    t.equal(r.code, 0, r.stderr)
    t.equal(r.stderr, '')
    t.same(r.stdout.trimEnd().split('\n'), [
      ...BCRYPT_REPORT,
      'Imported 8 users, skipped 6. Each signs in with their old password; the first sign-in rehashes it as argon2id.'
    ])
    t.same(readFileSync(source), before, 'the source database is only read')
    const stored = storedUsers(dbPath)
    t.equal(stored.length, 10, 'two registered, eight imported')
    t.match(stored.find((u) => u.username === 'bob'), { email: 'bob@example.com', role: 'admin', disabled: 0, email_verified: 0 }, 'email lower-cased, role kept')
    t.match(stored.find((u) => u.username === 'dan'), { disabled: 1 }, 'is_active = 0 → disabled')
    t.match(hashOf('alice'), /^\$2b\$12\$/, 'the hash is imported as it was')
  })

  t.test('a bcrypt user signs in over HTTP; the stored hash becomes argon2id', async (t) => {
    const user = await me('alice', passwords.alice)
    t.match(user, { username: 'alice', email: 'alice@example.com', role: 'user', email_verified: false, disabled: false })
    t.match(hashOf('alice'), /^\$argon2id\$v=19\$/)
    t.equal((await token('alice@example.com', passwords.alice)).status, 200, 'and keeps signing in, by email too')
  })

  t.test('a wrong old password gets the ordinary 401, like an unknown user', async (t) => {
    const wrong = await token('bob', 'not-bobs-password')
    const unknown = await token('nobody-here', 'not-bobs-password')
    t.equal(wrong.status, 401)
    t.equal(unknown.status, 401)
    const body = await wrong.json() as Record<string, unknown>
    t.match(body, { error: 'invalid_grant', error_description: 'Incorrect username or password' })
    t.same(await unknown.json(), body, 'the same answer as for a name that does not exist')
    t.match(hashOf('bob'), /^\$2b\$04\$/, 'a failed sign-in leaves the imported hash')
    t.match(await me('bob', passwords.bob), { role: 'admin' })
  })

  t.test('$2y$, $2a$, a 72+ byte password and derived names sign in; a disabled import does not', async (t) => {
    await me('ivan', passwords.ivan)
    await me('judy', passwords.judy)
    await me('carol', passwords.carol)
    await me('dave.smith-2', passwords.dave)
    await me('dave.smith@example.org', passwords.dave2)
    t.equal((await token('dan', passwords.dan)).status, 401, 'is_active = 0 was imported as disabled')
    for (const name of ['ivan', 'judy', 'carol', 'dave.smith-2']) t.match(hashOf(name), /^\$argon2id\$/, `${name} rehashed`)
  })

  t.test('tutorial-pbkdf2.db (SQLModel\'s table "user"): pbkdf2-sha256 and argon2 users sign in', async (t) => {
    const pbkdf2 = copyFixture(t, 'tutorial-pbkdf2.db')
    const noTable = await run(dir, env, ['import', pbkdf2])
    t.equal(noTable.code, 1, 'the default table "users" is missing')
    t.equal(noTable.stderr, `latchkey: ${pbkdf2} has no table "users" (it has "user"; choose one with --table)\n`)
    const r = await run(dir, env, ['import', pbkdf2, '--table', 'user'])
    t.equal(r.code, 0, r.stderr)
    t.same(r.stdout.trimEnd().split('\n'), [
      'Reading tutorial-pbkdf2.db (SQLite, table "user"): 7 rows; columns email=email, password_hash=hashed_password, email_verified=is_verified',
      'row 1  imported  pat <pat@example.com>  user, pbkdf2-sha256, verified, username derived from the email',
      'row 2  imported  quinn <quinn@example.com>  user, pbkdf2-sha256, unverified, username derived from the email',
      'row 3  imported  rose <rose@example.com>  user, argon2id, verified, username derived from the email',
      'row 4  imported  sam <sam@example.com>  user, argon2i, unverified, username derived from the email',
      'row 5  skipped   tom@example.com: argon2id with memory 131072 KiB (cap 102400) is over the cap',
      'row 6  skipped   uma@example.com: pbkdf2-sha256 with 2000000 rounds is over the cap of 1000000',
      'row 7  skipped   alice@example.com: email alice@example.com is already registered',
      'Imported 4 users, skipped 3. Each signs in with their old password; the first sign-in rehashes it as argon2id.'
    ])
    t.match(await me('pat@example.com', passwords.pat), { username: 'pat', email_verified: true }, 'is_verified is kept')
    t.match(await me('quinn', passwords.quinn), { email_verified: false }, 'a non-ASCII pbkdf2 password')
    await me('rose', passwords.rose)
    await me('sam', passwords.sam)
    for (const name of ['pat', 'quinn', 'rose', 'sam']) t.match(hashOf(name), /^\$argon2id\$v=19\$m=1024,/, `${name} rehashed with the server's cost`)
  })

  t.test('JSON lines', async (t) => {
    const r = await run(dir, env, ['import', copyFixture(t, 'users.jsonl')])
    t.equal(r.code, 0, r.stderr)
    t.same(r.stdout.trimEnd().split('\n'), [
      'Reading users.jsonl (JSON lines): 3 rows; columns username=user_name, email=email, password_hash=password_hash, disabled=disabled, email_verified=email_verified',
      'row 1  skipped   victor: username victor is already taken (ignoring case)',
      'row 2  imported  wendy <wendy@example.com>  user, argon2id, unverified, username derived from the email',
      'row 3  skipped   x y: invalid username "x y" (3–32 characters of A-Z a-z 0-9 _ . -)',
      'Imported 1 user, skipped 2. Each signs in with their old password; the first sign-in rehashes it as argon2id.'
    ])
    await me('wendy', passwords.wendy)
  })

  t.test('importing the same file again skips every row', async (t) => {
    const r = await run(dir, env, ['import', source])
    t.equal(r.code, 0)
    t.match(r.stdout, 'Imported 0 users, skipped 14.')
    t.match(r.stdout, 'row  1  skipped   alice: email alice@example.com is already registered')
  })

  t.test('the server kept serving throughout', async (t) => {
    t.equal((await fetch(`${base}/ready`)).status, 200)
    t.equal(server.exitCode, null)
  })
})

t.test('--dry-run reports without writing', async (t) => {
  const dir = tempDir(t)
  const dbPath = join(dir, 'data', 'latchkey.db')
  const env = { DATABASE_PATH: dbPath }
  const source = copyFixture(t, 'tutorial-bcrypt.db')

  const first = await run(dir, env, ['import', source, '--dry-run'])
  t.equal(first.code, 0, first.stderr)
  t.same(first.stdout.trimEnd().split('\n').slice(1, 6), [
    'row  1  imported  alice <alice@example.com>  user, bcrypt, unverified',
    'row  2  imported  bob <bob@example.com>  admin, bcrypt, unverified',
    'row  3  imported  carol <carol@example.com>  user, bcrypt, unverified',
    'row  4  imported  dan <dan@example.com>  user, bcrypt, unverified, disabled',
    'row  5  imported  dave.smith <dave.smith@example.com>  user, bcrypt, unverified, username derived from the email'
  ])
  t.match(first.stdout, /\nDry run: 8 users would be imported, 6 skipped; nothing was written\.\n$/)
  t.notOk(existsSync(join(dir, 'data')), 'no database, not even its folder, was created')

  await run(dir, env, ['migrate'])
  const dry = await run(dir, env, ['import', source, '--dry-run'])
  t.equal(dry.code, 0, dry.stderr)
  t.match(dry.stdout, 'Dry run: 8 users would be imported')
  t.same(storedUsers(dbPath), [], 'nothing was written to an existing database')

  const real = await run(dir, env, ['import', source])
  t.match(real.stdout, 'Imported 8 users, skipped 6.')
  const after = storedUsers(dbPath)
  const again = await run(dir, env, ['import', source, '--dry-run'])
  t.match(again.stdout, 'Dry run: 0 users would be imported, 14 skipped; nothing was written.')
  t.same(storedUsers(dbPath), after)
})

t.test('unreadable input, a missing table or a bad --map: exit 1, one sentence, nothing written', async (t) => {
  const dir = tempDir(t)
  const dbPath = join(dir, 'latchkey.db')
  const env = { DATABASE_PATH: dbPath }
  const source = copyFixture(t, 'tutorial-bcrypt.db')
  const notJson = join(dir, 'notes.txt')
  writeFileSync(notJson, 'alice,alice@example.com\n')
  const notObject = join(dir, 'array.jsonl')
  writeFileSync(notObject, '{"email": "a@example.com", "password_hash": "x"}\n[1, 2]\n')
  const broken = join(dir, 'broken.db')
  writeFileSync(broken, Buffer.concat([Buffer.from('SQLite format 3\u0000'), Buffer.alloc(200, 7)]))
  const noHash = join(dir, 'nohash.jsonl')
  writeFileSync(noHash, '{"email": "a@example.com", "password": "plain"}\n')

  const cases: Array<[string[], string | RegExp]> = [
    [['import', join(dir, 'missing.db')], `latchkey: cannot read ${join(dir, 'missing.db')}: no such file\n`],
    [['import', dir], `latchkey: cannot read ${dir}: it is a directory\n`],
    [['import', notJson], `latchkey: ${notJson} is neither a SQLite database nor JSON lines: line 1 is not valid JSON\n`],
    [['import', notObject], `latchkey: ${notObject}: line 2 is not a JSON object\n`],
    [['import', broken], `latchkey: cannot read ${broken}: file is not a database\n`],
    [['import', source, '--table', 'accounts'], `latchkey: ${source} has no table "accounts" (it has "users"; choose one with --table)\n`],
    [['import', noHash], 'latchkey: no password hash column (looked for hashed_password, password_hash); name it with --map password_hash=COLUMN\n'],
    [['import', source, '--map', 'email=mail'], 'latchkey: --map email=mail: there is no column "mail" (columns: id, username, email, hashed_password, role, is_active)\n'],
    [['import', source, '--map', 'nickname=username'], 'latchkey: --map: unknown field "nickname" (fields: username, email, password_hash, role, is_active, disabled, email_verified)\n'],
    [['import', source, '--map', 'email'], 'latchkey: --map takes FIELD=COLUMN pairs separated by commas, not "email"\n'],
    [['import'], 'latchkey: usage: latchkey import FILE [--dry-run] [--table T] [--map username=COL,email=COL,password_hash=COL,…]\n'],
    [['import', source, '--bogus'], /^latchkey: Unknown option '--bogus'.*\nusage: latchkey import FILE /]
  ]
  // Independent refusals: run them side by side.
  const results = await Promise.all(cases.map(async ([args]) => await run(dir, env, args)))
  for (const [i, [args, stderr]] of cases.entries()) {
    const r = results[i]
    t.equal(r.code, 1, args.join(' '))
    if (typeof stderr === 'string') t.equal(r.stderr, stderr)
    else t.match(r.stderr, stderr)
    t.equal(r.stdout, '')
    t.notOk(existsSync(dbPath), 'Latchkey\'s database was not even created')
  }
})

t.test('--map names the columns of another shape', async (t) => {
  const dir = tempDir(t)
  const dbPath = join(dir, 'latchkey.db')
  const lines = join(dir, 'accounts.jsonl')
  const bob = JSON.parse(JSON.stringify(storedFixtureRow('bob'))) as { hashed_password: string }
  writeFileSync(lines, `${JSON.stringify({ login: 'Robert', mail: 'robert@example.com', pw: bob.hashed_password, active: 'no', kind: 'admin', verified: 'yes' })}\n\n`)
  const r = await run(dir, { DATABASE_PATH: dbPath }, ['import', lines, '--map', 'username=login,email=mail,password_hash=pw,is_active=active,role=kind,email_verified=verified'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, 'row 1  imported  Robert <robert@example.com>  admin, bcrypt, verified, disabled')
  t.match(storedUsers(dbPath), [{ username: 'Robert', role: 'admin', disabled: 1, email_verified: 1, password_hash: bob.hashed_password }])

  const odd = join(dir, 'odd.jsonl')
  writeFileSync(odd, `${JSON.stringify({ email: 'odd@example.com', password_hash: bob.hashed_password, is_active: 'maybe' })}\n`)
  const r2 = await run(dir, { DATABASE_PATH: dbPath }, ['import', odd])
  t.match(r2.stdout, 'row 1  skipped   odd@example.com: is_active is neither true nor false')
})

function storedFixtureRow (username: string): Record<string, unknown> {
  const db = new Database(join(fixtures, 'tutorial-bcrypt.db'), { readonly: true, fileMustExist: true })
  try {
    return db.prepare('SELECT * FROM users WHERE username = ?').get(username) as Record<string, unknown>
  } finally {
    db.close()
  }
}

t.test('a write that fails mid-import: exit 1, one line with the SQLite code, no row data, nothing imported (review item 6)', async (t) => {
  const dir = tempDir(t)
  const dbPath = join(dir, 'latchkey.db')
  const env = { DATABASE_PATH: dbPath }
  t.equal((await run(dir, env, ['migrate'])).code, 0)
  const db = new Database(dbPath)
  db.exec("CREATE TRIGGER refuse_import BEFORE INSERT ON users BEGIN SELECT RAISE(ABORT, 'import refused'); END")
  db.close()
  const r = await run(dir, env, ['import', copyFixture(t, 'tutorial-bcrypt.db')])
  t.equal(r.code, 1)
  t.equal(r.stderr, 'latchkey: database error (SQLITE_CONSTRAINT_TRIGGER): import refused\n')
  for (const value of ['alice', 'example.com', '$2b$', 'params']) t.notOk(r.stderr.includes(value), `no ${value} on stderr`)
  t.same(storedUsers(dbPath), [], 'the transaction rolled back')
})
