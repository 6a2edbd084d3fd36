#!/usr/bin/env node
// The `latchkey` command: serve (default), migrate, user management and signing keys.
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ConfigError, parseConfig, type Config } from './config.js'
import { driverError } from './db/faults.js'
import { DomainError } from './errors.js'
import { packageVersion as version } from './paths.js'
import { auditCommand } from './cli-audit.js'
import { signingKeys } from './services/key-admin.js'
import { KeyFileError } from './services/keys.js'
import { createServices, type Services } from './services/index.js'
import { resetTotp } from './services/totp.js'
import { TotpKeyError } from './services/totp-key.js'
import { checkerOf } from './schemas/ajv.js'
import { Email, Role, Username } from './schemas/users.js'
import { openStore, type Store } from './store/index.js'

const HELP = `latchkey ${version} — a self-contained JWT authentication server

Usage:
  latchkey [serve]                     apply migrations, create keys if missing, serve
  latchkey migrate                     apply pending migrations and exit
  latchkey user create --username U --email E [--role admin|user] [--password-stdin]
  latchkey user list
  latchkey user set-role U admin|user
  latchkey user disable U | latchkey user enable U
  latchkey user reset-totp --username U  turn off U's TOTP (lost device)
  latchkey keys rotate                 add a signing key (used from the next start)
  latchkey keys list
  latchkey keys retire KID             stop accepting tokens signed with KID
  latchkey db copy --to postgres://…   copy the SQLite database into an empty PostgreSQL one
  latchkey import FILE [--dry-run] [--table T] [--map username=COL,email=COL,…]
                                       bring users (and their password hashes) from a SQLite
                                       database or JSON lines, e.g. a FastAPI tutorial's
  latchkey audit [--user U] [--type T] [--limit N] [--json]   newest audit events (a table, or JSON)
  latchkey --help | --version

Configuration comes from environment variables (and ./.env): HOST, PORT, DATABASE_PATH, …
See README.md and docs/configuration.md.`

class UsageError extends Error {}

function loadConfig (): Config {
  // .env is optional; variables already set in the environment win.
  if (existsSync('.env')) process.loadEnvFile('.env')
  return parseConfig(process.env)
}

async function readPassword (fromStdin: boolean): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) {
    if (!fromStdin) throw new UsageError('no terminal to prompt on: pass the password with --password-stdin')
    let data = ''
    for await (const chunk of process.stdin) data += String(chunk)
    return data.replace(/\r?\n$/, '')
  }
  // Prompt without echo: the readline output is muted while the password is typed. (Loaded here: `serve` never prompts.)
  const { createInterface } = await import('node:readline')
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true })
  const write = rl as unknown as { _writeToOutput: (s: string) => void }
  const ask = (question: string) => new Promise<string>((resolve) => {
    process.stdout.write(question)
    write._writeToOutput = () => {}
    rl.question('', (answer) => { process.stdout.write('\n'); resolve(answer) })
  })
  try {
    const first = await ask('Password: ')
    const second = await ask('Repeat password: ')
    if (first !== second) throw new UsageError('the passwords do not match')
    return first
  } finally {
    rl.close()
  }
}

// Compiled on first use (checkerOf): `latchkey serve` never needs them.
const validRole = checkerOf(Role)
const validUsername = checkerOf(Username)
const validEmail = checkerOf(Email)
const USER_USAGE = 'usage: latchkey user create|list|set-role|disable|enable|reset-totp …'
const CREATE_USAGE = 'usage: latchkey user create --username U --email E [--role admin|user] [--password-stdin]'

