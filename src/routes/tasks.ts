// /tasks: CRUD over the signed-in user's own tasks; another user's task is a 404, as if absent.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { notFound } from '../errors.js'
import { bearer, Cursor, IdParams, Limit, NoContent, Page, problems } from '../schemas/common.js'
import { CreateTaskBody, TaskResponse, UpdateTaskBody } from '../schemas/tasks.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate)

  app.get('/tasks', {
    schema: {
      tags: ['tasks'],
      summary: 'List my tasks',
      security: bearer,
      querystring: Type.Object({ limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) }),
      response: { 200: Page(TaskResponse, 'A page of tasks, by id ascending'), ...problems(401, 422) }
    }
  }, async (request) => await app.tasks.list(request.account.id, { limit: request.query.limit ?? 20, cursor: request.query.cursor }))

  app.post('/tasks', {
    schema: {
      tags: ['tasks'],
      summary: 'Create a task',
      security: bearer,
      body: CreateTaskBody,
      response: { 201: TaskResponse, ...problems(400, 401, 413, 415, 422) }
    }
  }, async (request, reply) => {
    const task = await app.tasks.create(request.account.id, request.body)
    return reply.code(201).header('location', `/tasks/${task.id}`).send(task)
  })

  app.get('/tasks/:id', {
    schema: {
      tags: ['tasks'],
      summary: 'Get a task',
      security: bearer,
      params: IdParams,
      response: { 200: TaskResponse, ...problems(401, 404) }
    }
  }, async (request) => await app.tasks.get(request.account.id, request.params.id) ?? Promise.reject(notFound('Task not found')))

  app.patch('/tasks/:id', {
    schema: {
      tags: ['tasks'],
      summary: 'Update a task',
      security: bearer,
      params: IdParams,
      body: UpdateTaskBody,
      response: { 200: TaskResponse, ...problems(400, 401, 404, 413, 415, 422) }
    }
  }, async (request) => await app.tasks.update(request.account.id, request.params.id, request.body) ?? Promise.reject(notFound('Task not found')))

  app.delete('/tasks/:id', {
    schema: {
      tags: ['tasks'],
      summary: 'Delete a task',
      security: bearer,
      params: IdParams,
      response: { 204: NoContent, ...problems(401, 404) }
    }
  }, async (request, reply) => {
    if (!await app.tasks.remove(request.account.id, request.params.id)) throw notFound('Task not found')
    return reply.code(204).send(null)
  })
}

export default routes
