// NIP-42 with --auth writes and --auth all: the relay challenges on connect,
// refuses with auth-required: before AUTH and accepts after it.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { finalizeEvent } from 'nostr-tools/pure'
import { makeAuthEvent } from 'nostr-tools/nip42'
import {
  RawConn, accept, checkLimits, closedReason, connect, fetchInfo, newKey, query, refuse, sign, skipUnless, waitFor,
} from './lib.mjs'

// authenticate answers the relay's challenge as key.
async function authenticate(relay, key) {
  await waitFor(() => relay.challenge, 5000, 'the AUTH challenge')
  return relay.auth(async tmpl => finalizeEvent(tmpl, key.sk))
}

// challenged opens a raw connection and returns it with the challenge it got.
async function challenged(t) {
  const c = await RawConn.open(t)
  const m = await c.next(m => m[0] === 'AUTH')
  assert.equal(typeof m[1], 'string')
  assert.ok(m[1].length >= 8, `challenge ${JSON.stringify(m[1])} is too short to be unpredictable`)
  return { c, challenge: m[1] }
}

function authEvent(key, url, challenge, extra = {}) {
  return finalizeEvent({ ...makeAuthEvent(url, challenge), ...extra }, key.sk)
}

describe('NIP-42 with --auth writes', { skip: skipUnless('auth-writes') }, () => {
  test('EVENT needs AUTH, REQ and COUNT do not', async t => {
    const relay = await connect(t)
    const key = newKey()
    const ev = sign(key, { content: 'needs auth' })
    await refuse(relay, ev, 'auth-required:')
    assert.deepEqual(await query(relay, [{ ids: [ev.id] }]), [])
    assert.equal(await relay.count([{ authors: [key.pk] }]), 0)
    await authenticate(relay, key)
    await accept(relay, ev)
    assert.deepEqual((await query(relay, [{ ids: [ev.id] }])).map(e => e.id), [ev.id])
  })

  test('an AUTH with the wrong challenge or relay is refused', async t => {
    const { c, challenge } = await challenged(t)
    const key = newKey()
    const url = process.env.CAIRN_RELAY
    for (const [what, ev] of [
      ['wrong challenge', authEvent(key, url, challenge + 'x')],
      ['wrong relay', authEvent(key, 'wss://elsewhere.example', challenge)],
      ['wrong kind', authEvent(key, url, challenge, { kind: 1 })],
    ]) {
      c.send(['AUTH', ev])
      const ok = await c.next(m => m[0] === 'OK' && m[1] === ev.id)
      assert.equal(ok[2], false, `${what} accepted`)
      assert.match(ok[3], /^(invalid|restricted|auth-required):/, what)
    }
    const note = sign(key, { content: 'still not authed' })
    c.send(['EVENT', note])
    const ok = await c.next(m => m[0] === 'OK' && m[1] === note.id)
    assert.equal(ok[2], false, 'a failed AUTH authenticated the connection')
    assert.match(ok[3], /^auth-required:/)
    const good = authEvent(key, url, challenge)
    c.send(['AUTH', good])
    assert.equal((await c.next(m => m[0] === 'OK' && m[1] === good.id))[2], true, 'the right AUTH was refused')
  })

  test('NIP-11 limitation matches the flags', async () => {
    checkLimits(await fetchInfo())
  })
})

describe('NIP-42 with --auth all', { skip: skipUnless('auth-all') }, () => {
  test('REQ, COUNT and EVENT need AUTH', async t => {
    const relay = await connect(t)
    const key = newKey()
    assert.match(await closedReason(relay, [{ limit: 1 }]), /^auth-required:/)
    await assert.rejects(relay.count([{ limit: 1 }]), /^Error: auth-required:/)
    const ev = sign(key, { content: 'needs auth' })
    await refuse(relay, ev, 'auth-required:')
    await authenticate(relay, key)
    assert.deepEqual(await query(relay, [{ ids: [ev.id] }]), [])
    await accept(relay, ev)
    assert.deepEqual((await query(relay, [{ ids: [ev.id] }])).map(e => e.id), [ev.id])
    assert.equal(await relay.count([{ ids: [ev.id] }]), 1)
  })

  test('NEG-OPEN before AUTH gets NEG-ERR auth-required:', async t => {
    const { c } = await challenged(t)
    // An empty negentropy v1 message: version byte 0x61, nothing to reconcile.
    c.send(['NEG-OPEN', 'n', {}, '61'])
    const m = await c.next(m => m[1] === 'n')
    assert.deepEqual(m.slice(0, 1), ['NEG-ERR'])
    assert.match(m[2], /^auth-required:/)
  })

  test('one connection can authenticate two keys', async t => {
    const { c, challenge } = await challenged(t)
    const [a, b] = [newKey(), newKey()]
    for (const key of [a, b]) {
      const ev = authEvent(key, process.env.CAIRN_RELAY, challenge)
      c.send(['AUTH', ev])
      assert.equal((await c.next(m => m[0] === 'OK' && m[1] === ev.id))[2], true)
    }
    for (const key of [a, b]) {
      const note = sign(key, { content: 'from one of two' })
      c.send(['EVENT', note])
      const ok = await c.next(m => m[0] === 'OK' && m[1] === note.id)
      assert.equal(ok[2], true, ok[3])
    }
  })

  test('NIP-11 limitation matches the flags', async () => {
    checkLimits(await fetchInfo())
  })
})
