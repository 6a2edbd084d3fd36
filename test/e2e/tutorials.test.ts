// End to end: each FastAPI tutorial's commands (examples/tutorials/*.sh) against the built server on a real port.
import t from 'tap'
import { execFile } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { packageRoot } from '../../src/paths.js'
import { createAdmin, serve } from './server-process.js'

const dir = join(packageRoot, 'examples', 'tutorials')
const QUERY = 'Send the credentials as form fields in the request body (application/x-www-form-urlencoded), not in the query string'

/** The script's output as { "step label": parsed JSON answer }, in order. */
async function run (script: string, env: NodeJS.ProcessEnv): Promise<Array<[string, Record<string, unknown>]>> {
  const { stdout } = await promisify(execFile)('sh', [join(dir, script)], { env, timeout: 120_000 })
  const steps: Array<[string, Record<string, unknown>]> = []
  for (const chunk of stdout.split(/^== /m).slice(1)) {
    const [label, ...rest] = chunk.split('\n')
    steps.push([label, JSON.parse(rest.join('\n').trim())])
  }
  return steps
}

const user = (username: string, email: string) => ({ username, email, role: 'user', disabled: false })
const token = { token_type: 'bearer', expires_in: 1800, access_token: String, refresh_token: String }
const problem = (status: number, detail: string) => ({ type: 'about:blank', status, detail })
const oauth = (error: string, description: string) => ({ error, error_description: description, detail: description })

t.test('every tutorial script runs green against the built server', async (t) => {
  const served = await serve(t)
  createAdmin(served, 'tutorial_admin', 'an admin passphrase')
  const env = { ...process.env, LATCHKEY_HOST: '127.0.0.1', LATCHKEY_PORT: String(served.port), LATCHKEY_ADMIN_USER: 'tutorial_admin', LATCHKEY_ADMIN_PASSWORD: 'an admin passphrase' }
  t.same(readdirSync(dir).filter((f) => f.endsWith('.sh')).sort(), [
    '000-register-auth-login.sh', '001-register-login-query.sh', '002-auth-token-secure-data.sh', '003-users-signup-token.sh', '004-token-admin-dashboard.sh'
  ], 'one script per tutorial')

  const expected: Record<string, Array<[string, unknown]>> = {
    '000-register-auth-login.sh': [
      ['1. Register', user('alderi', 'alderi@example.com')],
      ['2. Login', token],
      ['3. Access protected route (as written: 401)', problem(401, 'Could not validate credentials')],
      ['4. Test admin route (as written: 401)', problem(401, 'Could not validate credentials')],
      ['3. Access protected route (working)', user('alderi', 'alderi@example.com')],
      ['4. Test admin route (working: rejected with 403)', problem(403, 'Admin access required')]
    ],
    '001-register-login-query.sh': [
      ['register as the tutorial does (404: no such path)', problem(404, 'No route for POST /register')],
      ['login as the tutorial does, at the login alias (400: not in the query string)', oauth('invalid_request', QUERY)],
      ['register with password123 (422: too common)', { status: 422, errors: [{ field: '/password', message: /too common/ }] }],
      ['register (working)', user('rahul', 'rahul@example.com')],
      ['login (working: form fields)', token],
      ['profile (working: /users/me)', user('rahul', 'rahul@example.com')]
    ],
    '002-auth-token-secure-data.sh': [
      ["Let's create a user first", user('gzthss', 'gzthss@example.com')],
      ['the same user again (409)', problem(409, 'Username or email already registered')],
      ['log in as the tutorial does (400: not in the query string)', oauth('invalid_request', QUERY)],
      ['Use the user you just created to log in and get token (working: form fields)', token],
      ['Use the token to call the authorized API endpoint', { message: 'Hello gzthss, this is sensitive data!', status: 'Authorized' }]
    ],
    '003-users-signup-token.sh': [
      ['(L08) sign up alice', user('alice', 'alice@example.com')],
      ['Test the login', token],
      ['Without token - fails', problem(401, 'Not authenticated')],
      ['With token - succeeds (as written: 401, a placeholder token)', problem(401, 'Could not validate credentials')],
      ['With token - succeeds (working)', user('alice', 'alice@example.com')],
      ['Step 7: Create a user (from L08)', user('bob', 'bob@example.com')],
      ['Step 7: Login to get token', token],
      ['Step 7: Use token to access protected route (as written: 401, a placeholder token)', problem(401, 'Could not validate credentials')],
      ['Step 7: Use token to access protected route (working)', user('bob', 'bob@example.com')],
      ['POST /tasks', { title: 'Learn JWT', done: false }],
      ['GET /tasks', { items: [{ title: 'Learn JWT' }], next_cursor: null }],
      ['Mistake 1: Using JSON for /token (wrong: 415)', { error: 'invalid_request', error_description: /x-www-form-urlencoded/ }],
      ['Mistake 1: Correct - form data (no such user: 401)', oauth('invalid_grant', 'Incorrect username or password')]
    ],
    '004-token-admin-dashboard.sh': [
      ['register', user('carol', 'carol@example.com')],
      ['POST /token', token],
      ['wrong password', oauth('invalid_grant', 'Incorrect username or password')],
      ['GET /users/me', user('carol', 'carol@example.com')],
      ['GET /admin/dashboard as a user (403)', problem(403, 'Admin access required')],
      ['GET /admin/dashboard as an admin', { message: 'Welcome to the admin dashboard', users: 7, admins: 1, active_sessions: Number }]
    ]
  }
  for (const [script, steps] of Object.entries(expected)) {
    await t.test(script, async (t) => {
      const got = await run(script, env)
      t.same(got.map(([label]) => label), steps.map(([label]) => label), 'every step ran, in order')
      for (const [i, [label, answer]] of steps.entries()) t.match(got[i]?.[1], answer, label)
    })
  }
})
