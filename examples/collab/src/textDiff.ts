/**
 * What one edit of a <textarea> changed: the single run between the text before and after it
 * (common prefix and suffix), in UTF-16 offsets as the textarea counts them, never splitting a
 * surrogate pair (the text CRDT holds whole code points).
 */
export function diff(a: string, b: string): { start: number; removed: number; inserted: string } {
  let start = 0
  while (start < a.length && start < b.length && a[start] === b[start]) start++
  if (start > 0 && isHigh(a.charCodeAt(start - 1))) start--
  let end = 0
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end++
  if (end > 0 && isHigh(a.charCodeAt(a.length - end - 1)) && a.length - end - 1 >= start) end--
  return { start, removed: a.length - start - end, inserted: b.slice(start, b.length - end) }
}

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff

