// A real redis-server (Debian's /usr/bin/redis-server) on a free loopback port in a temp dir, for tests
// that need Redis: it can be stopped and started again on the same port to simulate an outage.
import { spawn, type ChildProcess } from 'node:child_process'
import type { Test } from 'tap'
import { freePort, tempDir } from './helper.js'

export interface RedisServer {
  /** redis://127.0.0.1:<port> */
  url: string
  stop: () => Promise<void>
  start: () => Promise<void>
  /** SIGSTOP: the server keeps its connections open but answers nothing (a hung Redis). */
  pause: () => void
  resume: () => void
}

export async function startRedis (t: Test): Promise<RedisServer> {
  const dir = tempDir(t)
  const port = await freePort()
  let child: ChildProcess | undefined
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    start: async () => {
      // No persistence: a restarted server starts empty, as a fresh managed Redis would.
      const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
      child = proc
      let out = ''
      await new Promise<void>((resolve, reject) => {
        proc.stdout.on('data', (chunk: Buffer) => {
          out += String(chunk)
          if (out.includes('Ready to accept connections')) resolve()
        })
        proc.once('error', reject)
        proc.once('exit', (code) => { reject(new Error(`redis-server exited (${String(code)}): ${out}`)) })
      })
    },
    pause: () => { child?.kill('SIGSTOP') },
    resume: () => { child?.kill('SIGCONT') },
    stop: async () => {
      const proc = child
      child = undefined
      if (proc === undefined || proc.exitCode !== null) return
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      proc.kill('SIGCONT')
      proc.kill('SIGTERM')
      await exited
    }
  }
  await server.start()
  t.teardown(server.stop)
  return server
}
