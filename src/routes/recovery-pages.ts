// The two pages the mail links open (/reset-password, /verify-email) and their script and stylesheet.
// Opening a page changes nothing: only its button calls the API (mail scanners prefetch links).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { packageRoot } from '../paths.js'

// Same-origin script and style only, no inline anything; the token in the address never leaves as a Referer.
export const PAGE_CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

const assetsFolder = join(packageRoot, 'assets')

function page (kind: 'reset' | 'verify', title: string, intro: string, fields: string, button: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title} · Latchkey</title>
<link rel="stylesheet" href="/assets/recovery.css">
<script src="/assets/recovery.js" defer></script>
</head>
<body data-page="${kind}">
<main>
<h1>${title}</h1>
<p>${intro}</p>
<form method="post">
${fields}<button type="submit">${button}</button>
</form>
<p id="status" role="status" aria-live="polite"></p>
</main>
</body>
</html>
`
}

const RESET_PAGE = page('reset', 'Choose a new password',
  'Enter a new password for your account (8 to 128 characters). Every device signed in to the account will be signed out.',
  '<label for="new-password">New password</label>\n' +
  '<input id="new-password" name="new_password" type="password" autocomplete="new-password" minlength="8" maxlength="128" required>\n' +
  '<label for="repeat-password">Repeat the new password</label>\n' +
  '<input id="repeat-password" type="password" autocomplete="new-password" minlength="8" maxlength="128" required>\n',
  'Set new password')

const VERIFY_PAGE = page('verify', 'Verify your email address',
  'Press the button to confirm that this email address is yours.', '', 'Verify my email address')

const Html = (description: string) => ({ description, content: { 'text/html': { schema: Type.String() } } })

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const script = readFileSync(join(assetsFolder, 'recovery.js'), 'utf8')
  const stylesheet = readFileSync(join(assetsFolder, 'recovery.css'), 'utf8')

  const sendPage = (html: string) => async (_request: unknown, reply: FastifyReply) =>
    reply.headers({ 'content-security-policy': PAGE_CSP, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' })
      .type('text/html; charset=utf-8').send(html)

  app.get('/reset-password', {
    schema: {
      tags: ['pages'],
      summary: 'The page a password reset mail links to',
      description: 'A form for the new password; its button reads `token` from the address and calls `POST /auth/password/reset`.',
      response: { 200: Html('The HTML page') }
    }
  }, sendPage(RESET_PAGE))

  app.get('/verify-email', {
    schema: {
      tags: ['pages'],
      summary: 'The page a verification mail links to',
      description: 'A button that reads `token` from the address and calls `POST /auth/email/verify`.',
      response: { 200: Html('The HTML page') }
    }
  }, sendPage(VERIFY_PAGE))

  app.get('/assets/recovery.js', {
    schema: {
      tags: ['pages'],
      summary: 'The script of the reset and verification pages',
      response: { 200: { description: 'JavaScript', content: { 'text/javascript': { schema: Type.String() } } } }
    }
  }, async (_request, reply) => reply.header('cache-control', 'no-cache').type('text/javascript; charset=utf-8').send(script))

  app.get('/assets/recovery.css', {
    schema: {
      tags: ['pages'],
      summary: 'The stylesheet of the reset and verification pages',
      response: { 200: { description: 'CSS', content: { 'text/css': { schema: Type.String() } } } }
    }
  }, async (_request, reply) => reply.header('cache-control', 'no-cache').type('text/css; charset=utf-8').send(stylesheet))
}

export default routes
