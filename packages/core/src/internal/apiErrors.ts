/**
 * JetStream API errors as `NatsError` reasons. Shared by both adapters: the
 * in-memory server answers with the same codes and texts as nats-server, and
 * both classify them here, so they fail alike.
 */
import * as NatsError from "../NatsError.ts"

/** What an operation was doing, to name it in the error. */
export interface ErrorContext {
  readonly operation: string
  readonly subject?: string | undefined
  readonly stream?: string | undefined
  readonly consumer?: string | undefined
}

export const fail = (reason: NatsError.NatsErrorReason): NatsError.NatsError => new NatsError.NatsError({ reason })

export const messageOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/** JetStream API error codes (`err_code`) the port names. */
export const ApiCodes = {
  ConsumerNotFound: 10014,
  NoMessageFound: 10037,
  JetStreamNotEnabledForAccount: 10039,
  StreamNotFound: 10059,
  StreamWrongLastSequence: 10071,
  ExpectedStreamMismatch: 10060,
  WrongLastMsgId: 10070,
  WrongLastSequenceUnknown: 10164
} as const

/** An error answered by the JetStream API (`{ code, err_code, description }`). */
export const fromApiError = (
  code: number,
  errCode: number,
  description: string,
  context: ErrorContext
): NatsError.NatsError => {
  switch (errCode) {
    case ApiCodes.StreamNotFound:
      return fail(
        new NatsError.StreamNotFound({
          stream: context.stream ?? "",
          message: context.stream === undefined ? description : `stream '${context.stream}' not found`
        })
      )
    case ApiCodes.ConsumerNotFound:
      return fail(
        new NatsError.ConsumerNotFound({
          stream: context.stream ?? "",
          consumer: context.consumer ?? "",
          message: context.consumer === undefined
            ? description
            : `consumer '${context.consumer}' not found on stream '${context.stream ?? ""}'`
        })
      )
    case ApiCodes.StreamWrongLastSequence:
    case ApiCodes.ExpectedStreamMismatch:
    case ApiCodes.WrongLastMsgId:
    case ApiCodes.WrongLastSequenceUnknown:
      return fail(new NatsError.ExpectationFailed({ errCode, message: description }))
    case ApiCodes.JetStreamNotEnabledForAccount:
      return fail(new NatsError.JetStreamNotEnabled({ message: description }))
    default:
      return fail(new NatsError.JetStreamApiError({ code, errCode, message: `${context.operation}: ${description}` }))
  }
}

/** A bad argument caught before anything is sent. */
export const badRequest = (context: ErrorContext, message: string): NatsError.NatsError =>
  fail(new NatsError.JetStreamApiError({ code: 400, errCode: 0, message: `${context.operation}: ${message}` }))
