/**
 * Thread ID variants (paper section 3.2.2), in a module of their own: an app names
 * `Variant.AccessControlled` when it creates a thread, and that must not pull the thread ID codec
 * (multiformats, crypto) into its first bundle chunk.
 */
export const Variant = {
  /** No assumptions beyond the protocol. String form starts `bafk`. */
  Raw: 0x55,
  /** An ACL is composed from the thread's events. String form starts `bafy`. */
  AccessControlled: 0x70
} as const
export type Variant = (typeof Variant)[keyof typeof Variant]
