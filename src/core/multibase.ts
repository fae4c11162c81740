import * as base16 from 'multiformats/bases/base16'
import * as base32 from 'multiformats/bases/base32'
import * as base36 from 'multiformats/bases/base36'
import * as base58 from 'multiformats/bases/base58'
import * as base64 from 'multiformats/bases/base64'
import type { MultibaseCodec, MultibaseDecoder } from 'multiformats/bases/interface'

/**
 * The multibase encodings a thread ID or key string is read from: the base16, base32, base36,
 * base58 and base64 families (every case and padding variant multiformats has). Not the
 * identity, base2, base8, base10 or base256emoji encodings: nobody writes a key in them, and
 * their decoders cost a page about 5 KiB of code (docs/PACKAGING.md, "Weight").
 */
const decoders = new Map<string, MultibaseDecoder<string>>(
  [base16, base32, base36, base58, base64]
    .flatMap((family) => Object.values(family) as Array<MultibaseCodec<string>>)
    .map((b) => [b.prefix, b.decoder])
)

/** A decoder for the multibase encodings above; the prefix character picks one. */
export const anyBase = {
  decode(text: string): Uint8Array {
    const prefix = String.fromCodePoint(text.codePointAt(0) ?? 0)
    const decoder = decoders.get(prefix)
    if (decoder === undefined) throw new Error(`unknown multibase prefix ${JSON.stringify(prefix)}`)
    return decoder.decode(text)
  }
}
