// The built bin's threadpool: every core, its threads (where argon2 hashes) at a lower priority than the
// event loop and V8's threads, read back from /proc/<pid>/task/*/stat of the real server process.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { PASSWORD, tempDir } from '../helper.js'
// A CommonJS module: the test runner's TypeScript loader hides its named exports from ESM, the default has them.
import threadpool from '../../src/threadpool.cjs'
import { bin, runCli, serverEnv, startServer, stopServer, type Exit, type ServerProcess } from '../security/server-process.js'

t.setTimeout(600_000) // real processes on a machine that may be busy

const { niceOf, parseNice, startThreadpool } = threadpool
const cores = availableParallelism()
const linux = process.platform === 'linux'

/** Every thread of the process and its nice value. */
function threadNices (pid: number): Map<number, number> {
  return new Map(readdirSync(`/proc/${pid}/task`).map((tid) => [Number(tid), niceOf(pid, Number(tid))]))
}

/** The bin's debug line (NODE_DEBUG=latchkey). */
function note (server: ServerProcess): string {
  return /threadpool: [^\n]*/.exec(server.output())?.[0] ?? ''
}

/**
 * Serve `node dist/src/bin.cjs` with NODE_DEBUG=latchkey in a fresh directory (also the cwd, for .env). tap
 * adds an ESM `--import` hook to NODE_OPTIONS of every child, and that loader starts the pool before the bin
 * runs (the case the last test covers); `env -u` removes it, so the server starts as `latchkey` does.
 */
async function serve (t: Test, extra: Record<string, string> = {}, dotEnv?: string) {
  const dir = tempDir(t)
  if (dotEnv !== undefined) writeFileSync(join(dir, '.env'), dotEnv)
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, bin],
    { env: serverEnv(join(dir, 'latchkey.db'), { NODE_DEBUG: 'latchkey', ...extra }), cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let output = ''
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 90 s:\n${output}`)), 90_000)
    const onData = (d: Buffer) => {
      output += String(d)
      const match = /serving on (http:\/\/[^\s]+)/.exec(output)
      if (match !== null) { clearTimeout(timer); resolve(match[1]) }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`server exited (${code ?? signal}) before listening:\n${output}`)) })
  })
  const exited = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  const server: ServerProcess = { child, base, exited, output: () => output }
  return { server, pid: child.pid! }
}

/** The pool's thread ids as the debug line lists them. */
const listed = (line: string) => (/\(threads ([\d, ]+)\)/.exec(line)?.[1] ?? '').split(', ').filter(Boolean).map(Number).sort()

t.test('default: a pool of every core, its threads at nice 19, every other thread at the process\'s own', async (t) => {
  const { server, pid } = await serve(t)
  // A login hashes on the pool, so the lowered threads are the ones that do the work.
  const res = await fetch(`${server.base}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'pool_user', email: 'pool@example.com', password: PASSWORD })
  })
  t.equal(res.status, 201)
  const nices = threadNices(pid)
  const own = nices.get(pid)!
  if (!linux) {
    t.match(note(server), /priority not lowered: setpriority per thread is Linux-only/)
    return
  }
  t.equal(own, 0, 'the main thread (the event loop) keeps nice 0')
  const lowered = [...nices].filter(([, n]) => n === 19).map(([tid]) => tid).sort()
  t.equal(lowered.length, cores, `${cores} pool threads (one per core) at nice 19`)
  t.same(lowered, listed(note(server)), 'exactly the threads the bin found as the pool')
  t.ok([...nices].filter(([tid]) => !lowered.includes(tid)).every(([, n]) => n === own), 'V8\'s platform threads and the rest stay at nice 0')
  t.ok(nices.size > cores + 1, 'the process has threads besides the pool and the main thread')
  t.match(note(server), new RegExp(`^threadpool: ${cores} thread\\(s\\) at nice 19 `))
  t.same(await stopServer(server), { code: 0, signal: null })
})