async function userCommand (args: string[]): Promise<void> {
  const [action, ...rest] = args
  if (!['create', 'list', 'set-role', 'disable', 'enable', 'reset-totp'].includes(action)) throw new UsageError(USER_USAGE)
  let parsed
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        username: { type: 'string' },
        email: { type: 'string' },
        role: { type: 'string', default: 'user' },
        'password-stdin': { type: 'boolean', default: false }
      }
    })
  } catch (err) {
    // Unknown options and missing values are the user's mistake: one line, no stack trace.
    throw new UsageError(`${(err as Error).message}\n${action === 'create' ? CREATE_USAGE : USER_USAGE}`)
  }
  const { values, positionals } = parsed
  // Check the arguments before the database is opened (or created) and before a password is asked for.
  if (action === 'create') {
    if (!values.username || !values.email) throw new UsageError(CREATE_USAGE)
    // The API's own schemas: a user the CLI creates is one POST /auth/register would take.
    if (!validRole(values.role)) throw new UsageError('--role must be admin or user')
    if (!validUsername(values.username)) throw new UsageError('--username must be 3–32 characters of A-Z a-z 0-9 _ . -')
    if (!validEmail(values.email)) throw new UsageError('--email must be a valid email address')
  }
  if (action === 'set-role' && !validRole(positionals[1])) {
    throw new UsageError('usage: latchkey user set-role USERNAME admin|user')
  }
  const config = loadConfig()
  await withServices(config, async (store, services) => {
    const service = services.users
    const find = async (name: string | undefined) => {
      if (!name) throw new UsageError(`usage: latchkey user ${action} USERNAME`)
      const user = await service.findByLogin(name)
      if (user === undefined) throw new UsageError(`no user named ${name}`)
      return user
    }
    switch (action) {
      case 'create': {
        const username = values.username!
        const email = values.email!
        if (await service.findByLogin(username) !== undefined) throw new UsageError(`user ${username} already exists`)
        if (await service.findByLogin(email) !== undefined) throw new UsageError(`a user with email ${email.toLowerCase()} already exists`)
        const password = await readPassword(values['password-stdin'])
        // The operator vouches for the address: CLI-created users start verified (API.md).
        const user = await service.register({ username, email, password, role: values.role as Role, emailVerified: true }, { actorId: null })
        console.log(`Created ${user.role} ${user.username} (id ${user.id}).`)
        return
      }
      case 'list': {
        const rows = await store.allUsers()
        console.log(['id', 'username', 'email', 'role', 'disabled'].join('\t'))
        for (const u of rows) console.log([u.id, u.username, u.email, u.role, u.disabled ? 'yes' : 'no'].join('\t'))
        return
      }
      case 'set-role': {
        const role = positionals[1] as Role
        const user = await service.setRoleOrDisabled((await find(positionals[0])).id, { role }, { actorId: null })
        console.log(`${user!.username} is now ${role}.`)
        return
      }
      case 'reset-totp': {
        if (!values.username) throw new UsageError('usage: latchkey user reset-totp --username U')
        const user = await find(values.username)
        await resetTotp(store, user.id, { actorId: null }, services.audit)
        console.log(`${user.username}'s TOTP is off${user.totpEnabled ? '' : ' (it was not on)'}: they sign in with their password alone.`)
        return
      }
      default: {
        // disable | enable
        const user = await service.setRoleOrDisabled((await find(positionals[0])).id, { disabled: action === 'disable' }, { actorId: null })
        console.log(`${user!.username} is ${action}d${action === 'disable' ? '; their sessions have ended' : ''}.`)
      }
    }
  })
}

/** The store and the services, as the server builds them, for one command; the store is closed after. */
async function withServices<T> (config: Config, fn: (store: Store, services: Services) => Promise<T>): Promise<T> {
  const store = await openStore(config)
  try {
    return await fn(store, createServices(store, config))
  } finally {
    await store.close()
  }
}

async function keysCommand (args: string[]): Promise<void> {
  const [action, kid] = args
  const config = loadConfig()
  // On PostgreSQL the keys are the fleet's, in the database: a change reaches every running instance within
  // KEY_REFRESH_INTERVAL seconds. On SQLite they are files, read at start.
  const when = config.DATABASE_URL === undefined ? 'from their next start' : `within ${config.KEY_REFRESH_INTERVAL} s (KEY_REFRESH_INTERVAL)`
  await withServices(config, async (store, { audit }) => {
    const keyStore = signingKeys(store, config.DATABASE_PATH)
    switch (action) {
      case 'rotate': {
        const key = await keyStore.rotate()
        await audit.record({ type: 'keys.rotated', actorId: null, detail: { kid: key.kid } })
        console.log(`Added key ${key.kid}. Running servers sign with it ${when}; older keys keep verifying.`)
        return
      }
      case 'list': {
        const keys = await keyStore.list()
        keys.forEach((k, i) => console.log(`${k.kid}\t${k.createdAt.toISOString()}\t${i === keys.length - 1 ? 'signing' : 'verify-only'}`))
        if (keys.length === 0) console.log('No keys yet: they are created on first start.')
        return
      }
      case 'retire': {
        if (!kid) throw new UsageError('usage: latchkey keys retire KID')
        try {
          await keyStore.retire(kid)
        } catch (err) {
          throw new UsageError((err as Error).message)
        }
        console.log(`Retired ${kid}: tokens it signed stop verifying ${when}.`)
        return
      }
      default:
        throw new UsageError('usage: latchkey keys rotate|list|retire KID')
    }
  })
}

