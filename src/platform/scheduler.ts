/**
 * The next turn of the event loop, on any platform: `setImmediate` where there is one (Node),
 * else a `MessageChannel` message (browsers, workers: not clamped like nested `setTimeout`), else
 * `setTimeout(0)`. Work queued here runs after the I/O already due, so a burst of commands in one
 * turn leaves as one push, and a long sync does not starve sockets and timers.
 *
 * @packageDocumentation
 */

type Immediate = (fn: () => void) => unknown

let channel: { queue: Array<() => void>; port: MessagePort } | undefined

function viaChannel(fn: () => void): void {
  if (channel === undefined) {
    const mc = new MessageChannel()
    const queue: Array<() => void> = []
    mc.port1.onmessage = () => queue.shift()?.()
    channel = { queue, port: mc.port2 }
  }
  channel.queue.push(fn)
  channel.port.postMessage(0)
}

/**
 * Run `fn` on the next macrotask.
 *
 * @example
 * ```ts
 * nextMacrotask(() => flushOutbox())
 * ```
 */
export function nextMacrotask(fn: () => void): void {
  // Looked up at each call, not once: test fake timers replace the global.
  const immediate = (globalThis as { setImmediate?: Immediate }).setImmediate
  if (typeof immediate === 'function') immediate(fn)
  else if (typeof MessageChannel === 'function') viaChannel(fn)
  else setTimeout(fn, 0)
}

/** A promise that resolves on the next macrotask. */
export function macrotask(): Promise<void> {
  return new Promise((resolve) => nextMacrotask(resolve))
}

/** `setTimeout` whose timer never keeps a Node process alive (`unref` where the platform has it). */
export function backgroundTimeout(fn: () => void, ms: number): ReturnType<typeof setTimeout> {
  const timer = setTimeout(fn, ms)
  ;(timer as { unref?: () => void }).unref?.()
  return timer
}

/** `setInterval` that never keeps a Node process alive. */
export function backgroundInterval(fn: () => void, ms: number): ReturnType<typeof setInterval> {
  const timer = setInterval(fn, ms)
  ;(timer as { unref?: () => void }).unref?.()
  return timer
}

/**
 * The time now (ms since the epoch), read from `Date.now` at each call: never a reference taken
 * once, so every part of the sync service reads the same clock (tests may move it).
 */
export function wallClock(): number {
  return Date.now()
}
