/**
 * JetStream API errors as `NatsError` reasons: the one place that reads the
 * server's error codes and texts. Shared by both adapters (the in-memory
 * server answers with the same codes and texts as nats-server), so they fail
 * alike, and callers branch on reasons, never on codes or texts.
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
  StreamNameExists: 10058,
  StreamNotFound: 10059,
  StreamSealed: 10109,
  StreamStoreFailed: 10077,
  StreamMessageExceedsMaximum: 10054,
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
    case ApiCodes.StreamNameExists:
      return fail(new NatsError.StreamExists({ stream: context.stream ?? "", message: `${context.operation}: ${description}` }))
    case ApiCodes.StreamSealed:
      return fail(new NatsError.StreamSealed({ stream: context.stream ?? "", message: `${context.operation}: ${description}` }))
    case ApiCodes.StreamWrongLastSequence:
    case ApiCodes.WrongLastSequenceUnknown: {
      const current = wrongLastSequence.exec(description)
      return fail(
        new NatsError.WrongLastSequence({
          subject: context.subject ?? "",
          current: current === null ? undefined : Number(current[1]),
          message: `${at(context)}: ${description}`
        })
      )
    }
    case ApiCodes.StreamStoreFailed: {
      const limit = storageLimit(description)
      if (limit !== undefined) {
        return fail(
          new NatsError.StorageLimitExceeded({
            stream: context.stream ?? "",
            limit,
            message: `${context.operation}: ${description}`
          })
        )
      }
      break
    }
    case ApiCodes.StreamMessageExceedsMaximum:
      return fail(
        new NatsError.StorageLimitExceeded({
          stream: context.stream ?? "",
          limit: "message size",
          message: `${context.operation}: ${description}`
        })
      )
    case ApiCodes.ExpectedStreamMismatch:
    case ApiCodes.WrongLastMsgId:
      return fail(new NatsError.ExpectationFailed({ errCode, message: description }))
    case ApiCodes.JetStreamNotEnabledForAccount:
      return fail(new NatsError.JetStreamNotEnabled({ message: description }))
  }
  return fail(new NatsError.JetStreamApiError({ code, errCode, message: `${context.operation}: ${description}` }))
}

// nats-server: "wrong last sequence: 12"
const wrongLastSequence = /wrong last sequence: (\d+)/

// nats-server's store errors for a full stream with the discard-new policy
// (`ErrMaxBytes`, `ErrMaxMsgs`, `ErrMaxMsgsPerSubject`).
const storageLimit = (description: string): NatsError.StorageLimitExceeded["limit"] | undefined =>
  /maximum bytes exceeded/i.test(description)
    ? "bytes"
    : /maximum messages per subject exceeded/i.test(description)
    ? "messages per subject"
    : /maximum messages exceeded/i.test(description)
    ? "messages"
    : undefined

/** The answer of a get for a message that is not there (a `None`, not a failure). */
export const isNoMessageFound = (error: NatsError.NatsError): boolean =>
  error.reason._tag === "JetStreamApiError" && error.reason.errCode === ApiCodes.NoMessageFound

/** The operation and its subject, to begin an error's message. */
export const at = (context: ErrorContext): string =>
  context.subject === undefined ? context.operation : `${context.operation} '${context.subject}'`

// The failures both drivers report in the same words.

/** Nobody answered in time. */
export const timedOut = (context: ErrorContext): NatsError.NatsError =>
  fail(new NatsError.TimeoutError({ operation: context.operation, subject: context.subject, message: `${at(context)} timed out` }))

/** A request found nobody subscribed to its subject. */
export const noResponders = (subject: string): NatsError.NatsError =>
  fail(new NatsError.NoResponders({ subject, message: `no responders on '${subject}'` }))

/** A JetStream publish found no stream capturing its subject. */
export const noStreamCaptures = (subject: string): NatsError.NatsError =>
  fail(new NatsError.NoResponders({ subject, message: `no stream captures subject '${subject}'` }))

/** Nobody answers the JetStream API. */
export const jetStreamNotEnabled = (context: ErrorContext): NatsError.NatsError =>
  fail(new NatsError.JetStreamNotEnabled({ message: `${context.operation}: JetStream is not enabled` }))

/** A bad argument caught before anything is sent. */
export const badRequest = (context: ErrorContext, message: string): NatsError.NatsError =>
  fail(new NatsError.JetStreamApiError({ code: 400, errCode: 0, message: `${context.operation}: ${message}` }))
