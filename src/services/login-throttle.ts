// Per-account login throttle: after N consecutive failures for a name, a doubling delay (capped) before
// the next attempt is even checked. Keyed by the name as typed, so unknown names are throttled alike.

const BASE_DELAY_MS = 1000
const MAX_DELAY_MS = 15 * 60 * 1000
// Entries are dropped oldest-first past this many names, so a spray of random names cannot exhaust memory.
const MAX_ENTRIES = 100_000

interface Entry { failures: number, blockedUntil: number }

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>()

  /** `after`: failures before delays begin; 0 disables the throttle. */
  constructor (private readonly after: number) {}

  get enabled (): boolean { return this.after > 0 }

  /** Seconds the caller must wait before this name may try again, or 0. */
  retryAfter (login: string, now = Date.now()): number {
    if (!this.enabled) return 0
    const entry = this.entries.get(login.toLowerCase())
    if (entry === undefined || entry.blockedUntil <= now) return 0
    return Math.ceil((entry.blockedUntil - now) / 1000)
  }

  failure (login: string, now = Date.now()): void {
    if (!this.enabled) return
    const key = login.toLowerCase()
    const entry = this.entries.get(key) ?? { failures: 0, blockedUntil: 0 }
    entry.failures += 1
    if (entry.failures >= this.after) {
      const delay = Math.min(BASE_DELAY_MS * 2 ** Math.min(entry.failures - this.after, 20), MAX_DELAY_MS)
      entry.blockedUntil = now + delay
    }
    // Re-insert so Map order is least-recently-failed first.
    this.entries.delete(key)
    this.entries.set(key, entry)
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!)
  }

  success (login: string): void {
    if (this.enabled) this.entries.delete(login.toLowerCase())
  }
}
