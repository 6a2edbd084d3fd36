// End to end: the built CLI on a real port, driven by the README's curl flow (examples/curl-flow.sh).
import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { packageRoot } from '../../src/paths.js'
import { serve } from './server-process.js'

t.test('npm start serves; the README curl flow works verbatim', async (t) => {
  const { base, dir, output: log, child, exited } = await serve(t)
  const output = log()
  t.match(output, `Latchkey is serving on ${base}`)
  t.match(output, `${base}/docs`)
  t.match(output, `Data directory: ${dir}`)
  t.match(output, 'latchkey user create --username admin --email admin@example.com --role admin')

  const { stdout } = await promisify(execFile)('sh', [join(packageRoot, 'examples', 'curl-flow.sh'), base], { env: { ...process.env, LATCHKEY_DEMO_USER: 'readme_user' } })
  const lines = stdout.trim().split('\n')
  t.equal(lines.length, 3)
  t.match(JSON.parse(lines[0]), { username: 'readme_user', email: 'readme_user@example.com', role: 'user' })
  t.same(JSON.parse(lines[1]), JSON.parse(lines[0]), '/users/me returns the registered user')
  t.equal(lines[2], 'after logout: 401')

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'graceful shutdown on SIGTERM')
})
