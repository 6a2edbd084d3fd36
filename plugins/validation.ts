// Schema validation: JSON bodies are checked strictly (no coercion, unknown fields dropped), query strings coerced.
// Given to Fastify as its schemaController's compilers factory (https://fastify.dev/docs/latest/Reference/Server/#schemacontroller),
// so every context, including one that adds schemas of its own, gets these compilers without a per-context hook.
// Validators and response serializers are compiled on a route's first request, not at start-up: compiling
// every route's AJV validator and fast-json-stringify serializer was a quarter of the start-up time.
import type { FastifySchemaCompiler, FastifySchemaValidationError, FastifyServerOptions } from 'fastify'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import type { Ajv } from 'ajv'
import { makeAjv } from '../src/schemas/ajv.js'

type Factory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>
type BuildValidator = NonNullable<Factory['buildValidator']>
type BuildSerializer = NonNullable<Factory['buildSerializer']>

type Validate = ((data: unknown, context?: object) => boolean) & { errors?: FastifySchemaValidationError[] | null }

/**
 * A validator that compiles on its first call and then is the compiled AJV function, to Fastify
 * indistinguishable from it: the same result, the same `errors` after a failure, and `schemaEnv` set as on
 * every AJV function, so Fastify passes the parent (AJV can then coerce or default a root value in place).
 */
function compiledOnFirstUse (compile: () => Validate): Validate {
  let validate: Validate | undefined
  const check = ((data: unknown, context?: object) => (validate ??= compile())(data, context)) as Validate & { schemaEnv: true }
  Object.defineProperty(check, 'errors', { get: () => validate?.errors, enumerable: true })
  check.schemaEnv = true
  return check
}

/** One pair of AJV instances per schema set (Fastify calls this again for a context that adds schemas), made on first use. */
const buildValidator = (externalSchemas: unknown): FastifySchemaCompiler<unknown> => {
  const withSchemas = (ajv: Ajv): Ajv => {
    for (const schema of Object.values(externalSchemas as Record<string, object>)) ajv.addSchema(schema)
    return ajv
  }
  let bodies: Ajv | undefined
  let strings: Ajv | undefined
  // API.md: `"id": "5"` for an integer is a 422, and unknown JSON fields are ignored, never applied.
  const bodyAjv = () => (bodies ??= withSchemas(makeAjv({ coerceTypes: false, removeAdditional: 'all' })))
  // Query strings and path parameters are text on the wire: `?limit=10` is the number 10.
  const stringAjv = () => (strings ??= withSchemas(makeAjv({ coerceTypes: 'array', removeAdditional: true })))
  return ({ schema, httpPart }) => compiledOnFirstUse(() => (httpPart === 'body' ? bodyAjv() : stringAjv()).compile(schema as object) as Validate)
}

/** Fastify's own serializer compiler (fast-json-stringify), each route's serializer built on its first response. */
const defaultSerializers = SerializerSelector()
const buildSerializer = (externalSchemas: unknown, serializerOpts: unknown) => {
  const compile = defaultSerializers(externalSchemas as never, serializerOpts as never)
  return (route: Parameters<typeof compile>[0]) => {
    let serialize: ((data: unknown) => string) | undefined
    return (data: unknown) => (serialize ??= compile(route))(data)
  }
}

/** `Fastify({ schemaController })`: the validators and serializers of every route context. */
// The casts: @fastify/ajv-compiler's factory type names AJV's compile signature, which Fastify calls as FastifySchemaCompiler.
export const schemaController = {
  compilersFactory: {
    buildValidator: buildValidator as unknown as BuildValidator,
    buildSerializer: buildSerializer as unknown as BuildSerializer
  }
}
