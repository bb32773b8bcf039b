/**
 * The NATS side of the RPC protocol: which subjects and headers carry what.
 *
 * - A request is a NATS request to the service subject (so the queue group
 *   picks a replica, and nobody serving it is a no-responders answer at
 *   once). Its body is the encoded `Request`; `Nats-Rpc-Client` names the
 *   client's inbox, `Content-Type` its serialization. The replica answers at
 *   once, empty, with its own subject in `Nats-Rpc-Server`: the call's acks
 *   and interrupts go there. A call it cannot read (another serialization)
 *   is answered with `Nats-Rpc-Op: refused` and the reason as text.
 * - The replica publishes the call's chunks, exits and defects to the
 *   client's inbox, each with `Nats-Rpc-Server`.
 * - A client pings (a NATS request with `Nats-Rpc-Op: ping`) every replica
 *   it has calls on: the reply proves the replica alive, the ping proves the
 *   client alive. `Nats-Rpc-Op: gone` in the reply says the replica has
 *   dropped the client (it was silent too long) and with it the calls.
 *   `Nats-Rpc-Op: disconnect` tells a replica the client is closing.
 *
 * Bodies are encoded by the `RpcSerialization`; control is in headers, so
 * it works the same with every serialization.
 */
import { randomUUID } from "node:crypto"

export const clientHeader = "Nats-Rpc-Client"
export const serverHeader = "Nats-Rpc-Server"
export const opHeader = "Nats-Rpc-Op"
/** The serialization's content type, on a call: a server of another one refuses it. */
export const contentTypeHeader = "Content-Type"

export const ping = "ping"
export const gone = "gone"
export const disconnect = "disconnect"
/** In the answer to a call the replica cannot take; the body says why, as text. */
export const refused = "refused"

export const defaultInboxPrefix = "_INBOX"

/** A subject of its own under `prefix`, for a client's inbox or a replica. */
export const inbox = (prefix: string): string => `${prefix}.${randomUUID().replaceAll("-", "")}`

export const empty = new Uint8Array(0)

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export const text = (data: Uint8Array): string => decoder.decode(data)
export const fromText = (text: string): Uint8Array => encoder.encode(text)

/** What a serialization's parser encoded, as the bytes of a NATS message. */
export const toBytes = (encoded: Uint8Array | string): Uint8Array =>
  typeof encoded === "string" ? encoder.encode(encoded) : encoded
