// The one AJV set-up (options and formats) behind request validation, the CLI's argument checks and `latchkey import`.
import { Ajv, type Options } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { TSchema } from '@sinclair/typebox'

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default

export function makeAjv (options: Options = {}): Ajv {
  // verbose: errors carry their schema, so plugins/errors.ts can state a pattern's own sentence.
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true, ...options })
  addFormats(ajv)
  return ajv
}

// Made on the first checker: serving never needs it.
let standalone: Ajv | undefined

/**
 * A predicate that is true exactly when a JSON body field with this schema would pass the API's validation.
 * Compiled on its first call, so a module may make its checkers at load time for free.
 */
export const checkerOf = (schema: TSchema): (value: unknown) => boolean => {
  let validate: ((value: unknown) => boolean) | undefined
  return (value) => (validate ??= (standalone ??= makeAjv({ coerceTypes: false })).compile(schema))(value)
}
