// NIP-09 deletion requests and NIP-40 expiration.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { accept, connect, ids, newKey, now, publish, query, sign, skipUnless, sleep, waitFor } from './lib.mjs'

const skip = skipUnless('open')

describe('NIP-09 deletion', { skip }, () => {
  test('by e tag: the event goes, the request stays, re-publishing is refused', async t => {
    const relay = await connect(t)
    const key = newKey()
    const n1 = sign(key, { content: 'delete me', created_at: now() - 20 })
    const n2 = sign(key, { content: 'keep me', created_at: now() - 10 })
    await accept(relay, n1)
    await accept(relay, n2)
    const del = sign(key, { kind: 5, tags: [['e', n1.id], ['k', '1']], content: 'oops' })
    await accept(relay, del)
    assert.deepEqual(ids(await query(relay, [{ ids: [n1.id, n2.id] }])), [n2.id])
    assert.deepEqual(ids(await query(relay, [{ authors: [key.pk], kinds: [5] }])), [del.id], 'the deletion request is served')
    const again = await publish(relay, n1)
    assert.equal(again.ok, false, 'a deleted event was accepted again')
    assert.match(again.reason, /^(blocked|duplicate|invalid):/)
    assert.deepEqual(ids(await query(relay, [{ ids: [n1.id] }])), [])
  })

  test("someone else's deletion request has no effect", async t => {
    const relay = await connect(t)
    const owner = newKey()
    const stranger = newKey()
    const note = sign(owner, { content: 'mine' })
    const art = sign(owner, { kind: 30023, tags: [['d', 'post']], content: 'my article' })
    await accept(relay, note)
    await accept(relay, art)
    const del = sign(stranger, { kind: 5, tags: [['e', note.id], ['e', art.id], ['a', `30023:${owner.pk}:post`]] })
    const r = await publish(relay, del)
    // Storing or refusing the request are both fine; deleting is not.
    if (!r.ok) assert.match(r.reason, /^(blocked|invalid|restricted):/)
    assert.deepEqual(ids(await query(relay, [{ authors: [owner.pk] }])), ids([note, art]))
  })

  test('by a tag: versions up to the request go; newer versions are accepted', async t => {
    const relay = await connect(t)
    const key = newKey()
    const t0 = now() - 100
    const addr = `30023:${key.pk}:gone`
    const v1 = sign(key, { kind: 30023, created_at: t0, tags: [['d', 'gone']], content: 'v1' })
    const kept = sign(key, { kind: 30023, created_at: t0, tags: [['d', 'kept']], content: 'other d' })
    await accept(relay, v1)
    await accept(relay, kept)
    const del = sign(key, { kind: 5, created_at: t0 + 10, tags: [['a', addr], ['k', '30023']] })
    await accept(relay, del)
    assert.deepEqual(ids(await query(relay, [{ authors: [key.pk], kinds: [30023] }])), [kept.id])
    const older = sign(key, { kind: 30023, created_at: t0 + 5, tags: [['d', 'gone']], content: 'older than the request' })
    const r = await publish(relay, older)
    assert.equal(r.ok, false, 'a version older than the deletion request was accepted')
    assert.match(r.reason, /^(blocked|duplicate|invalid):/)
    const v2 = sign(key, { kind: 30023, created_at: t0 + 20, tags: [['d', 'gone']], content: 'newer than the request' })
    await accept(relay, v2)
    assert.deepEqual(ids(await query(relay, [{ authors: [key.pk], kinds: [30023] }])), ids([kept, v2]))
  })

  test('a deletion request cannot be deleted', async t => {
    const relay = await connect(t)
    const key = newKey()
    const note = sign(key, { content: 'x' })
    await accept(relay, note)
    const del = sign(key, { kind: 5, tags: [['e', note.id]] })
    await accept(relay, del)
    const undel = sign(key, { kind: 5, tags: [['e', del.id]] })
    await publish(relay, undel)
    assert.deepEqual(ids(await query(relay, [{ ids: [note.id, del.id] }])), [del.id])
  })
})

describe('NIP-40 expiration', { skip }, () => {
  test('an already expired event is refused or never served', async t => {
    const relay = await connect(t)
    const ev = sign(newKey(), { content: 'stale', tags: [['expiration', String(now() - 10)]] })
    const r = await publish(relay, ev)
    if (!r.ok) assert.match(r.reason, /^(invalid|blocked):/)
    assert.deepEqual(await query(relay, [{ ids: [ev.id] }]), [])
  })

  test('an event expiring in 2 s is served, then disappears', async t => {
    const relay = await connect(t)
    const key = newKey()
    const exp = now() + 2
    const ev = sign(key, { content: 'short-lived', tags: [['expiration', String(exp)]] })
    await accept(relay, ev)
    assert.deepEqual(ids(await query(relay, [{ ids: [ev.id] }])), [ev.id])
    while (now() <= exp) await sleep(100)
    await waitFor(async () => (await query(relay, [{ ids: [ev.id] }])).length === 0, 2000, 'the expired event to stop being served')
    assert.deepEqual(await query(relay, [{ authors: [key.pk] }]), [])
    assert.equal(await relay.count([{ authors: [key.pk] }]), 0, 'COUNT still counts the expired event')
  })
})
