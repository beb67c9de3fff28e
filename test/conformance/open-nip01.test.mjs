// NIP-01: publishing, every filter field, EOSE, ordering, replaceable,
// addressable and ephemeral events.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  RawConn, accept, connect, ids, newKey, now, plain, publish, query, refuse, sign, skipUnless, unique,
} from './lib.mjs'

const skip = skipUnless('open')

describe('NIP-01 publish', { skip }, () => {
  test('an event gets OK true and is served back unchanged', async t => {
    const relay = await connect(t)
    const key = newKey()
    const ev = sign(key, { content: 'hello "cairn" \\ \n ünïcödé 🪨', tags: [['t', unique()]] })
    await accept(relay, ev)
    const got = await query(relay, [{ ids: [ev.id] }])
    assert.equal(got.length, 1)
    assert.deepEqual(plain(got[0]), plain(ev))
  })

  test('OK carries the event id and a boolean', async t => {
    const c = await RawConn.open(t)
    const ev = sign(newKey(), { content: 'raw ok' })
    c.send(['EVENT', ev])
    const ok = await c.next(m => m[0] === 'OK')
    assert.equal(ok[1], ev.id)
    assert.equal(ok[2], true)
    assert.equal(typeof ok[3], 'string')
  })
})

describe('NIP-01 filters', { skip }, () => {
  // One author's fixture: six events over time, with e, p, t and x tags.
  async function fixture(t) {
    const relay = await connect(t)
    const a = newKey()
    const b = newKey()
    const base = now() - 1000
    const tag = unique('t')
    const x = unique('x')
    const target = sign(b, { content: 'target', created_at: base })
    const e = [
      sign(a, { content: 'a0', created_at: base + 10, tags: [['t', tag]] }),
      sign(a, { content: 'a1', created_at: base + 20, tags: [['e', target.id]] }),
      sign(a, { kind: 7, content: '+', created_at: base + 30, tags: [['e', target.id], ['p', b.pk]] }),
      sign(a, { content: 'a3', created_at: base + 40, tags: [['x', x], ['t', tag]] }),
      sign(a, { kind: 30078, content: 'a4', created_at: base + 50, tags: [['d', 'app'], ['x', x]] }),
      sign(a, { content: 'a5', created_at: base + 60, tags: [['p', b.pk], ['t', tag]] }),
    ]
    for (const ev of [target, ...e]) await accept(relay, ev)
    return { relay, a, b, base, tag, x, target, e }
  }

  test('ids, authors and kinds', async t => {
    const { relay, a, b, target, e } = await fixture(t)
    assert.deepEqual(ids(await query(relay, [{ ids: [e[0].id, e[3].id] }])), ids([e[0], e[3]]))
    assert.deepEqual(ids(await query(relay, [{ authors: [a.pk] }])), ids(e))
    assert.deepEqual(ids(await query(relay, [{ authors: [b.pk] }])), [target.id])
    assert.deepEqual(ids(await query(relay, [{ authors: [a.pk, b.pk], kinds: [7] }])), [e[2].id])
    assert.deepEqual(ids(await query(relay, [{ authors: [a.pk], kinds: [1, 30078] }])), ids([e[0], e[1], e[3], e[4], e[5]]))
  })

  test('#e, #p, #t and a custom single-letter tag', async t => {
    const { relay, a, b, tag, x, target, e } = await fixture(t)
    assert.deepEqual(ids(await query(relay, [{ '#e': [target.id] }])), ids([e[1], e[2]]))
    assert.deepEqual(ids(await query(relay, [{ '#p': [b.pk], authors: [a.pk] }])), ids([e[2], e[5]]))
    assert.deepEqual(ids(await query(relay, [{ '#t': [tag] }])), ids([e[0], e[3], e[5]]))
    assert.deepEqual(ids(await query(relay, [{ '#x': [x] }])), ids([e[3], e[4]]))
    assert.deepEqual(ids(await query(relay, [{ '#x': [x], '#t': [tag] }])), [e[3].id], 'tag filters are ANDed')
    assert.deepEqual(ids(await query(relay, [{ '#d': ['app'], authors: [a.pk] }])), [e[4].id])
    assert.deepEqual(await query(relay, [{ '#t': [unique()] }]), [])
  })

  test('since, until and limit', async t => {
    const { relay, a, base, e } = await fixture(t)
    const mine = { authors: [a.pk] }
    assert.deepEqual(ids(await query(relay, [{ ...mine, since: base + 40 }])), ids(e.slice(3)), 'since is inclusive')
    assert.deepEqual(ids(await query(relay, [{ ...mine, until: base + 20 }])), ids(e.slice(0, 2)), 'until is inclusive')
    assert.deepEqual(ids(await query(relay, [{ ...mine, since: base + 20, until: base + 40 }])), ids(e.slice(1, 4)))
    const two = await query(relay, [{ ...mine, limit: 2 }])
    assert.deepEqual(two.map(ev => ev.id), [e[5].id, e[4].id], 'limit keeps the newest')
    assert.deepEqual(await query(relay, [{ ...mine, since: base + 61 }]), [])
  })

  test('several filters in one REQ are ORed without duplicates', async t => {
    const { relay, a, tag, e, target } = await fixture(t)
    const got = await query(relay, [{ ids: [target.id] }, { '#t': [tag] }, { authors: [a.pk], kinds: [7] }, { ids: [e[0].id] }])
    assert.deepEqual(ids(got), ids([target, e[0], e[2], e[3], e[5]]))
  })

  test('stored events come newest first', async t => {
    const { relay, a, e } = await fixture(t)
    const got = await query(relay, [{ authors: [a.pk] }])
    assert.deepEqual(got.map(ev => ev.id), [...e].reverse().map(ev => ev.id))
  })

  test('EOSE follows stored events and live events follow EOSE', async t => {
    const { a, e } = await fixture(t)
    const c = await RawConn.open(t)
    const msgs = await c.req('live', { authors: [a.pk] })
    assert.deepEqual(msgs.map(m => m[0]), [...e.map(() => 'EVENT'), 'EOSE'])
    const writer = await connect(t)
    const fresh = sign(a, { content: 'after EOSE' })
    await accept(writer, fresh)
    const live = await c.next(m => m[0] === 'EVENT' && m[1] === 'live')
    assert.equal(live[2].id, fresh.id)
    c.send(['CLOSE', 'live'])
    const other = sign(a, { content: 'after CLOSE' })
    await accept(writer, other)
    await assert.rejects(c.next(m => m[0] === 'EVENT' && m[1] === 'live', 1000), /no matching message/, 'events after CLOSE')
  })
})

