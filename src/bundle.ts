// The build's second step (`npm run build`, after tsc): the CLI and everything it imports, node_modules included,
// bundled by esbuild into dist/src/cli.js and lazily loaded dist/src/chunk-*.js. Node 20 then reads ~25
// files at start instead of ~950 and parses less (issue 19: start-up and idle RSS). tsc's per-module output stays
// beside it (`npm run dev` overwrites cli.js with tsc's own and runs unbundled; `npm run openapi` uses it too).
// Not part of the server: it runs once, at build time.
import { build } from 'esbuild'
import { readdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

// Left to Node's resolver at run time, from node_modules:
// - native addons, which find their .node file from their own package directory;
// - packages that read their own files at run time (Swagger UI's assets);
// - what only a configuration loads (PostgreSQL, Redis, bcrypt for imported hashes, qrcode for TOTP enrolment):
//   left out, they cost neither the bundle's parse nor a chunk to maintain.
const EXTERNAL = [
  'better-sqlite3', 'argon2', 'bcrypt',
  '@fastify/swagger-ui', '@fastify/static',
  'pg', 'pg-native', 'drizzle-orm/node-postgres', 'ioredis', 'qrcode'
]

// Chunk names carry a content hash: the last build's must go, or dist/ (and the package) keeps every old one.
for (const f of readdirSync(join(root, 'dist', 'src'))) if (f.startsWith('chunk-')) rmSync(join(root, 'dist', 'src', f))

await build({
  absWorkingDir: root,
  entryPoints: { cli: 'src/cli.ts' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: 'dist/src',
  // Dynamic imports (the server, the PostgreSQL store, mail, …) become chunks loaded when first imported.
  splitting: true,
  // Beside cli.js, so a relative import left external resolves the same from every output file.
  chunkNames: 'chunk-[hash]',
  external: EXTERNAL,
  plugins: [{
    // The threadpool module is the bin's: its state (what was set up before the first ES module ran) must be the
    // one copy the bin loaded, so the bundle imports tsc's dist/src/threadpool.cjs rather than containing its own.
    name: 'threadpool-is-the-bins',
    setup (b) { b.onResolve({ filter: /^\.\/threadpool\.cjs$/ }, (a) => ({ path: a.path, external: true })) }
  }],
  // CommonJS packages inside an ES module bundle still call require() for Node's built-ins.
  banner: { js: "import { createRequire as __latchkeyRequire } from 'node:module'; const require = __latchkeyRequire(import.meta.url);" },
  // Minified, identifiers too: 1.7 MB instead of 3.7, and 1.7 MB less RSS at idle than whitespace and syntax alone
  // (keepNames gave back 1.1 of it). A logged stack trace names minified functions and positions in a chunk:
  // `node --enable-source-maps` maps them to src/*.ts (docs/deploying.md), at ~10 MB more RSS.
  minify: true,
  // Maps to src/*.ts and node_modules for `node --enable-source-maps` and coverage; not read otherwise.
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning'
})
