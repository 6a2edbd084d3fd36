// The TOTP encryption key: 32 random bytes in <data directory>/keys/totp.key (0600), and AES-256-GCM with it.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { withStartupLock } from '../db/startup-lock.js'
import { exposedMode, keysDirectory, writeNewSecretFile } from './keys.js'

// Not a .pem: the signing-key loader (listKeys) reads only *.pem files, so it never takes this for a key.
export const TOTP_KEY_FILE = 'totp.key'
export const TOTP_KEY_BYTES = 32
const IV_BYTES = 12 // 96 bits, the GCM nonce size NIST SP 800-38D recommends
const FORMAT = 'v1'

export const totpKeyPath = (dataDir: string): string => join(keysDirectory(dataDir), TOTP_KEY_FILE)

/** Start-up refusals about the key: one sentence that names the file. */
export class TotpKeyError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'TotpKeyError'
  }
}

export interface TotpCipher {
  encrypt (plain: string, context: string): string
  /** Throws when the key or the context is not the one the value was encrypted with (GCM authentication). */
  decrypt (stored: string, context: string): string
}

export function createTotpCipher (key: Buffer): TotpCipher {
  if (key.length !== TOTP_KEY_BYTES) throw new Error(`the TOTP key must be ${TOTP_KEY_BYTES} bytes`)
  return {
    encrypt (plain, context) {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      // The context (the user id) is authenticated data: a ciphertext copied to another user's row fails.
      cipher.setAAD(Buffer.from(context))
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
      return [FORMAT, iv, cipher.getAuthTag(), body].map((p) => typeof p === 'string' ? p : p.toString('base64url')).join('.')
    },
    decrypt (stored, context) {
      const [format, iv, tag, body] = stored.split('.')
      if (format !== FORMAT || body === undefined) throw new Error('not an encrypted TOTP secret')
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
      decipher.setAAD(Buffer.from(context))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8')
    }
  }
}

/** A stored key (base64 of 32 random bytes, as in totp.key and PostgreSQL's server_secrets), or undefined. */
export function decodeTotpKey (text: string): Buffer | undefined {
  const key = Buffer.from(text.trim(), 'base64')
  return key.length === TOTP_KEY_BYTES ? key : undefined
}

/** A fresh key and its stored form. */
export function newTotpKey (): { key: Buffer, text: string } {
  const key = randomBytes(TOTP_KEY_BYTES)
  return { key, text: key.toString('base64') }
}

function readKeyFile (file: string): Buffer {
  const mode = exposedMode(file)
  if (mode !== undefined) {
    throw new TotpKeyError(`${file} is readable by group or others (mode ${mode}): run \`chmod 600 ${file}\`, and if someone else ` +
      'may have read it, treat the TOTP secrets as exposed and have those users enrol again (`latchkey user reset-totp`)')
  }
  const text = readFileSync(file, 'utf8').trim()
  const key = decodeTotpKey(text)
  if (key === undefined) {
    throw new TotpKeyError(`${file} ${text === '' ? 'is empty' : 'is not a TOTP key'} (expected ${TOTP_KEY_BYTES} random bytes, base64): restore the original file from a backup`)
  }
  return key
}

/**
 * The key to serve with. Created (0600) when missing and no secret needs it; when secrets exist a missing
 * file is an error, never a fresh key: a new key would silently lock every TOTP user out. Like the first
 * signing key, under the start-up lock and written whole (temporary file, fsync, link), so processes
 * starting together agree on one key and a crash never leaves half of one.
 */
export function loadOrCreateTotpKey (dataDir: string, storedSecrets: number): Buffer {
  const file = totpKeyPath(dataDir)
  return withStartupLock(dataDir, () => {
    if (existsSync(file)) return readKeyFile(file)
    if (storedSecrets > 0) {
      throw new TotpKeyError(`${file} is missing, but ${storedSecrets} TOTP secret(s) in the database were encrypted with it: ` +
        'restore the file from a backup (or reset TOTP for those users with `latchkey user reset-totp`)')
    }
    const dir = keysDirectory(dataDir)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const { key, text } = newTotpKey()
    try {
      writeNewSecretFile(dir, file, `${text}\n`)
    } catch (err) {
      // Outside the lock (a CLI, an older server), another process may still have made one: use that.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readKeyFile(file)
      throw err
    }
    return key
  })
}

/** Refuse to start with a key that does not open a stored secret (a wrong or replaced file). */
export function assertKeyOpens (cipher: TotpCipher, file: string, sample: { stored: string, context: string } | undefined): void {
  if (sample === undefined) return
  try {
    cipher.decrypt(sample.stored, sample.context)
  } catch {
    throw new TotpKeyError(`${file} does not decrypt the TOTP secrets in the database (it is not the key they were encrypted with): restore the original file from a backup`)
  }
}