describe('NIP-01 replaceable and addressable events', { skip }, () => {
  for (const kind of [0, 3, 10002]) {
    test(`kind ${kind}: the newest version replaces, an older one is refused`, async t => {
      const relay = await connect(t)
      const key = newKey()
      const t0 = now() - 100
      const v1 = sign(key, { kind, created_at: t0, content: kind === 0 ? '{"name":"v1"}' : '' })
      const v2 = sign(key, { kind, created_at: t0 + 10, content: kind === 0 ? '{"name":"v2"}' : '', tags: kind === 10002 ? [['r', 'wss://example.invalid']] : [] })
      await accept(relay, v1)
      await accept(relay, v2)
      assert.deepEqual(ids(await query(relay, [{ authors: [key.pk], kinds: [kind] }])), [v2.id])
      const old = sign(key, { kind, created_at: t0 + 5, content: kind === 0 ? '{"name":"old"}' : 'old' })
      const r = await publish(relay, old)
      assert.equal(r.ok, false, 'an older version was accepted')
      assert.match(r.reason, /^(duplicate|blocked|invalid):/)
      assert.deepEqual(ids(await query(relay, [{ authors: [key.pk], kinds: [kind] }])), [v2.id])
    })
  }

  test('replaceable events with the same created_at: the lowest id wins', async t => {
    const relay = await connect(t)
    const key = newKey()
    const at = now() - 50
    const [lo, hi] = [sign(key, { kind: 0, created_at: at, content: '{"n":1}' }), sign(key, { kind: 0, created_at: at, content: '{"n":2}' })]
      .sort((x, y) => (x.id < y.id ? -1 : 1))
    await accept(relay, hi)
    await accept(relay, lo)
    assert.deepEqual(ids(await query(relay, [{ authors: [key.pk], kinds: [0] }])), [lo.id])
    const r = await publish(relay, hi)
    assert.equal(r.ok, false, 'the higher id replaced the lower one')
  })

  test('kind 30023: one version per d tag; an older version is refused', async t => {
    const relay = await connect(t)
    const key = newKey()
    const t0 = now() - 100
    const a1 = sign(key, { kind: 30023, created_at: t0, tags: [['d', 'a']], content: 'a v1' })
    const a2 = sign(key, { kind: 30023, created_at: t0 + 10, tags: [['d', 'a']], content: 'a v2' })
    const b1 = sign(key, { kind: 30023, created_at: t0, tags: [['d', 'b']], content: 'b v1' })
    const none = sign(key, { kind: 30023, created_at: t0, tags: [], content: 'no d tag means d=""' })
    const empty = sign(key, { kind: 30023, created_at: t0 + 1, tags: [['d', '']], content: 'd=""' })
    for (const ev of [a1, a2, b1, none, empty]) await accept(relay, ev)
    assert.deepEqual(ids(await query(relay, [{ authors: [key.pk], kinds: [30023] }])), ids([a2, b1, empty]))
    const old = sign(key, { kind: 30023, created_at: t0 + 5, tags: [['d', 'a']], content: 'a old' })
    const r = await publish(relay, old)
    assert.equal(r.ok, false, 'an older version was accepted')
    assert.match(r.reason, /^(duplicate|blocked|invalid):/)
    assert.deepEqual(ids(await query(relay, [{ authors: [key.pk], '#d': ['a'] }])), [a2.id])
    const other = newKey()
    const foreign = sign(other, { kind: 30023, created_at: t0 + 20, tags: [['d', 'a']], content: 'other author' })
    await accept(relay, foreign)
    assert.deepEqual(ids(await query(relay, [{ authors: [key.pk], '#d': ['a'] }])), [a2.id], 'another author replaced ours')
  })
})

