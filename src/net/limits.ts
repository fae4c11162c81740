/**
 * Every bound of the sync protocol, in one place (DESIGN.md section 6: "every resource an input
 * can make a peer spend is bounded per peer and in total, by bytes as well as by count").
 * docs/ARCHITECTURE.md ("Bounds") lists each one with its value and why.
 *
 * Sizes are in bytes, durations in milliseconds, rates per minute unless the name says otherwise.
 * The sync service takes a few of them as options (for tests and unusual deployments); the rest are
 * fixed because peers depend on them (message formats) or because no deployment needs another.
 *
 * @packageDocumentation
 */

// ---------------------------------------------------------------------------------------------
// Wire format

/** The libp2p protocol ID of direct sync messages (version 2: hello/auth handshake, heads with identities). */
export const SYNC_PROTOCOL = '/redux-threads/sync/2.0.0'
/** The `v` field of every sync message. A message of another version is refused. */
export const WIRE_VERSION = 2
/** Largest message accepted or sent. A page or a push stops adding records before this. */
export const MAX_MESSAGE_BYTES = 8 << 20
/** Bytes a `records` message spends beyond its records' blocks (thread, log, flags, CBOR heads); pages keep this free. */
export const MESSAGE_OVERHEAD_BYTES = 1024
/** Bytes a record spends in a `records` message beyond its four blocks (list and byte-string heads). */
export const RECORD_OVERHEAD_BYTES = 32
/** Most records in one message. */
export const MAX_RECORDS_PER_MESSAGE = 1000
/**
 * Records a pull asks for unless the sync service is told otherwise: a whole message's worth
 * (the server still splits a page by bytes). 1,000 instead of 500 halves the pages of a catch-up:
 * 10,000 events into a Chromium page from a Node follower in 2.47 s instead of 3.12 s, measured
 * back to back (stop 15); Node-to-Node replication moved within noise (1.35 s vs 1.51 s).
 */
export const DEFAULT_PULL_LIMIT = 1000
/** Bytes of a `hello` nonce. */
export const NONCE_BYTES = 16
/** Bytes of an `auth` tag (HMAC-SHA256). */
export const TAG_BYTES = 32
/** Most log entries in a `heads` message (and so most logs one peer can name per message). */
export const MAX_LOGS = 10_000
/** Most peers with addresses in one `heads` message. */
export const MAX_ADDR_PEERS = 256
/** Most addresses of one peer, in a message and in the address book. */
export const MAX_ADDRS_PER_PEER = 16
/** Longest multiaddr string accepted. */
export const MAX_ADDR_CHARS = 1000
/** Longest peer or log ID string accepted (an Ed25519 peer ID has 52 characters). */
export const MAX_ID_CHARS = 128
/** Bytes of a thread's gossip topic tag (before base32): 128 bits, so topics of different threads never collide. */
export const TOPIC_TAG_BYTES = 16

// ---------------------------------------------------------------------------------------------
// Handshake (per connection)

/** `auth` tags that match no thread this peer holds, per connection and minute; past it the peer is hung up. */
export const MAX_UNMATCHED_TAGS_PER_MINUTE = 256
/**
 * Thread messages naming a thread the sender has not proved, per connection and minute. They are
 * dropped without a strike (they may have been reordered before the proof); past this the peer is
 * hung up.
 */
export const MAX_UNPROVEN_PER_MINUTE = 256
/** Times this peer sends its `hello` again, or answers a repeated one, per connection (lost messages). */
export const MAX_HELLO_RESENDS = 8
/** Times this peer resends its tag for one thread per connection (its earlier one may have been lost). */
export const MAX_TAG_RESENDS = 8
/** A peer this one dialed must prove a thread within this time, or it is hung up and its learnt addresses dropped. */
export const AUTH_TIMEOUT_MS = 30_000

// ---------------------------------------------------------------------------------------------
// Pulls this peer sends

