// Tasks: the task as the API shows it and the create/update bodies.
import { Type, type Static } from '@sinclair/typebox'

export const Title = Type.String({ minLength: 1, maxLength: 200, description: 'Title (1–200 characters)', examples: ['Buy milk'] })
export const Description = Type.Union([Type.String({ maxLength: 10000 }), Type.Null()], { description: 'Up to 10,000 characters, or null', examples: ['Two litres'] })

export const TaskResponse = Type.Object({
  id: Type.Integer({ examples: [1] }),
  title: Type.String({ examples: ['Buy milk'] }),
  description: Type.Union([Type.String(), Type.Null()]),
  done: Type.Boolean({ examples: [false] }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' })
}, { $id: 'Task', description: 'A task' })

export const CreateTaskBody = Type.Object({
  title: Title,
  description: Type.Optional(Description),
  done: Type.Optional(Type.Boolean({ default: false }))
})

export const UpdateTaskBody = Type.Object({
  title: Type.Optional(Title),
  description: Type.Optional(Description),
  done: Type.Optional(Type.Boolean())
})

export type PublicTask = Static<typeof TaskResponse>