describe('NIP-01 ephemeral events', { skip }, () => {
  test('kind 20001 is delivered live but never stored', async t => {
    const key = newKey()
    const c = await RawConn.open(t)
    const msgs = await c.req('eph', { authors: [key.pk], kinds: [20001] })
    assert.deepEqual(msgs.map(m => m[0]), ['EOSE'])
    const writer = await connect(t)
    const ev = sign(key, { kind: 20001, content: 'here and gone' })
    await accept(writer, ev)
    const live = await c.next(m => m[0] === 'EVENT' && m[1] === 'eph')
    assert.deepEqual(live[2], plain(ev))
    assert.deepEqual(await query(writer, [{ authors: [key.pk] }]), [])
    assert.deepEqual(await query(writer, [{ ids: [ev.id] }]), [])
  })
})

describe('NIP-01 subscription details', { skip }, () => {
  test('equal created_at: the lowest id comes first', async t => {
    const relay = await connect(t)
    const key = newKey()
    const at = now() - 30
    const evs = [0, 1, 2, 3].map(i => sign(key, { content: `tie ${i}`, created_at: at }))
    const newer = sign(key, { content: 'newer', created_at: at + 1 })
    // Store them in neither id order nor its reverse, so that no insertion-order
    // walk can pass by chance.
    const byId = [...evs].sort((x, y) => (x.id < y.id ? -1 : 1))
    for (const ev of [byId[1], byId[3], byId[0], byId[2], newer]) await accept(relay, ev)
    const got = await query(relay, [{ authors: [key.pk] }])
    assert.deepEqual(got.map(e => e.id), [newer.id, ...ids(evs)])
  })

  test('live events are filtered like stored ones', async t => {
    const key = newKey()
    const tag = unique()
    const c = await RawConn.open(t)
    const since = now() - 60
    assert.deepEqual((await c.req('f', { authors: [key.pk], kinds: [1], '#t': [tag], since })).map(m => m[0]), ['EOSE'])
    const writer = await connect(t)
    const wrongKind = sign(key, { kind: 7, tags: [['t', tag]] })
    const noTag = sign(key, { content: 'untagged' })
    const tooOld = sign(key, { tags: [['t', tag]], created_at: since - 100 })
    const otherAuthor = sign(newKey(), { tags: [['t', tag]] })
    const match = sign(key, { tags: [['t', tag]], content: 'the one' })
    for (const ev of [wrongKind, noTag, tooOld, otherAuthor, match]) await accept(writer, ev)
    const live = await c.next(m => m[0] === 'EVENT' && m[1] === 'f')
    assert.equal(live[2].id, match.id, `delivered ${live[2].content} (kind ${live[2].kind})`)
    await assert.rejects(c.next(m => m[0] === 'EVENT' && m[1] === 'f', 500), /no matching message/, 'a second live event')
  })

  test('a REQ with an open id replaces that subscription', async t => {
    const [a, b] = [newKey(), newKey()]
    const c = await RawConn.open(t)
    await c.req('same', { authors: [a.pk] })
    await c.req('same', { authors: [b.pk] })
    const writer = await connect(t)
    const fromA = sign(a, { content: 'old filter' })
    const fromB = sign(b, { content: 'new filter' })
    await accept(writer, fromA)
    await accept(writer, fromB)
    const live = await c.next(m => m[0] === 'EVENT' && m[1] === 'same')
    assert.equal(live[2].id, fromB.id, 'the replaced filter still delivers')
  })

  test('limit 0: no stored events, only live ones', async t => {
    const key = newKey()
    const writer = await connect(t)
    await accept(writer, sign(key, { content: 'stored' }))
    const c = await RawConn.open(t)
    assert.deepEqual((await c.req('z', { authors: [key.pk], limit: 0 })).map(m => m[0]), ['EOSE'])
    const ev = sign(key, { content: 'live' })
    await accept(writer, ev)
    assert.equal((await c.next(m => m[0] === 'EVENT' && m[1] === 'z'))[2].id, ev.id)
  })

  test('a new version of a replaceable event is delivered live', async t => {
    const key = newKey()
    const c = await RawConn.open(t)
    await c.req('r', { authors: [key.pk], kinds: [0] })
    const writer = await connect(t)
    const v1 = sign(key, { kind: 0, content: '{"name":"one"}', created_at: now() - 10 })
    const v2 = sign(key, { kind: 0, content: '{"name":"two"}' })
    await accept(writer, v1)
    await accept(writer, v2)
    assert.equal((await c.next(m => m[0] === 'EVENT' && m[1] === 'r'))[2].id, v1.id)
    assert.equal((await c.next(m => m[0] === 'EVENT' && m[1] === 'r'))[2].id, v2.id)
  })
})
