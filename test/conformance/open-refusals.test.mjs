// Refusals: each carries a NIP-01 prefix and leaves the connection usable.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  LIMITS, RawConn, accept, assertAlive, closedReason, connect, newKey, publish, query, refuse, sign, skipUnless,
} from './lib.mjs'

const skip = skipUnless('open')
const PREFIX = /^(invalid|blocked|rate-limited|duplicate|pow|auth-required|restricted|error):/

describe('refusals', { skip }, () => {
  test('bad signature: invalid:', async t => {
    const relay = await connect(t)
    const ev = sign(newKey(), { content: 'signed' })
    const bad = { ...ev, sig: (ev.sig[0] === '0' ? '1' : '0') + ev.sig.slice(1) }
    await refuse(relay, bad, 'invalid:')
    const other = sign(newKey(), { content: 'signed by someone else' })
    await refuse(relay, { ...ev, sig: other.sig }, 'invalid:')
    await assertAlive(relay)
    assert.deepEqual(await query(relay, [{ ids: [ev.id] }]), [], 'an event with a bad signature was stored')
  })

  test('bad id: invalid:', async t => {
    const relay = await connect(t)
    const ev = sign(newKey(), { content: 'original' })
    await refuse(relay, { ...ev, content: 'tampered' }, 'invalid:')
    const made = { ...ev, id: 'ab'.repeat(32) }
    await refuse(relay, made, 'invalid:')
    await assertAlive(relay)
  })

  test('duplicate: the second copy is accepted (OK true) with duplicate:', async t => {
    const relay = await connect(t)
    const ev = sign(newKey(), { content: 'once' })
    await accept(relay, ev)
    const r = await publish(relay, ev)
    assert.equal(r.ok, true, `second copy answered ok=${r.ok} ${r.reason} (NIP-01: a duplicate is OK true)`)
    assert.match(r.reason, /^duplicate:/, `second copy answered ok=${r.ok} ${r.reason}`)
    await assertAlive(relay)
    assert.equal((await query(relay, [{ ids: [ev.id] }])).length, 1)
  })

  test('oversized message: refused with invalid:, connection kept', async t => {
    const max = LIMITS.max_message_length
    assert.ok(max > 0, 'CAIRN_LIMITS.max_message_length not set')
    const c = await RawConn.open(t)
    const ev = sign(newKey(), { content: 'x'.repeat(max + 100) })
    c.send(['EVENT', ev])
    // The relay cannot be expected to parse it: a NOTICE or an OK false will do.
    const m = await c.next(m => m[0] === 'NOTICE' || (m[0] === 'OK' && m[1] === ev.id))
    if (m[0] === 'OK') assert.equal(m[2], false, 'an oversized event was accepted')
    assert.match(m.at(-1), /^invalid:/)
    const after = await c.req('after', { ids: [ev.id] })
    assert.deepEqual(after.map(m => m[0]), ['EOSE'], 'oversized event was stored or connection broken')
    const small = sign(newKey(), { content: 'x'.repeat(Math.floor(max / 2)) })
    c.send(['EVENT', small])
    const ok = await c.next(m => m[0] === 'OK' && m[1] === small.id)
    assert.equal(ok[2], true, `an event of half the limit was refused: ${ok[3]}`)
  })

  test('too many subscriptions: CLOSED with a prefix; CLOSE frees a slot', async t => {
    const max = LIMITS.max_subscriptions
    assert.ok(max > 0, 'CAIRN_LIMITS.max_subscriptions not set')
    const c = await RawConn.open(t)
    const f = { ids: ['00'.repeat(32)] }
    for (let i = 0; i < max; i++) assert.equal((await c.req(`s${i}`, f)).at(-1)[0], 'EOSE', `subscription ${i}`)
    assert.equal((await c.req('s1', f)).at(-1)[0], 'EOSE', 'reusing an open id must replace, not add')
    const over = await c.req('over', f)
    assert.equal(over.at(-1)[0], 'CLOSED', `subscription ${max + 1} was accepted`)
    assert.match(over.at(-1)[2], PREFIX)
    c.send(['CLOSE', 's0'])
    assert.equal((await c.req('again', f)).at(-1)[0], 'EOSE', 'CLOSE did not free a slot')
  })

  test('too many filters: CLOSED with a prefix; connection kept', async t => {
    const max = LIMITS.max_filters
    assert.ok(max > 0, 'CAIRN_LIMITS.max_filters not set')
    const relay = await connect(t)
    const filters = n => Array.from({ length: n }, (_, i) => ({ kinds: [i] , limit: 1 }))
    const reason = await closedReason(relay, filters(max + 1))
    assert.match(reason, PREFIX)
    await query(relay, filters(max))
    await assertAlive(relay)
  })

  test('max_limit and default_limit cap what one filter returns, newest first', async t => {
    const max = LIMITS.max_limit
    assert.ok(max > 0 && max <= 200, 'CAIRN_LIMITS.max_limit must be set and small for this test')
    const relay = await connect(t)
    const key = newKey()
    const base = Math.floor(Date.now() / 1000) - 10000
    const evs = []
    for (let i = 0; i < max + 5; i++) evs.push(sign(key, { content: `e${i}`, created_at: base + i }))
    for (const ev of evs) await accept(relay, ev)
    const got = await query(relay, [{ authors: [key.pk], limit: max * 2 }])
    assert.equal(got.length, max)
    assert.deepEqual(got.map(e => e.id), evs.slice(5).reverse().map(e => e.id))
    const dflt = LIMITS.default_limit
    if (dflt) {
      const unlimited = await query(relay, [{ authors: [key.pk] }])
      assert.equal(unlimited.length, dflt, 'a filter without limit gets default_limit events')
      assert.deepEqual(unlimited.map(e => e.id), evs.slice(-dflt).reverse().map(e => e.id))
    }
  })

  test('a malformed message gets a NOTICE and the connection lives on', async t => {
    const c = await RawConn.open(t)
    c.send('["EVENT", not json')
    c.send(['NOSUCHVERB', 1])
    for (let i = 0; i < 2; i++) {
      const m = await c.next(m => m[0] === 'NOTICE')
      assert.match(m[1], PREFIX)
    }
    assert.equal((await c.req('after', { limit: 1 })).at(-1)[0], 'EOSE')
  })
})

