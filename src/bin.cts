#!/usr/bin/env node
// The `latchkey` executable. CommonJS on purpose: libuv's threadpool size must be set before Node's ESM
// loader starts the pool, which happens before the first line of an ES module entry runs.
import { startThreadpool } from './threadpool.cjs'

// argon2 hashes on the threadpool: every core, its threads below the event loop's priority so logins never
// delay authenticated requests (Linux); elsewhere cores − 1. UV_THREADPOOL_SIZE and THREADPOOL_NICE override.
startThreadpool()

void import('./cli.js')
