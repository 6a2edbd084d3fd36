// `latchkey keys rotate` records keys.rotated; `latchkey user …` records with no actor; `latchkey audit` shows them.
import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { packageRoot } from '../../src/paths.js'
import type { AuditEventView } from '../../src/services/audit.js'
import { tempDir, testEnv } from '../helper.js'

const cli = join(packageRoot, 'dist', 'src', 'cli.js')

async function run (env: Record<string, string>, args: string[], input?: string) {
  const child = promisify(execFile)(process.execPath, [cli, ...args], { env: { ...process.env, ...env } })
  if (input !== undefined) child.child.stdin!.end(input)
  try {
    const { stdout, stderr } = await child
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

t.test('CLI events and `latchkey audit`', async (t) => {
  const env = { ...Object.fromEntries(Object.entries(testEnv).map(([k, v]) => [k, String(v)])), DATABASE_PATH: join(tempDir(t), 'latchkey.db') }
  const rotate = await run(env, ['keys', 'rotate'])
  t.equal(rotate.code, 0, rotate.stderr)
  const kid = /Added key (\S+)\./.exec(rotate.stdout)![1]
  const created = await run(env, ['user', 'create', '--username', 'root', '--email', 'root@example.com', '--role', 'admin', '--password-stdin'], 'a long enough passphrase\n')
  t.equal(created.code, 0, created.stderr)
  t.equal((await run(env, ['user', 'create', '--username', 'bob', '--email', 'bob@example.com', '--password-stdin'], 'another long passphrase\n')).code, 0)
  const disabled = await run(env, ['user', 'disable', 'bob'])
  t.equal(disabled.code, 0, disabled.stderr)

  const json = await run(env, ['audit', '--json'])
  t.equal(json.code, 0, json.stderr)
  const events = JSON.parse(json.stdout) as AuditEventView[]
  t.same(events.map((e) => e.type), ['user.updated', 'user.registered', 'user.registered', 'keys.rotated'], 'newest first')
  t.match(events[3], { user_id: null, actor_id: null, ip: null, detail: { kid } })
  t.match(events[2], { user_id: 1, actor_id: null, detail: { role: 'admin' } })
  t.match(events[0], { user_id: 2, actor_id: null, detail: { disabled: { from: false, to: true }, target_was_admin: false } })

  const table = await run(env, ['audit', '--user', 'root', '--limit', '1'])
  t.equal(table.code, 0)
  t.match(table.stdout, /^id\s+at\s+type/)
  t.match(table.stdout, /user\.registered\s+1\s+-/)
  t.notMatch(table.stdout, /user\.updated/)
  const bad = await run(env, ['audit', '--type', 'nope'])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /^latchkey: --type must be one of user\.registered/)
  t.notMatch(bad.stderr, /\n\s+at /, 'no stack trace')
})
