// Signing keys on disk: Ed25519 PEM files under <data directory>/keys, newest signs, all verify by kid.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface SigningKey {
  kid: string
  createdAt: Date
  privatePem: string
  publicPem: string
  publicJwk: { kty: 'OKP', crv: 'Ed25519', x: string, kid: string, alg: 'EdDSA', use: 'sig' }
  file: string
}

export const keysDirectory = (dataDir: string): string => join(dataDir, 'keys')

/** RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order. */
export function ed25519Thumbprint (x: string): string {
  return createHash('sha256').update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x })).digest('base64url')
}

function readKey (file: string): SigningKey {
  const privatePem = readFileSync(file, 'utf8')
  const privateKey = createPrivateKey(privatePem)
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${file} is not an Ed25519 private key`)
  const publicKey = createPublicKey(privateKey)
  const { x } = publicKey.export({ format: 'jwk' }) as { x: string }
  const kid = ed25519Thumbprint(x)
  // File names start with the creation time, so sorting them sorts keys by age.
  const stamp = /(\d{8}T\d{9}Z)/.exec(file)?.[1]
  const createdAt = stamp
    ? new Date(`${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}.${stamp.slice(15, 18)}Z`)
    : new Date(0)
  return {
    kid,
    createdAt,
    privatePem,
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' },
    file
  }
}

/** All active keys, oldest first. */
export function listKeys (dataDir: string): SigningKey[] {
  const dir = keysDirectory(dataDir)
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((name) => name.endsWith('.pem'))
    .sort()
    .map((name) => readKey(join(dir, name)))
}

/** Generate a new Ed25519 key, written with mode 0600; it signs from the next start. */
export function addKey (dataDir: string, now = new Date()): SigningKey {
  const dir = keysDirectory(dataDir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const { privateKey } = generateKeyPairSync('ed25519')
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const stamp = now.toISOString().replace(/[-:.]/g, '')
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' }) as { x: string }
  const file = join(dir, `${stamp}-${ed25519Thumbprint(x).slice(0, 16)}.pem`)
  // flag 'wx': never overwrite an existing key.
  writeFileSync(file, pem, { mode: 0o600, flag: 'wx' })
  chmodSync(file, 0o600)
  return readKey(file)
}

/** The keys to serve with, creating the first one when there is none. */
export function loadOrCreateKeys (dataDir: string): SigningKey[] {
  const keys = listKeys(dataDir)
  return keys.length > 0 ? keys : [addKey(dataDir)]
}

/** Move a key out of use: tokens it signed stop verifying. The file is kept under keys/retired. */
export function retireKey (dataDir: string, kid: string): SigningKey {
  const keys = listKeys(dataDir)
  const key = keys.find((k) => k.kid === kid)
  if (key === undefined) throw new Error(`no active key has kid ${kid}`)
  if (keys.length === 1) throw new Error('cannot retire the only signing key: run `latchkey keys rotate` first')
  const retired = join(keysDirectory(dataDir), 'retired')
  mkdirSync(retired, { recursive: true, mode: 0o700 })
  renameSync(key.file, join(retired, key.file.slice(key.file.lastIndexOf('/') + 1)))
  return key
}
