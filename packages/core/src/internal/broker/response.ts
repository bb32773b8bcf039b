/**
 * A handler's reply with headers of its own (FastStream's `Response`): the
 * body is encoded as any result is, the headers go on the reply, a
 * correlation id set here replaces the request's.
 */
import type { HeadersInput } from "../../NatsClient.ts"

export class Response<A> {
  readonly body: A
  readonly headers: HeadersInput | undefined
  readonly correlationId: string | undefined
  constructor(body: A, options: { readonly headers?: HeadersInput | undefined; readonly correlationId?: string | undefined }) {
    this.body = body
    this.headers = options.headers
    this.correlationId = options.correlationId
  }
}

/** The body of a result: a `Response`'s, or the result itself. */
export const bodyOf = (value: unknown): unknown => value instanceof Response ? value.body : value
