#!/usr/bin/env node
// The `latchkey` executable. CommonJS on purpose: libuv's threadpool size must be set before Node's ESM
// loader starts the pool, which happens before the first line of an ES module entry runs.
import { availableParallelism } from 'node:os'

// argon2 hashes on the threadpool. Leaving one core to the event loop keeps authenticated requests fast
// while logins saturate the hash threads (BENCHMARKS.md); an explicit UV_THREADPOOL_SIZE wins.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(1, availableParallelism() - 1))

void import('./cli.js')