/** `latchkey db copy --to postgres://…`: the SQLite database at DATABASE_PATH into an empty PostgreSQL one. */
async function dbCommand (args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { to: { type: 'string' } }, allowPositionals: true, strict: false })
  const to = values.to
  if (args[0] !== 'copy' || typeof to !== 'string') throw new UsageError('usage: latchkey db copy --to postgres://user:password@host:5432/database')
  const config = loadConfig()
  try {
    const target = new URL(to)
    if (!['postgres:', 'postgresql:'].includes(target.protocol)) throw new Error('scheme')
  } catch {
    throw new UsageError('--to must be a postgres:// or postgresql:// URL')
  }
  const { copySqliteToPostgres, CopyRefused } = await import('./db/copy.js')
  try {
    const { counts } = await copySqliteToPostgres(config.DATABASE_PATH, to)
    for (const [table, n] of Object.entries(counts)) console.log(`${table}\t${n}`)
    console.log(`Copied ${config.DATABASE_PATH} into PostgreSQL. Start the servers with DATABASE_URL set to it.`)
  } catch (err) {
    if (err instanceof CopyRefused) throw new UsageError(err.message)
    throw err
  }
}

async function main (argv: string[]): Promise<void> {
  const [command = 'serve', ...rest] = argv
  switch (command) {
    case '--help': case '-h': case 'help':
      console.log(HELP)
      return
    case '--version': case '-v': case 'version':
      console.log(version)
      return
    case 'serve': {
      const { startServer } = await import('./server.js')
      await startServer(loadConfig())
      return
    }
    case 'migrate': {
      const config = loadConfig()
      await (await openStore(config)).close()
      // Never the URL: it may carry a password.
      console.log(`Migrations applied to ${config.DATABASE_URL === undefined ? config.DATABASE_PATH : 'the PostgreSQL database (DATABASE_URL)'}.`)
      return
    }
    case 'db': return await dbCommand(rest)
    case 'user': return await userCommand(rest)
    case 'keys': return await keysCommand(rest)
    case 'audit': return auditCommand(rest, loadConfig, (message) => new UsageError(message))
    case 'import': {
      const { importCommand } = await import('./import/command.js')
      process.exitCode = await importCommand(rest, loadConfig)
      return
    }
    default:
      throw new UsageError(`unknown command "${command}"; see latchkey --help`)
  }
}

/** One sentence for the errors a newcomer can hit; a stack trace only for real bugs. */
async function explain (err: unknown): Promise<string | undefined> {
  if (err instanceof ConfigError) return err.message
  if (err instanceof UsageError) return err.message
  if (err instanceof KeyFileError) return err.message
  // Only PostgreSQL raises it; its module (and pg) is loaded then, never for SQLite.
  if (err instanceof Error && err.name === 'SchemaTooNewError' && err instanceof (await import('./db/postgres.js')).SchemaTooNewError) return err.message
  if (err instanceof TotpKeyError) return err.message
  if (err instanceof DomainError) {
    return err.errors?.length ? err.errors.map((e) => `${e.field.slice(1)} ${e.message}`).join('; ') : err.message
  }
  const e = err as NodeJS.ErrnoException & { address?: string, port?: number }
  if (e.code === 'EADDRINUSE') return `port ${e.port ?? ''} is already in use: stop the other server or set PORT`
  if (e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS') return `permission denied: ${e.path ?? e.address ?? e.message} (check DATABASE_PATH and the data directory)`
  if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return `cannot create the data directory ${e.path ?? ''}: ${e.code === 'ENOTDIR' ? 'a file is in the way' : 'its parent cannot hold folders'} (check DATABASE_PATH)`
  if (e.code === 'EADDRNOTAVAIL') return `cannot listen on ${e.address ?? 'HOST'}: set HOST to an address of this machine`
  // drizzle wraps the driver's error (DrizzleQueryError keeps it in `cause`) in a message that lists the
  // bound values: usernames, emails, imported hashes. Only the code and the driver's own message are printed.
  const driver = driverError(err)
  if (driver?.code === 'SQLITE_CANTOPEN') return 'cannot open the database file: check that DATABASE_PATH and its folder are writable'
  if (driver !== undefined) return `database error (${driver.code}): ${driver.message}`
  return undefined
}

main(process.argv.slice(2)).catch(async (err: unknown) => {
  const sentence = await explain(err)
  if (sentence !== undefined) console.error(`latchkey: ${sentence}`)
  else console.error(err)
  process.exitCode = 1
})
