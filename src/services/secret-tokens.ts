// Opaque secrets handed to clients (refresh tokens, mailed reset and verification links): made and hashed in one place.
import * as crypto from 'node:crypto'

const TOKEN_BYTES = 32
/**
 * CSPRNG output fetched 256 tokens at a time, as `crypto.randomUUID` buffers its entropy: one `randomBytes` call
 * costs ~6 µs whatever its size, so one per refresh was the largest cost after the signature. Each token's bytes are
 * zeroed once taken, so the pool only ever holds tokens not yet handed out.
 */
const POOL_BYTES = TOKEN_BYTES * 256
let pool = Buffer.alloc(0)
let offset = 0

/** 256 random bits, URL-safe. */
export function newSecretToken (): string {
  if (offset + TOKEN_BYTES > pool.length) {
    pool = crypto.randomBytes(POOL_BYTES)
    offset = 0
  }
  const token = pool.toString('base64url', offset, offset + TOKEN_BYTES)
  pool.fill(0, offset, offset + TOKEN_BYTES)
  offset += TOKEN_BYTES
  return token
}

// `crypto.hash` (Node ≥ 20.12) is the one-shot digest: ~5× cheaper than a Hash object for a token this short.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string }).hash

/** Only this SHA-256 is stored: a database leak yields no usable token or link. */
export const hashSecretToken: (token: string) => string = oneShot === undefined
  ? (token) => crypto.createHash('sha256').update(token).digest('base64url')
  : (token) => oneShot('sha256', token, 'base64url')
