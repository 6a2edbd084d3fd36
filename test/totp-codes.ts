// TOTP codes for tests: the authenticator's side (RFC 6238, SHA-1, 6 digits, 30 s), and a wait that keeps a
// code made here inside the step the server checks it in.
import { Secret, TOTP } from 'otpauth'

export const STEP = 30_000

/** The code an authenticator app shows for a base32 `secret` at `timestamp` (ms). */
export const codeAt = (secret: string, timestamp: number): string =>
  TOTP.generate({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30, timestamp })

/**
 * Codes "of the current step" are made here and checked by the server a moment later: when less than
 * 5 s of the step are left, wait for the next one, so both sides always see the same step.
 */
export async function insideStep (): Promise<number> {
  const left = STEP - (Date.now() % STEP)
  if (left < 5000) await new Promise((resolve) => setTimeout(resolve, left + 50))
  return Date.now()
}
