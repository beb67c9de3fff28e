// NIP-11 relay information, NIP-45 COUNT and NIP-77 negentropy.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
// nostr-tools ships NIP-77 but does not export it; its file is stable across 2.x.
import { Negentropy, NegentropyStorageVector } from './node_modules/nostr-tools/lib/esm/nip77.js'
import { RawConn, accept, checkLimits, connect, fetchInfo, newKey, now, sign, skipUnless, unique } from './lib.mjs'

const skip = skipUnless('open')

describe('NIP-11', { skip }, () => {
  test('the information document names the relay, its NIPs and its limits', async () => {
    const info = await fetchInfo()
    assert.equal(typeof info.name, 'string')
    assert.ok(info.name.length > 0, 'empty name')
    assert.ok(Array.isArray(info.supported_nips), 'supported_nips is not an array')
    for (const nip of [1, 9, 11, 40, 42, 45, 77]) assert.ok(info.supported_nips.includes(nip), `supported_nips lacks ${nip}`)
    assert.ok(info.supported_nips.every(Number.isInteger), 'supported_nips must be numbers')
    checkLimits(info)
  })
})

describe('NIP-45 COUNT', { skip }, () => {
  test('counts matching events across filters', async t => {
    const relay = await connect(t)
    const key = newKey()
    const tag = unique()
    const evs = [
      sign(key, { tags: [['t', tag]], content: '1' }),
      sign(key, { tags: [['t', tag]], content: '2' }),
      sign(key, { kind: 7, tags: [['t', tag]], content: '+' }),
    ]
    for (const ev of evs) await accept(relay, ev)
    assert.equal(await relay.count([{ '#t': [tag] }]), 3)
    assert.equal(await relay.count([{ '#t': [tag], kinds: [1] }]), 2)
    assert.equal(await relay.count([{ authors: [key.pk], kinds: [7] }, { ids: [evs[0].id] }]), 2)
    assert.equal(await relay.count([{ '#t': [unique()] }]), 0)
  })

  test('the reply has the NIP-45 shape', async t => {
    const c = await RawConn.open(t)
    c.send(['COUNT', 'c1', { ids: ['00'.repeat(32)] }])
    const m = await c.next(m => m[1] === 'c1')
    assert.equal(m[0], 'COUNT')
    assert.deepEqual(m[2].count, 0)
  })
})

describe('NIP-77 negentropy', { skip }, () => {
  test('finds what each side lacks', async t => {
    const relay = await connect(t)
    const key = newKey()
    const base = now() - 500
    const both = [], relayOnly = [], localOnly = []
    // Enough ids that 4 KiB frames need several rounds of fingerprints and id lists.
    for (let i = 0; i < 400; i++) {
      const ev = sign(key, { content: `n${i}`, created_at: base + (i % 150) })
      if (i % 4 === 0) localOnly.push(ev)
      else if (i % 4 === 1) relayOnly.push(ev)
      else both.push(ev)
    }
    const toRelay = [...both, ...relayOnly]
    for (let i = 0; i < toRelay.length; i += 50) await Promise.all(toRelay.slice(i, i + 50).map(ev => accept(relay, ev)))

    const storage = new NegentropyStorageVector()
    for (const ev of [...both, ...localOnly]) storage.insert(ev.created_at, ev.id)
    storage.seal()
    const neg = new Negentropy(storage, 4096) // small frames force several rounds
    const have = [], need = []
    const c = await RawConn.open(t)
    c.send(['NEG-OPEN', 'neg1', { authors: [key.pk] }, neg.initiate()])
    let rounds = 0
    for (let round = 0; ; round++) {
      rounds = round + 1
      assert.ok(round < 50, 'negentropy did not converge in 50 rounds')
      const m = await c.next(m => m[1] === 'neg1')
      assert.equal(m[0], 'NEG-MSG', `relay answered ${JSON.stringify(m)}`)
      const next = neg.reconcile(m[2], id => have.push(id), id => need.push(id))
      if (next === null) break
      c.send(['NEG-MSG', 'neg1', next])
    }
    c.send(['NEG-CLOSE', 'neg1'])
    assert.ok(rounds > 1, 'the test meant to need several rounds')
    assert.deepEqual(have.sort(), localOnly.map(e => e.id).sort(), 'ids we have and the relay lacks')
    assert.deepEqual(need.sort(), relayOnly.map(e => e.id).sort(), 'ids the relay has and we lack')
  })

  test('a bad initial message gets NEG-ERR and the connection lives on', async t => {
    const c = await RawConn.open(t)
    c.send(['NEG-OPEN', 'neg2', {}, 'zz-not-hex'])
    const m = await c.next(m => m[1] === 'neg2')
    assert.equal(m[0], 'NEG-ERR')
    assert.match(m[2], /^[a-z-]+:/, 'NEG-ERR reason without a prefix')
    const after = await c.req('after', { ids: ['00'.repeat(32)] })
    assert.equal(after.at(-1)[0], 'EOSE')
  })
})
