// `node bench/metrics-ab.js [--rounds 5] [--slice 3]`: the per-request cost of the metrics hook. Two servers of
// the BUILT tree on one database, one with METRICS_PORT set, one without, take GET /users/me in interleaved
// rounds (as bench/run.js does, the shared machine's drift cancels out); prints the median per-round ratio.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { CLI, freePort, http, seedDatabase, serverEnv, startProcess } from './lib.js'

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, slice: { type: 'string', default: '3' } } })
const dir = mkdtempSync(join(tmpdir(), 'latchkey-metrics-ab-'))
const path = join(dir, 'latchkey.db')
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const servers = []
try {
  const refresh = await seedDatabase(path, { count: 100, sessionCount: 100 })
  const start = async (extra) => {
    const port = await freePort()
    const server = await startProcess([CLI], serverEnv(path, extra), { port })
    servers.push(server)
    return server
  }
  const off = await start({})
  const on = await start({ METRICS_PORT: String(await freePort()) })
  const tokenOf = async (port, rt) => JSON.parse((await http(port, {
    method: 'POST', path: '/auth/refresh', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: rt })
  })).body).access_token
  const tokens = { off: await tokenOf(off.port, refresh[0]), on: await tokenOf(on.port, refresh[1]) }
  const run = (server, token, duration) => autocannon({
    url: `http://127.0.0.1:${server.port}/users/me`, connections: 20, duration, headers: { authorization: `Bearer ${token}` }
  })
  await run(off, tokens.off, 1)
  await run(on, tokens.on, 1)
  const ratios = []
  const rows = { off: [], on: [] }
  for (let r = 0; r < Number(args.rounds); r++) {
    const a = await run(off, tokens.off, Number(args.slice))
    const b = await run(on, tokens.on, Number(args.slice))
    rows.off.push(a.requests.average)
    rows.on.push(b.requests.average)
    ratios.push(b.requests.average / a.requests.average)
    process.stderr.write(`round ${r + 1}: off ${a.requests.average.toFixed(0)} req/s, on ${b.requests.average.toFixed(0)} req/s (non-2xx ${a.non2xx + b.non2xx})\n`)
  }
  console.log(`GET /users/me median req/s: metrics off ${median(rows.off).toFixed(0)}, on ${median(rows.on).toFixed(0)}; ` +
    `median per-round ratio on/off ${median(ratios).toFixed(3)}`)
} finally {
  for (const s of servers) await s.stop()
  rmSync(dir, { recursive: true, force: true })
}
