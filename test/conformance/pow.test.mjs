// NIP-13: with --min-pow N, events whose id has fewer than N leading zero
// bits are refused with pow:, and mined ones are accepted.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { getPow, minePow } from 'nostr-tools/nip13'
import { finalizeEvent } from 'nostr-tools/pure'
import { LIMITS, accept, assertAlive, checkLimits, connect, fetchInfo, newKey, now, query, refuse, sign, skipUnless } from './lib.mjs'

const skip = skipUnless('pow')
const difficulty = LIMITS.min_pow_difficulty

describe('NIP-13 minimum proof of work', { skip }, () => {
  test('an unmined event is refused with pow:', async t => {
    assert.ok(difficulty > 0, 'CAIRN_LIMITS.min_pow_difficulty not set')
    const relay = await connect(t)
    const key = newKey()
    let ev
    for (let i = 0; !ev || getPow(ev.id) >= difficulty; i++) ev = sign(key, { content: `lazy ${i}` })
    await refuse(relay, ev, 'pow:')
    await assertAlive(relay)
  })

  test('a mined event is accepted and served', async t => {
    const relay = await connect(t)
    const key = newKey()
    const mined = minePow({ kind: 1, tags: [], content: 'worked for it', created_at: now(), pubkey: key.pk }, difficulty)
    const ev = finalizeEvent(mined, key.sk)
    assert.equal(ev.id, mined.id)
    assert.ok(getPow(ev.id) >= difficulty)
    assert.deepEqual(ev.tags.find(t => t[0] === 'nonce')?.[2], String(difficulty))
    await accept(relay, ev)
    assert.deepEqual((await query(relay, [{ ids: [ev.id] }])).map(e => e.id), [ev.id])
  })

  test('NIP-11 limitation matches the flags', async () => {
    checkLimits(await fetchInfo())
  })
})
