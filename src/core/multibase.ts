import { bases } from 'multiformats/basics'
import type { MultibaseDecoder } from 'multiformats/bases/interface'

const decoders = new Map<string, MultibaseDecoder<string>>(
  Object.values(bases).map((b) => [b.prefix, b.decoder as MultibaseDecoder<string>])
)

/** A decoder for every multibase encoding multiformats knows; the prefix character picks one. */
export const anyBase = {
  decode(text: string): Uint8Array {
    const prefix = String.fromCodePoint(text.codePointAt(0) ?? 0)
    const decoder = decoders.get(prefix)
    if (decoder === undefined) throw new Error(`unknown multibase prefix ${JSON.stringify(prefix)}`)
    return decoder.decode(text)
  }
}
