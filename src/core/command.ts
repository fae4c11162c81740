import * as dagCbor from '@ipld/dag-cbor'
import { MalformedRecordError, TooLargeError } from './errors.js'

/** A command as it is stored in an event body: a Redux action, without functions or undefined. */
export interface Command {
  readonly type: string
  readonly payload?: unknown
  readonly meta?: unknown
  readonly error?: boolean
}

/**
 * Reject a command of more than this many encoded bytes (992 KiB): padded to its size bucket
 * (at most 16 KiB more at this size) and encrypted, it must fit in a 1 MiB body block.
 */
export const MAX_COMMAND_BYTES = (1 << 20) - (32 << 10)

/**
 * Encode an action as an event body (dag-cbor). Top-level `undefined` fields are dropped, as
 * RTK action creators leave `payload: undefined`; anything dag-cbor cannot hold (a Date, a
 * function, `undefined` deeper down, a non-integer NaN) is refused with a message that names it.
 *
 * @example
 * ```ts
 * import { encodeCommand, decodeCommand } from 'redux-p2p-threads'
 * decodeCommand(encodeCommand({ type: 'todos/added', payload: { text: 'milk' } }))
 * ```
 */
export function encodeCommand(action: Command): Uint8Array {
  const body: Record<string, unknown> = { type: action.type }
  if (action.payload !== undefined) body.payload = action.payload
  if (action.meta !== undefined) body.meta = action.meta
  if (action.error !== undefined) body.error = action.error
  let bytes: Uint8Array
  try {
    bytes = dagCbor.encode(body)
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    throw new TypeError(
      `action "${action.type}" cannot be stored: its payload and meta must be plain data that dag-cbor encodes (${reason}). ` +
        'Create ids, dates and random values when the command is created, as strings or numbers.'
    )
  }
  if (bytes.length > MAX_COMMAND_BYTES) throw new TooLargeError(`action "${action.type}" encodes to ${bytes.length} bytes; the limit is ${MAX_COMMAND_BYTES}`)
  return bytes
}

/** Decode an event body back to the command. */
export function decodeCommand(bytes: Uint8Array): Command {
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (cause) {
    throw new MalformedRecordError('event body is not valid dag-cbor', {}, { cause })
  }
  if (typeof value !== 'object' || value === null || typeof (value as { type?: unknown }).type !== 'string') {
    throw new MalformedRecordError('event body is not a command with a string `type`')
  }
  return value as Command
}
