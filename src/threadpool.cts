// libuv's threadpool, where argon2 hashes: its size, and its threads' scheduling priority below the event loop's.
// CommonJS like the bin: this must run before the ESM loader's first asynchronous file read starts the pool.
import { readdirSync, readFileSync, stat } from 'node:fs'
import { availableParallelism, getPriority, setPriority } from 'node:os'
import { join } from 'node:path'
import { debuglog, parseEnv } from 'node:util'

/** What `startThreadpool` did; `cli.ts` may log it (`NODE_DEBUG=latchkey` prints it at once). */
export interface ThreadpoolStatus {
  /** The pool's size, as libuv reads UV_THREADPOOL_SIZE. */
  size: number
  /** The nice value the pool's threads were given, or undefined when they kept the process's own. */
  nice: number | undefined
  /** The pool's thread ids, when they were found. */
  threads: number[]
  /** One line for a debug log. */
  note: string
}

/** The default THREADPOOL_NICE: the lowest priority there is, so a hash never delays the event loop. */
export const DEFAULT_NICE = 19
const MAX_POOL = 1024 // libuv's MAX_THREADPOOL_SIZE
const debug = debuglog('latchkey')
let last: ThreadpoolStatus | undefined

/** The outcome of this process's `startThreadpool`, if it ran. */
export function threadpoolStatus (): ThreadpoolStatus | undefined { return last }

/** THREADPOOL_NICE as the config schema reads it: a whole number 0–19; undefined when bad (config reports it). */
export function parseNice (raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return DEFAULT_NICE
  const n = Number(raw)
  return Number.isInteger(n) && n >= 0 && n <= 19 ? n : undefined
}

/** The pool size libuv will use for this UV_THREADPOOL_SIZE (it reads the number with atoi, then clamps). */
function poolSize (raw: string): number {
  const n = Number.parseInt(raw, 10)
  return Number.isNaN(n) || n < 1 ? 1 : Math.min(n, MAX_POOL)
}

/** The two settings from ./.env, when the environment does not have them (the environment wins, as in cli.ts). */
function settings (env: NodeJS.ProcessEnv, dir: string): { size: string | undefined, nice: string | undefined } {
  let file: Record<string, string> = {}
  try {
    file = parseEnv(readFileSync(join(dir, '.env'), 'utf8')) as Record<string, string>
  } catch {} // no .env (or unreadable): cli.ts reports an unreadable one
  const pick = (key: string) => (env[key] ?? '') !== '' ? env[key] : (file[key] ?? '') !== '' ? file[key] : undefined
  return { size: pick('UV_THREADPOOL_SIZE'), nice: pick('THREADPOOL_NICE') }
}

function tasks (): number[] {
  return readdirSync('/proc/self/task').map(Number)
}

/**
 * Size the threadpool and start it. Where the hash threads can run below the event loop (Linux: setpriority
 * applies per thread id), the pool gets every core and its threads the nice value THREADPOOL_NICE; otherwise
 * (another OS, THREADPOOL_NICE=0, or no /proc) it is cores − 1, leaving a core to the event loop. An explicit
 * UV_THREADPOOL_SIZE always wins. Sets `env.UV_THREADPOOL_SIZE`; never throws.
 */
export function startThreadpool (env: NodeJS.ProcessEnv = process.env, dir = '.'): ThreadpoolStatus {
  const wanted = settings(env, dir)
  const nice = parseNice(wanted.nice)
  const cores = availableParallelism()
  let reason: string | undefined
  let before: Set<number> | undefined
  let own = 0
  try {
    own = getPriority()
    if (process.platform !== 'linux') reason = `setpriority per thread is Linux-only (${process.platform})`
    else if (nice === undefined) reason = `THREADPOOL_NICE=${JSON.stringify(wanted.nice)} is not a whole number 0–19`
    else if (nice <= own) reason = `THREADPOOL_NICE=${nice} is not below the process's own priority (nice ${own})`
    else before = new Set(tasks())
  } catch (err) {
    reason = `cannot list this process's threads (${(err as Error).message})`
  }
  const raw = wanted.size ?? String(before !== undefined ? cores : Math.max(1, cores - 1))
  env.UV_THREADPOOL_SIZE = raw
  const size = poolSize(raw)
  const done = (status: ThreadpoolStatus) => { last = status; debug(status.note); return status }
  if (before === undefined) {
    return done({ size, nice: undefined, threads: [], note: `threadpool: ${size} thread(s), priority not lowered: ${reason}` })
  }
  // The first piece of work starts the whole pool: libuv creates every thread and waits until each has started.
  stat('.', () => {})
  const threads = tasks().filter((tid) => !before.has(tid))
  if (threads.length !== size) {
    const note = threads.length === 0
      ? 'threadpool: already running (started before the bin, e.g. by a `node --import` module): its size and priority left as they are'
      : `threadpool: ${size} thread(s), priority not lowered: ${threads.length} new threads, expected ${size}`
    return done({ size, nice: undefined, threads: [], note })
  }
  try {
    for (const tid of threads) setPriority(tid, nice!)
  } catch (err) {
    return done({ size, nice: undefined, threads, note: `threadpool: ${size} thread(s), priority not lowered: setpriority failed (${(err as Error).message})` })
  }
  return done({ size, nice, threads, note: `threadpool: ${size} thread(s) at nice ${nice} (threads ${threads.join(', ')}), the event loop at nice ${own}` })
}

/** A thread's nice value from /proc/<pid>/task/<tid>/stat (field 19), for tests and the bench. */
export function niceOf (pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
}
