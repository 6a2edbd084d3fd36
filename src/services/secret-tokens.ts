// Opaque secrets handed to clients (refresh tokens, mailed reset and verification links): made and hashed in one place.
import { createHash, randomBytes } from 'node:crypto'

/** 256 random bits, URL-safe. */
export const newSecretToken = (): string => randomBytes(32).toString('base64url')

/** Only this SHA-256 is stored: a database leak yields no usable token or link. */
export const hashSecretToken = (token: string): string => createHash('sha256').update(token).digest('base64url')
