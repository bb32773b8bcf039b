/**
 * Errors thrown or rejected by nats.js as `NatsError` reasons, by their
 * nats.js class; answers of the JetStream API go to the shared classifier
 * (`../apiErrors.ts`).
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
import {
  at,
  badRequest,
  type ErrorContext,
  fail,
  fromApiError,
  jetStreamNotEnabled,
  messageOf,
  noResponders,
  timedOut
} from "../apiErrors.ts"


/** Any error thrown or rejected by nats.js, classified. */
export const fromNatsJs = (cause: unknown, context: ErrorContext): NatsError.NatsError => {
  if (NatsError.isNatsError(cause)) return cause
  if (cause instanceof NatsJsApiError) return fromApiError(cause.status, cause.code, cause.message, context)
  if (cause instanceof jserrors.JetStreamNotEnabled) {
    return jetStreamNotEnabled(context)
  }
  if (cause instanceof InvalidSubjectError) {
    return fail(new NatsError.InvalidSubject({ subject: context.subject ?? "", message: cause.message }))
  }
  // nats.js's `AuthorizationError` is the server refusing the credentials.
  if (cause instanceof AuthorizationError || cause instanceof UserAuthenticationExpiredError) {
    return fail(new NatsError.AuthenticationError({ message: `${at(context)}: ${cause.message}`, cause }))
  }
  if (cause instanceof PermissionViolationError) {
    return fail(
      new NatsError.AuthorizationError({ subject: cause.subject, message: `${at(context)}: ${cause.message}`, cause })
    )
  }
  if (
    cause instanceof NatsJsConnectionError || cause instanceof ClosedConnectionError ||
    cause instanceof DrainingConnectionError
  ) {
    return fail(new NatsError.ConnectionError({ message: `${at(context)}: ${cause.message}`, cause }))
  }
  if (cause instanceof NatsJsTimeoutError) {
    return timedOut(context)
  }
  if (cause instanceof RequestError) {
    if (cause.isNoResponders()) {
      return noResponders(context.subject ?? "")
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

