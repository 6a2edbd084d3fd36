// The one rule that turns an email address into a username (POST /users/signup, `latchkey import`).

const MIN = 3
const MAX = 32

/** The lower-cased local part, characters outside `A-Z a-z 0-9 _ . -` as `_`, cut or padded with `_` to 3–32. */
export function usernameBase (email: string): string {
  const at = email.lastIndexOf('@')
  const local = (at === -1 ? email : email.slice(0, at)).toLowerCase()
  // Code points, not UTF-16 units: one emoji becomes one `_`, not two.
  const cleaned = Array.from(local, (c) => (/^[a-z0-9_.-]$/.test(c) ? c : '_')).join('')
  return cleaned.slice(0, MAX).padEnd(MIN, '_')
}

/** The candidates in order: the base, then `base-2`, `base-3`, … with the base cut so the whole stays ≤ 32. */
function * candidates (email: string): Generator<string, never> {
  const base = usernameBase(email)
  yield base
  for (let n = 2; ; n++) {
    const suffix = `-${n}`
    yield base.slice(0, MAX - suffix.length) + suffix
  }
}

/**
 * The first free candidate. `isTaken` compares ignoring case; the unique index stays the real guard against a race.
 * One walk for both kinds of lookup: a synchronous `isTaken` gives the name, an asynchronous one (the store) a promise of it.
 */
export function deriveUsername (email: string, isTaken: (username: string) => boolean): string
export function deriveUsername (email: string, isTaken: (username: string) => Promise<boolean>): Promise<string>
export function deriveUsername (email: string, isTaken: (username: string) => boolean | Promise<boolean>): string | Promise<string> {
  const walk = candidates(email)
  const next = (): string | Promise<string> => {
    for (;;) {
      const candidate = walk.next().value
      const taken = isTaken(candidate)
      if (taken instanceof Promise) return taken.then((yes) => yes ? next() : candidate)
      if (!taken) return candidate
    }
  }
  return next()
}