/** Pulls in flight towards one peer; the rest wait in that peer's want-list. */
export const MAX_PULLS_PER_PEER = 16
/** Pulls in flight for one thread, over all peers. */
export const MAX_PULLS_PER_THREAD = 64
/** Logs one peer's want-list holds (pulls waiting for a free slot); further wants wait for the next heads. */
export const MAX_WANTED_LOGS_PER_PEER = 1024
/** A pull unanswered after this long is asked again, of another peer that has the log if there is one. */
export const PULL_TIMEOUT_MS = 2_000
/** Times one log is asked of one peer without an answer before it waits for that peer's next heads. */
export const MAX_PULL_ATTEMPTS = 3
/** Empty answers to pulls of logs the peer itself advertised, per connection and minute, before each further one is a strike. */
export const MAX_EMPTY_ANSWERS_PER_MINUTE = 16

// ---------------------------------------------------------------------------------------------
// Pulls this peer serves

/** Pull requests queued per peer; one more is a strike and is dropped. */
export const MAX_QUEUED_PULLS_PER_PEER = 32
/** Pull requests of one peer served at a time. */
export const SERVE_CONCURRENCY = 2
/** Bytes of pages served to one peer per second (token bucket). */
export const SERVE_BYTES_PER_SECOND = 16 << 20
/** Bytes of pages one peer may take at once before the rate applies (the bucket's size). */
export const SERVE_BURST_BYTES = 16 << 20
/** Bytes handed to the transport for one peer and not yet taken by it; past this the peer is hung up (a slow reader). */
export const MAX_UNSENT_BYTES_PER_PEER = 32 << 20

// ---------------------------------------------------------------------------------------------
// Misbehaviour

/** Strikes (bad input this peer can blame on the sender) before the sender is banned. */
export const STRIKES_TO_BAN = 3
/** A strike is forgotten after this long. */
export const STRIKE_TTL_MS = 10 * 60_000
/** How long a banned peer is hung up on at once when it connects again. */
export const BAN_MS = 60_000
/** Peers whose strikes, bans and dial backoff are remembered; the oldest are forgotten first. */
export const MAX_TRACKED_PEERS = 4096
/** Records refused as `TooLargeError` (held records over their bound) from one peer per minute before each further one is a strike. */
export const MAX_TOO_LARGE_PER_MINUTE = 16
/**
 * Messages from one peer per minute with records refused as `UnknownServiceKeyError` (sealed
 * under a service key this peer does not hold) before each further one is a strike
 * (`RateLimitedError`). Honest peers send some while a rotation travels; unsigned junk in the
 * `[key ID, box]` form costs nothing to make, so it must not be free for ever.
 */
export const MAX_UNKNOWN_KEY_MESSAGES_PER_MINUTE = 32

// ---------------------------------------------------------------------------------------------
// Addresses and dials

/** How long addresses learnt from peers stay in the address book. */
export const LEARNT_ADDR_TTL = 60 * 60_000
/** Peers with addresses in the address book, per thread. */
export const MAX_KNOWN_PEERS_PER_THREAD = 256
/** New peers one `heads` message may add to the address book. */
export const MAX_NEW_PEERS_PER_HEADS = 32
/** Dials under way at once. */
export const MAX_CONCURRENT_DIALS = 4
/** Dials started per sync round (the budget refills each round, and each default interval without one). */
export const MAX_DIALS_PER_ROUND = 16
/**
 * Longest wait between dials of a peer that keeps failing. The wait is counted in rounds: after a
 * failed dial the peer is dialed again in the next round at the earliest, then every 2nd, 4th, …
 * round, up to this much time's worth of rounds (an hour: 360 rounds of 10 s).
 */
export const DIAL_BACKOFF_MAX_MS = 60 * 60_000
/** A dial that has not connected after this long is abandoned (counts as a failure). */
export const DIAL_TIMEOUT_MS = 10_000

// ---------------------------------------------------------------------------------------------
// Rounds

/** Default time between sync rounds (dial known peers, heads to every peer, retry pulls). */
export const DEFAULT_SYNC_INTERVAL_MS = 10_000
