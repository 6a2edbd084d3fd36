// Signing keys on disk: Ed25519 PEM files under <data directory>/keys, newest signs, all verify by kid.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { withStartupLock } from '../db/startup-lock.js'

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

/** A key file that cannot be used as it is; the message is one sentence naming the file and what to do. */
export class KeyFileError extends Error {
  constructor (readonly file: string, message: string) {
    super(message)
    this.name = 'KeyFileError'
  }
}

const PEM_BEGIN = '-----BEGIN PRIVATE KEY-----'
const PEM_END = '-----END PRIVATE KEY-----'

function unusable (file: string, what: string): KeyFileError {
  return new KeyFileError(file, `signing key ${file} ${what}: restore it from a backup, or move it out of the keys folder ` +
    '(tokens it signed will then be refused; a new key is created if none is left)')
}

/**
 * The file's mode as `0644` when group or others may read it, else undefined. Such a key is refused
 * rather than silently chmod-ed, as ssh refuses an unprotected private key: whoever could read it may
 * already have a copy, and only the operator can decide what to do about that.
 */
export function exposedMode (file: string): string | undefined {
  const mode = statSync(file).mode & 0o777
  return process.platform !== 'win32' && (mode & 0o077) !== 0 ? mode.toString(8).padStart(4, '0') : undefined
}

/**
 * Create `file` (0600) holding `content`: written whole under a temporary name in `dir`, synced, then
 * linked into place, so a reader never sees half a file, and link() never overwrites an existing one
 * (it throws EEXIST).
 */
export function writeNewSecretFile (dir: string, file: string, content: string): void {
  const partial = join(dir, `.${randomBytes(6).toString('hex')}.partial`)
  const fd = openSync(partial, 'wx', 0o600)
  try {
    writeSync(fd, content)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  try {
    chmodSync(partial, 0o600)
    linkSync(partial, file)
  } finally {
    unlinkSync(partial)
  }
}

function readKey (file: string): SigningKey {
  const mode = exposedMode(file)
  if (mode !== undefined) {
    throw new KeyFileError(file, `signing key ${file} is readable by group or others (mode ${mode}): ` +
      `run \`chmod 600 ${file}\`, and if someone else may have read it, \`latchkey keys rotate\` then retire this key`)
  }
  const privatePem = readFileSync(file, 'utf8')
  if (privatePem.trim() === '') throw unusable(file, 'is empty')
  if (!privatePem.trimStart().startsWith(PEM_BEGIN)) throw unusable(file, 'is not a PEM private key')
  if (!privatePem.includes(PEM_END)) throw unusable(file, 'is truncated')
  let privateKey
  try {
    privateKey = createPrivateKey(privatePem)
  } catch {
    throw unusable(file, 'is corrupted (not a readable PKCS#8 key)')
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw unusable(file, `is a ${privateKey.asymmetricKeyType ?? 'unknown'} key, not Ed25519`)
  // File names start with the creation time, so sorting them sorts keys by age.
  const stamp = /(\d{8}T\d{9}Z)/.exec(file)?.[1]
  const createdAt = stamp
    ? new Date(`${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}.${stamp.slice(15, 18)}Z`)
    : new Date(0)
  return fromPrivateKey(privateKey, privatePem, createdAt, file)
}

function fromPrivateKey (privateKey: KeyObject, privatePem: string, createdAt: Date, file: string): SigningKey {
  const publicKey = createPublicKey(privateKey)
  const { x } = publicKey.export({ format: 'jwk' }) as { x: string }
  const kid = ed25519Thumbprint(x)
  return {
    kid,
    createdAt,
    privatePem,
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' },
    file
  }
}

/**
 * A signing key from its PKCS#8 PEM, kid computed as for key files (RFC 7638 thumbprint); for keys that are
 * not files (PostgreSQL's signing_keys), `file` is empty. Throws when the PEM is not an Ed25519 private key.
 */
export function keyFromPem (privatePem: string, createdAt: Date, file = ''): SigningKey {
  const privateKey = createPrivateKey(privatePem)
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`a ${privateKey.asymmetricKeyType ?? 'unknown'} key, not Ed25519`)
  return fromPrivateKey(privateKey, privatePem, createdAt, file)
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
  // A server listing the folder meanwhile never reads half a key.
  writeNewSecretFile(dir, file, pem)
  return readKey(file)
}

/**
 * The keys to serve with, creating the first one when there is none. Under the start-up lock, so
 * processes starting together agree on one key. `onCreate` runs when a first key had to be made.
 */
export function loadOrCreateKeys (dataDir: string, onCreate?: (key: SigningKey) => void): SigningKey[] {
  return withStartupLock(dataDir, () => {
    const keys = listKeys(dataDir)
    if (keys.length > 0) return keys
    const key = addKey(dataDir)
    onCreate?.(key)
    return [key]
  })
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
