import t from 'tap'
import { statSync } from 'node:fs'
import { createPublicKey } from 'node:crypto'
import { addKey, ed25519Thumbprint, keysDirectory, listKeys, loadOrCreateKeys, retireKey } from '../../src/services/keys.js'
import { tempDir } from '../helper.js'

t.test('the first key is generated on demand, mode 0600, kid = RFC 7638 thumbprint', async (t) => {
  const dir = tempDir(t)
  t.same(listKeys(dir), [])
  const [key] = loadOrCreateKeys(dir)
  t.equal(statSync(key.file).mode & 0o777, 0o600)
  t.equal(statSync(keysDirectory(dir)).mode & 0o777, 0o700)
  const jwk = createPublicKey(key.privatePem).export({ format: 'jwk' }) as { x: string }
  t.equal(key.kid, ed25519Thumbprint(jwk.x))
  t.match(key.publicJwk, { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: key.kid })
  t.notOk('d' in key.publicJwk, 'no private part')
  t.equal(loadOrCreateKeys(dir)[0].kid, key.kid, 'reused on the next start')
})

t.test('RFC 7638 §3.1 example shape: thumbprint is base64url SHA-256, 43 characters', async (t) => {
  t.match(ed25519Thumbprint('11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo'), /^[A-Za-z0-9_-]{43}$/)
  // RFC 8037 appendix A.3 gives this thumbprint for its example Ed25519 key.
  t.equal(ed25519Thumbprint('11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo'), 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k')
})

t.test('rotate adds a newer key; keys list oldest first; retire moves one out', async (t) => {
  const dir = tempDir(t)
  const first = addKey(dir, new Date('2026-01-01T00:00:00Z'))
  const second = addKey(dir, new Date('2026-06-01T00:00:00Z'))
  t.same(listKeys(dir).map((k) => k.kid), [first.kid, second.kid])
  t.equal(listKeys(dir)[1].createdAt.toISOString(), '2026-06-01T00:00:00.000Z')
  t.throws(() => retireKey(dir, 'no-such-kid'), /no active key/)
  retireKey(dir, first.kid)
  t.same(listKeys(dir).map((k) => k.kid), [second.kid])
  t.throws(() => retireKey(dir, second.kid), /only signing key/)
})
