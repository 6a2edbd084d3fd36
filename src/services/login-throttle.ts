// Per-account login throttle: after N consecutive failures for a name, a doubling delay (capped) before
// the next attempt is even checked. Keyed by the name as typed, so unknown names are throttled alike.
import { createHash } from 'node:crypto'

export const BASE_DELAY_MS = 1000
export const MAX_DELAY_MS = 15 * 60 * 1000
// Entries are dropped oldest-first past this many names, so a spray of random names cannot exhaust memory.
const MAX_ENTRIES = 100_000
// An admitted attempt that never reports back (its request failed before the verdict) stops counting after this.
export const IN_FLIGHT_TTL_MS = 60_000
// Login names may be up to 1024 characters (the form field bound); longer keys are stored as a digest,
// so 100,000 sprayed names cost a few MB, not hundreds.
const MAX_PLAIN_KEY = 64

/** The throttle key of a login name: folded to lower case, long ones digested. */
export function keyOf (login: string): string {
  const folded = login.toLowerCase()
  return folded.length <= MAX_PLAIN_KEY ? folded : `sha256:${createHash('sha256').update(folded).digest('base64url')}`
}

interface Entry {
  failures: number
  blockedUntil: number
  /** Start times of attempts admitted by `retryAfter` whose verdict (failure/success) is not in yet. */
  inFlight: number[]
}

type Awaitable<T> = T | Promise<T>

/**
 * What the routes need of a throttle, awaited: the in-memory LoginThrottle answers at once, a shared
 * (database-backed) one with promises of the same names.
 */
export interface Throttle {
  readonly enabled: boolean
  retryAfter (key: string): Awaitable<number>
  failure (key: string): Awaitable<boolean>
  success (key: string): Awaitable<void>
  release (key: string): Awaitable<void>
}

/**
 * The three throttles, each in a map of its own so no typed name can collide with an account's key: login
 * names (password grant), accounts by id (wrong one-time codes: `alice` and `alice@example.com` share
 * that count), and password checks of signed-in users (`user:<id>`: a stolen access token must not become
 * a fast password oracle).
 */
export interface LoginThrottles { byName: Throttle, byAccount: Throttle, passwordCheck: Throttle }

export function createLoginThrottles (after: number): LoginThrottles {
  return { byName: new LoginThrottle(after), byAccount: new LoginThrottle(after), passwordCheck: new LoginThrottle(after) }
}

export class LoginThrottle implements Throttle {
  private readonly entries = new Map<string, Entry>()

  /** `after`: failures before delays begin; 0 disables the throttle. */
  constructor (private readonly after: number) {}

  get enabled (): boolean { return this.after > 0 }

  /**
   * Seconds the caller must wait before this name may try again, or 0 — in which case the attempt
   * is admitted and counts as in flight until `failure` or `success` reports its verdict. Counting
   * admitted attempts stops a burst of concurrent guesses from all passing the check before the
   * first failure is recorded (a password verify takes tens of milliseconds).
   */
  retryAfter (login: string, now = Date.now()): number {
    if (!this.enabled) return 0
    const key = keyOf(login)
    const entry = this.entries.get(key)
    if (entry !== undefined && entry.blockedUntil > now) return Math.ceil((entry.blockedUntil - now) / 1000)
    const current = entry ?? { failures: 0, blockedUntil: 0, inFlight: [] }
    current.inFlight = current.inFlight.filter((started) => started > now - IN_FLIGHT_TTL_MS)
    // Below the threshold, only as many attempts may be in flight as failures remain before it;
    // past it, one per expired delay. The rest wait for those verdicts.
    const allowed = current.failures < this.after ? this.after - current.failures : 1
    if (current.inFlight.length >= allowed) return Math.ceil(BASE_DELAY_MS / 1000)
    current.inFlight.push(now)
    this.remember(key, current)
    return 0
  }

  /** Count a failure; true when it (re)starts a delay — the throttle engaging, worth an audit event. */
  failure (login: string, now = Date.now()): boolean {
    if (!this.enabled) return false
    const key = keyOf(login)
    const entry = this.entries.get(key) ?? { failures: 0, blockedUntil: 0, inFlight: [] }
    entry.inFlight.shift()
    entry.failures += 1
    if (entry.failures >= this.after) {
      const delay = Math.min(BASE_DELAY_MS * 2 ** Math.min(entry.failures - this.after, 20), MAX_DELAY_MS)
      entry.blockedUntil = Math.max(entry.blockedUntil, now + delay)
    }
    this.remember(key, entry)
    return entry.failures >= this.after
  }

  success (login: string): void {
    if (this.enabled) this.entries.delete(keyOf(login))
  }

  /** An admitted attempt ended without a verdict (an error came first): it stops counting as in flight. */
  release (login: string): void {
    if (this.enabled) this.entries.get(keyOf(login))?.inFlight.shift()
  }

  private remember (key: string, entry: Entry): void {
    // Re-insert so Map order is least-recently-used first.
    this.entries.delete(key)
    this.entries.set(key, entry)
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!)
  }
}

/**
 * One attempt `retryAfter` admitted: it reports one verdict, or is released without one. Call `release` in a
 * `finally`, so an attempt that threw (a storage 503, an unverified address) does not stay in flight and
 * hold the name's next attempts back.
 */
export class ThrottledAttempt {
  private settled = false

  constructor (private readonly throttle: Throttle, private readonly login: string) {}

  /** As Throttle.failure: true when the throttle (re)engages. */
  failure (): Awaitable<boolean> {
    this.settled = true
    return this.throttle.failure(this.login)
  }

  success (): Awaitable<void> {
    this.settled = true
    return this.throttle.success(this.login)
  }

  release (): Awaitable<void> {
    if (this.settled) return
    this.settled = true
    return this.throttle.release(this.login)
  }
}
