// WAL checkpoints off the event loop: a worker thread with its own connection copies the WAL into the database file,
// so no commit on the serving connection pays for a checkpoint's page copies and fsyncs.
//
// The serving connection runs with wal_autocheckpoint=0 while the worker is alive. It counts its writes in a shared
// counter; the worker looks every `intervalMs` and, when something was written, runs a PASSIVE checkpoint (no lock a
// writer needs). When the WAL still holds `restartFrames` frames after that (constant writes never leave it fully
// copied at an idle moment, so SQLite never starts it over), the worker asks for a hold: the store queues its writes
// (reads go on), the worker runs a TRUNCATE checkpoint — the few frames left, one fsync, the file cut to zero — and
// the next write starts the WAL from its beginning, so the file stays bounded. Durability is untouched: a commit is in the WAL (written,
// synchronous=NORMAL) before it returns, whichever connection later copies it. If the worker fails or dies, the
// serving connection goes back to SQLite's own auto-checkpoint (every 1000 pages) and reports why.
import { createRequire } from 'node:module'
import type { Worker } from 'node:worker_threads'
import type Database from 'better-sqlite3'

/** What the worker is started with (workerData). */
interface CheckpointWorkerData {
  /** better-sqlite3's resolved entry point: the worker script requires it by path. */
  driver: string
  databasePath: string
  /** Int32 [0]: writes committed by the serving connection. */
  writes: SharedArrayBuffer
  intervalMs: number
  restartFrames: number
  busyTimeoutMs: number
}
type ToWorker = 'held' | 'stop'
type FromWorker =
  | { kind: 'hold' }
  | { kind: 'released', log: number, busy: number }
  | { kind: 'failed', message: string }

export interface CheckpointOptions {
  /** How often the worker looks for new writes. */
  intervalMs?: number
  /** WAL frames (pages) after a PASSIVE checkpoint that make the worker hold writes for a TRUNCATE checkpoint. */
  restartFrames?: number
  /** The worker's busy_timeout: a TRUNCATE waits this long for another process's writer or readers. */
  busyTimeoutMs?: number
  /** Runs `hold` with the store's writes queued behind it (the store's serial queue). */
  exclusive: (hold: () => Promise<void>) => Promise<unknown>
  /** The worker failed or died: checkpoints are SQLite's own again. */
  onError?: (err: Error) => void
}

export interface Checkpointer {
  /** The serving connection committed (or may have committed) a write. Starts the worker on first use. */
  wrote: () => void
  /** Whether the worker is running. */
  readonly running: boolean
  /** TRUNCATE checkpoints done under a hold so far (each starts the WAL over, from an empty file). */
  readonly restarts: number
  /** End the worker abruptly, as a crash of the thread would (tests): the fallback takes over. */
  terminate: () => Promise<void>
  /** Stop the worker and wait for it to close its connection. Idempotent. */
  close: () => Promise<void>
}

/** SQLite's default wal_autocheckpoint, restored when the worker is gone. */
const SQLITE_AUTOCHECKPOINT = 1000
const requireHere = createRequire(import.meta.url)
const driver = requireHere.resolve('better-sqlite3')

/**
 * The worker, as a CommonJS script (`eval`): it loads no module of ours, so it runs the same from src/ under the
 * tests' TypeScript loader (which it does not inherit: execArgv is empty), from dist/ and from a packed install.
 */
