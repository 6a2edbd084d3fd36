// One-at-a-time execution for the single SQLite connection: a transaction that awaits must not let
// another request's statements run inside it (they would commit or roll back with it).

const isPromise = (v: unknown): v is Promise<unknown> => typeof (v as { then?: unknown } | null)?.then === 'function'

export class Serial {
  private tail: Promise<void> = Promise.resolve()
  private pending = 0

  /** Whether nothing is running or queued: a synchronous step may run now. */
  get idle (): boolean { return this.pending === 0 }

  /**
   * Run `fn` after every earlier one has settled. When idle it starts at once, in the caller's tick, so a
   * synchronous `fn` (a hot path's one SQLite transaction) costs no queueing at all.
   */
  run<T> (fn: () => T | Promise<T>): Promise<T> {
    if (this.pending === 0) {
      let result: T | Promise<T>
      try {
        result = fn()
      } catch (err) {
        return Promise.reject(err)
      }
      return isPromise(result) ? this.track(result) : Promise.resolve(result)
    }
    return this.track(this.tail.then(fn))
  }

  private track<T> (p: Promise<T>): Promise<T> {
    this.pending++
    this.tail = p.then(() => {}, () => {}).then(() => { this.pending-- })
    return p
  }
}
