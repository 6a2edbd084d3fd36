// `latchkey keys rotate|list|retire` and `latchkey migrate` as a user runs them.
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { packageRoot } from '../../src/paths.js'
import { tempDir } from '../helper.js'

const cli = join(packageRoot, 'dist', 'src', 'cli.js')

async function run (env: Record<string, string>, ...args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, ...args], { env: { ...process.env, ...env } })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

t.test('migrate, then keys rotate / list / retire', async (t) => {
  t.ok(existsSync(cli), 'dist/src/cli.js exists (run `npm run build` first)')
  const dir = tempDir(t)
  const env = { DATABASE_PATH: join(dir, 'latchkey.db') }

  const migrate = await run(env, 'migrate')
  t.equal(migrate.code, 0)
  t.match(migrate.stdout, 'Migrations applied')
  t.equal((await run(env, 'migrate')).code, 0, 'idempotent')

  t.match((await run(env, 'keys', 'list')).stdout, 'No keys yet')
  const first = await run(env, 'keys', 'rotate')
  t.equal(first.code, 0)
  const firstKid = /Added key (\S+)\./.exec(first.stdout)?.[1]
  t.ok(firstKid)
  await new Promise((resolve) => setTimeout(resolve, 5))
  const second = await run(env, 'keys', 'rotate')
  const secondKid = /Added key (\S+)\./.exec(second.stdout)?.[1]
  const list = (await run(env, 'keys', 'list')).stdout.trim().split('\n')
  t.equal(list.length, 2)
  t.match(list[0], `${firstKid}\t`)
  t.match(list[0], /verify-only$/)
  t.match(list[1], `${secondKid}\t`)
  t.match(list[1], /signing$/)
  t.equal(readdirSync(join(dir, 'keys')).filter((f) => f.endsWith('.pem')).length, 2)

  const retire = await run(env, 'keys', 'retire', firstKid!)
  t.equal(retire.code, 0)
  t.equal((await run(env, 'keys', 'list')).stdout.trim().split('\n').length, 1)
  const again = await run(env, 'keys', 'retire', secondKid!)
  t.equal(again.code, 1)
  t.match(again.stderr, /^latchkey: cannot retire the only signing key/)
  t.notMatch(again.stderr, /\n\s+at /, 'no stack trace')
  const usage = await run(env, 'keys', 'retire')
  t.equal(usage.code, 1)
  t.match(usage.stderr, 'usage: latchkey keys retire KID')
  const unknown = await run(env, 'frobnicate')
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, 'unknown command "frobnicate"')
})