t.test('an explicit UV_THREADPOOL_SIZE wins; THREADPOOL_NICE sets the value', { skip: !linux && 'Linux only' }, async (t) => {
  const { server, pid } = await serve(t, { UV_THREADPOOL_SIZE: '3', THREADPOOL_NICE: '10' })
  const nices = [...threadNices(pid)]
  t.equal(nices.filter(([, n]) => n === 10).length, 3, 'three pool threads at nice 10')
  t.equal(nices.filter(([, n]) => n !== 10 && n !== 0).length, 0, 'no thread at any other value')
  t.match(note(server), /^threadpool: 3 thread\(s\) at nice 10 /)
})

t.test('THREADPOOL_NICE=0: nothing lowered, and the pool leaves a core to the event loop (cores − 1)', async (t) => {
  const { server, pid } = await serve(t, { THREADPOOL_NICE: '0' })
  t.ok([...threadNices(pid)].every(([, n]) => n === 0), 'every thread at nice 0')
  t.equal(note(server), `threadpool: ${Math.max(1, cores - 1)} thread(s), priority not lowered: THREADPOOL_NICE=0 is not below the process's own priority (nice 0)`)
})

t.test('both settings are read from ./.env too, the environment winning', { skip: !linux && 'Linux only' }, async (t) => {
  const { server, pid } = await serve(t, { THREADPOOL_NICE: '5' }, 'THREADPOOL_NICE=12\nUV_THREADPOOL_SIZE=2\n')
  const nices = [...threadNices(pid)]
  t.equal(nices.filter(([, n]) => n === 5).length, 2, 'the size from .env, the value from the environment')
  t.equal(nices.filter(([, n]) => n === 12).length, 0)
  t.match(note(server), /^threadpool: 2 thread\(s\) at nice 5 /)
})

t.test('a bad THREADPOOL_NICE stops latchkey like any bad setting', async (t) => {
  const dir = tempDir(t)
  const res = await runCli([], serverEnv(join(dir, 'latchkey.db'), { THREADPOOL_NICE: '20' }), dir)
  t.equal(res.code, 1)
  t.match(res.stderr, /THREADPOOL_NICE="20" is not valid: expected a whole number, >= 0, <= 19/)
})

t.test('a pool started before the bin (a `node --import` ESM module): left as it is, and the debug line says so', async (t) => {
  const dir = tempDir(t)
  // startServer spawns through tap's child_process wrapper, which adds its ESM --import hook.
  const server = await startServer(t, join(dir, 'latchkey.db'), dir, { NODE_DEBUG: 'latchkey', THREADPOOL_NICE: '15' })
  t.match(server.child.spawnargs.join(' '), /bin\.cjs/)
  t.equal([...threadNices(server.child.pid!)].filter(([, n]) => n === 15).length, 0, 'no thread lowered')
  t.match(note(server), /^threadpool: already running \(started before the bin/)
})

t.test('startThreadpool in a process whose pool already runs: sized, nothing lowered, says why', async (t) => {
  await stat('.') // the pool is running now, whatever the test runner did before
  const env: NodeJS.ProcessEnv = {}
  const status = startThreadpool(env, tempDir(t))
  if (linux) {
    t.equal(env.UV_THREADPOOL_SIZE, String(cores))
    t.same(status, { size: cores, nice: undefined, threads: [], note: 'threadpool: already running (started before the bin, e.g. by a `node --import` module): its size and priority left as they are' })
  } else {
    t.equal(env.UV_THREADPOOL_SIZE, String(Math.max(1, cores - 1)))
  }
  t.ok([...threadNices(process.pid)].every(([, n]) => n === niceOf(process.pid, process.pid)), 'no thread of this process was touched')
})

t.test('parseNice reads what the config schema accepts', async (t) => {
  t.equal(parseNice(undefined), 19)
  t.equal(parseNice(''), 19)
  t.equal(parseNice('0'), 0)
  t.equal(parseNice(' 7 '), 7)
  t.equal(parseNice('19'), 19)
  for (const bad of ['20', '-1', '1.5', 'abc', 'on']) t.equal(parseNice(bad), undefined, bad)
})
