/**
 * FINDING (high): the list helper's result depends on `stamp.local`, which differs between peers
 * for the same event at the same place in the order. `remove` (src/db/crdt/list.ts:231-234)
 * throws for a delete naming an element the list does not hold when `local` is true, but deletes
 * the elements it does hold when `local` is false. `local` is not only true "at the tip": the
 * engine sets it for every event of this peer's own log, in every refold (openEvents.ts:74,
 * threadEngine.ts:680, load.ts:113). So when an element the author deleted is missing on a refold
 * (its insert is later refused: an ID clash with an event that sorts before it, as here; or cut by
 * a revocation or an owner's delete the author had not seen), the author skips its whole delete
 * while every other peer applies it partially: the author keeps showing elements everyone else
 * deleted. Forever: nothing reconciles.
 * Here: an observer inserts ['a', 'b'] (ids X, X:1); the author deletes both; a writer whose event
 * sorts first (clock 1) inserted its own element `X:1`, so the observer's insert is refused on
 * every peer, and the author's delete meets `X` missing.
 * Fix: never let `local` change what a fold computes; the "refuse a local command" check belongs
 * in the payload maker / at the tip only (e.g. a separate validation pass before the command is
 * made), and the fold must treat every event alike (delete what is held, ignore the rest).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { listValues, makeListDelete, makeListInsert } from '../../../src/db/crdt/index.js'
import { board, closeAll, deliver, exchangeAll, issue, makeDbGroup, type DbPeer } from '../support.js'

let peers: DbPeer[] = []
afterEach(async () => {
  await closeAll(peers)
  peers = []
})

describe('a list delete by its author and by everyone else', () => {
  it('folds to the same list on the author as on every other peer', async () => {
    peers = await makeDbGroup(3)
    const [observer, author, rogue] = peers as [DbPeer, DbPeer, DbPeer]
    // The observer's insert sorts at clock 3.
    issue(observer, board.actions.liked({ add: 1 }))
    issue(observer, board.actions.liked({ add: 1 }))
    issue(observer, board.actions.listed(makeListInsert(null, ['a', 'b'], 'X')))
    await deliver(observer, author)
    // The author deletes both elements it sees.
    issue(author, board.actions.listed(makeListDelete(['X', 'X:1'])))
    // A writer that has seen nothing (its clock is 1, so it sorts first) holds an element `X:1`.
    issue(rogue, board.actions.listed(makeListInsert(null, ['evil'], 'X:1')))
    await exchangeAll(peers)
    await Promise.all(peers.map((p) => p.peer.idle()))
    const lists = peers.map((p) => listValues(p.store.getState().board.items))
    expect(lists[1]).toEqual(lists[0])
    expect(lists[2]).toEqual(lists[0])
  })
})
