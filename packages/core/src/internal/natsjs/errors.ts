/**
 * nats.js errors and JetStream API errors as `NatsError` reasons.
 */
import {
  AuthorizationError,
  ClosedConnectionError,
  ConnectionError as NatsJsConnectionError,
  DrainingConnectionError,
  InvalidSubjectError,
  PermissionViolationError,
  RequestError,
  TimeoutError as NatsJsTimeoutError,
  UserAuthenticationExpiredError
} from "@nats-io/nats-core"
import { JetStreamApiError as NatsJsApiError, JetStreamStatusError, jserrors } from "@nats-io/jetstream/internal"
import * as NatsError from "../../NatsError.ts"

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

const at = (context: ErrorContext) => context.subject === undefined ? context.operation : `${context.operation} '${context.subject}'`

/** Any error thrown or rejected by nats.js, classified. */
export const fromNatsJs = (cause: unknown, context: ErrorContext): NatsError.NatsError => {
  if (NatsError.isNatsError(cause)) return cause
  if (cause instanceof NatsJsApiError) return fromApiError(cause.status, cause.code, cause.message, context)
  if (cause instanceof jserrors.JetStreamNotEnabled) {
    return fail(new NatsError.JetStreamNotEnabled({ message: `${context.operation}: JetStream is not enabled` }))
  }
  if (cause instanceof InvalidSubjectError) {
    return fail(new NatsError.InvalidSubject({ subject: context.subject ?? "", message: cause.message }))
  }
  if (
    cause instanceof AuthorizationError || cause instanceof UserAuthenticationExpiredError ||
    cause instanceof PermissionViolationError
  ) {
    return fail(new NatsError.AuthenticationError({ message: `${at(context)}: ${cause.message}`, cause }))
  }
  if (
    cause instanceof NatsJsConnectionError || cause instanceof ClosedConnectionError ||
    cause instanceof DrainingConnectionError
  ) {
    return fail(new NatsError.ConnectionError({ message: `${at(context)}: ${cause.message}`, cause }))
  }
  if (cause instanceof NatsJsTimeoutError) {
    return fail(
      new NatsError.TimeoutError({
        operation: context.operation,
        subject: context.subject,
        message: `${at(context)} timed out`
      })
    )
  }
  if (cause instanceof RequestError) {
    if (cause.isNoResponders()) {
      return fail(
        new NatsError.NoResponders({
          subject: context.subject ?? "",
          message: `no responders on '${context.subject ?? ""}'`
        })
      )
    }
    if (cause.cause !== undefined) return fromNatsJs(cause.cause, context)
    // "connection closed" / "connection disconnected" while waiting for the reply
    return fail(new NatsError.ConnectionError({ message: `${at(context)}: ${cause.message}`, cause }))
  }
  if (cause instanceof JetStreamStatusError) {
    // a status answered to a consumer's pull (409 consumer deleted, 400 bad request, ...)
    return fail(
      new NatsError.JetStreamApiError({ code: cause.code, errCode: 0, message: `${at(context)}: ${cause.message}` })
    )
  }
  if (cause instanceof jserrors.InvalidNameError) return badRequest(context, cause.message)
  return fail(new NatsError.UnknownError({ message: `${at(context)}: ${messageOf(cause)}`, cause }))
}

/** A bad argument caught before anything is sent. */
export const badRequest = (context: ErrorContext, message: string): NatsError.NatsError =>
  fail(new NatsError.JetStreamApiError({ code: 400, errCode: 0, message: `${context.operation}: ${message}` }))