const WORKER_SCRIPT = `
'use strict'
const { parentPort, workerData } = require('node:worker_threads')
const { driver, databasePath, writes, intervalMs, restartFrames, busyTimeoutMs } = workerData
const Database = require(driver)
const db = new Database(databasePath)
db.pragma('busy_timeout = ' + busyTimeoutMs)
// This connection only checkpoints; it never writes, so it never checkpoints on its own either.
db.pragma('wal_autocheckpoint = 0')
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')
const truncate = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)')
const counts = new Int32Array(writes)
let seen = Atomics.load(counts, 0)
let waiting = false
const send = (m) => { parentPort.postMessage(m) }
const timer = setInterval(() => {
  const now = Atomics.load(counts, 0)
  if (waiting || now === seen) return
  seen = now
  try {
    // PASSIVE takes no lock a writer needs: the serving connection keeps committing while the pages are copied.
    const row = passive.get()
    // A WAL starts over only once every frame was copied at a moment no write was under way; under constant
    // writes that moment may never come, so past the limit the writes are held for a TRUNCATE.
    if (row.log >= restartFrames) {
      waiting = true
      send({ kind: 'hold' })
    }
  } catch (err) {
    send({ kind: 'failed', message: err.message })
  }
}, intervalMs)
parentPort.on('message', (m) => {
  if (m === 'held') {
    // The serving connection writes nothing until 'released': the TRUNCATE waits for no writer of ours. It copies
    // the frames left since the last PASSIVE, fsyncs, and cuts the WAL file to zero bytes.
    let row
    try {
      row = truncate.get()
    } catch (err) {
      send({ kind: 'failed', message: err.message })
    }
    waiting = false
    send({ kind: 'released', log: row ? row.log : -1, busy: row ? row.busy : 1 })
  } else if (m === 'stop') {
    clearInterval(timer)
    db.close()
    parentPort.close()
  }
})
`

export function createCheckpointer (sqlite: Database.Database, databasePath: string, options: CheckpointOptions): Checkpointer {
  const writes = new Int32Array(new SharedArrayBuffer(4))
  let worker: Worker | undefined
  let exited: Promise<void> | undefined
  let closed = false
  let failed = false
  let restarts = 0
  /** Ends the current hold (the worker answered, failed or exited). */
  let release: (() => void) | undefined

  const fallBack = (err: Error): void => {
    if (failed) return
    failed = true
    release?.()
    if (sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT}`)
    options.onError?.(err)
  }

  const start = (): void => {
    const data: CheckpointWorkerData = {
      driver,
      databasePath,
      writes: writes.buffer as SharedArrayBuffer,
      intervalMs: options.intervalMs ?? 100,
      restartFrames: options.restartFrames ?? 2048,
      busyTimeoutMs: options.busyTimeoutMs ?? 1000
    }
    // node:worker_threads is loaded with the first worker: a server that only reads never needs it.
    const { Worker } = requireHere('node:worker_threads') as typeof import('node:worker_threads')
    const w = new Worker(WORKER_SCRIPT, {
      eval: true,
      execArgv: [],
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 }
    })
    worker = w
    sqlite.pragma('wal_autocheckpoint = 0')
    w.on('message', (m: FromWorker) => {
      if (m.kind === 'hold') {
        options.exclusive(async () => {
          if (failed || closed) return
          // Writes wait for the answer: the worker keeps the process alive until then.
          w.ref()
          await new Promise<void>((resolve) => {
            release = resolve
            w.postMessage('held' satisfies ToWorker)
          })
          release = undefined
          w.unref()
        }).catch(fallBack)
      } else if (m.kind === 'released') {
        if (m.busy === 0) restarts++
        release?.()
      } else {
        fallBack(new Error(`WAL checkpoint failed: ${m.message}`))
        w.postMessage('stop' satisfies ToWorker)
      }
    })
    w.on('error', fallBack)
    exited = new Promise((resolve) => {
      w.on('exit', (code) => {
        if (!closed) fallBack(new Error(`the WAL checkpoint worker exited (code ${code})`))
        release?.()
        resolve()
      })
    })
    // Never what keeps the process alive: the store's close() stops it, a process exit ends it. After the listeners,
    // since a 'message' listener refs the worker's port again.
    w.unref()
  }

  return {
    wrote () {
      if (worker === undefined && !closed && !failed) {
        try {
          start()
        } catch (err) {
          fallBack(err as Error)
        }
      }
      Atomics.add(writes, 0, 1)
    },
    get running () { return worker !== undefined && !failed && !closed },
    get restarts () { return restarts },
    async terminate () {
      await worker?.terminate()
      await exited
    },
    async close () {
      if (closed) return
      closed = true
      if (worker === undefined) return
      // Until it has closed its connection (it exits then), the worker keeps the process alive.
      worker.ref()
      if (!failed) worker.postMessage('stop' satisfies ToWorker)
      await exited
    }
  }
}