describe('malformed events and filters', { skip }, () => {
  test('created_at far in the future: invalid:', async t => {
    const relay = await connect(t)
    await refuse(relay, sign(newKey(), { created_at: Math.floor(Date.now() / 1000) + 86400 * 365 }), 'invalid:')
    await assertAlive(relay)
  })

  test('upper-case hex in id or pubkey: invalid:', async t => {
    const c = await RawConn.open(t)
    const ev = sign(newKey(), { content: 'case' })
    for (const bad of [{ ...ev, id: ev.id.toUpperCase() }, { ...ev, pubkey: ev.pubkey.toUpperCase() }]) {
      c.send(['EVENT', bad])
      const m = await c.next(m => m[0] === 'NOTICE' || (m[0] === 'OK' && m[1].toLowerCase() === ev.id))
      if (m[0] === 'OK') assert.equal(m[2], false, 'upper-case hex accepted')
      assert.match(m.at(-1), /^invalid:/)
    }
    assert.equal((await c.req('after', { ids: [ev.id] })).at(-1)[0], 'EOSE')
  })

  test('kind 22242 sent as EVENT is refused', async t => {
    const relay = await connect(t)
    const ev = sign(newKey(), { kind: 22242, tags: [['relay', 'ws://x'], ['challenge', 'c']] })
    const r = await publish(relay, ev)
    assert.equal(r.ok, false, 'an AUTH event was stored as an ordinary event')
    assert.match(r.reason, PREFIX)
  })

  test('a subscription id over 64 characters is refused', async t => {
    const c = await RawConn.open(t)
    const id = 's'.repeat(65)
    c.send(['REQ', id, { limit: 1 }])
    const m = await c.next(m => m[0] === 'NOTICE' || m[1] === id)
    assert.ok(m[0] === 'NOTICE' || m[0] === 'CLOSED', `a 65-character subscription id got ${m[0]}`)
    assert.match(m.at(-1), PREFIX)
    assert.equal((await c.req('after', { limit: 1 })).at(-1)[0], 'EOSE')
  })

  test('a filter with a malformed id is refused with invalid:', async t => {
    const relay = await connect(t)
    assert.match(await closedReason(relay, [{ ids: ['not-hex'] }]), /^invalid:/)
    assert.match(await closedReason(relay, [{ kinds: ['one'] }]), /^invalid:/)
    await assertAlive(relay)
  })
})
