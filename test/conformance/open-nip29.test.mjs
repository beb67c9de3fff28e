// A cairn room read and used through nostr-tools' NIP-29 helpers: the
// group state the node derives from the room's authority log (39000-39002,
// signed by the relay's key named in NIP-11) loads as any NIP-29 group;
// members post kind 9 messages, outsiders and banned members are refused.
// Log entries carry cairn's chain tags (prev, seq, lamport) on top of
// nostr-tools' moderation templates (docs/PROTOCOL.md, "Rooms"); or the
// client writes none and the node places its requests in the log
// ("Requests and placements").

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { SimplePool, useWebSocketImplementation } from 'nostr-tools/pool'
import * as nip29 from 'nostr-tools/nip29'
import { finalizeEvent } from 'nostr-tools/pure'
import { RELAY, WAIT, connect, newKey, now, publish, skipUnless } from './lib.mjs'

useWebSocketImplementation(WebSocket)
const skip = skipUnless('open')

// roomID is cairn's room id: sha256("cairn-room-v1" 0x00 creator name-length name nonce).
function roomID(creator, name, nonce) {
  const n = Buffer.from(name, 'utf8')
  const len = Buffer.alloc(2)
  len.writeUInt16BE(n.length)
  return createHash('sha256').update(Buffer.concat([Buffer.from('cairn-room-v1'), Buffer.from([0]), Buffer.from(creator, 'hex'), len, n, nonce])).digest('hex')
}

describe('NIP-29 face of a cairn room', { skip }, () => {
  test('nostr-tools loads the group; members post, others are refused', async t => {
    const relay = await connect(t)
    const owner = newKey(), member = newKey(), outsider = newKey()
    const nonce = randomBytes(16)
    const id = roomID(owner.pk, 'lobby', nonce)
    const genesis = finalizeEvent({ kind: 9007, created_at: now(), content: '',
      tags: [['h', id], ['name', 'lobby'], ['nonce', nonce.toString('hex')], ['seq', '0'], ['lamport', '0']] }, owner.sk)
    assert.deepEqual(await publish(relay, genesis), { ok: true, reason: '' }, 'genesis')

    // nostr-tools' put-user template, chained after the genesis.
    const put = nip29.generatePutUserEventTemplate(id, member.pk, ['member'])
    put.tags.push(['prev', genesis.id], ['seq', '1'], ['lamport', '1'])
    const grant = finalizeEvent({ ...put, created_at: now() }, owner.sk)
    assert.equal((await publish(relay, grant)).ok, true, 'put-user')

    const chat = key => finalizeEvent({ kind: 9, created_at: now(), content: 'hi', tags: [['h', id]] }, key.sk)
    assert.equal((await publish(relay, chat(member))).ok, true, 'a member posts')
    const refused = await publish(relay, chat(outsider))
    assert.equal(refused.ok, false)
    assert.match(refused.reason, /^restricted:/)

    const pool = new SimplePool()
    t.after(() => pool.close([RELAY]))
    const host = RELAY.replace(/^ws:\/\//, '')
    const ref = { id, host }
    // The node publishes the state right after the entry: wait for the
    // members event that lists both, then load the group as a client does.
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no 39002 listing both members')), WAIT)
      const sub = pool.subscribe([RELAY], { kinds: [39002], '#d': [id] }, {
        onevent(ev) {
          if (ev.tags.filter(t => t[0] === 'p').length === 2) { clearTimeout(timer); sub.close(); resolve() }
        },
      })
    })
    const group = await nip29.loadGroup({ pool, groupReference: ref, normalizedRelayURL: RELAY })
    assert.equal(group.metadata.name, 'lobby')
    assert.equal(group.metadata.isRestricted, true)
    assert.deepEqual(group.members.map(m => m.pubkey ?? m).sort(), [owner.pk, member.pk].sort())
    assert.equal(group.admins.length, 1)
    assert.equal(group.admins[0].pubkey, owner.pk)
  })

  test('a client that writes no chain tags joins, posts, moderates and leaves', async t => {
    const relay = await connect(t)
    const owner = newKey(), mod = newKey(), user = newKey(), visitor = newKey()
    const nonce = randomBytes(16)
    const id = roomID(owner.pk, 'open', nonce)
    // Creation is cairn's (the id is derived); the room takes join requests.
    const genesis = finalizeEvent({ kind: 9007, created_at: now(), content: '',
      tags: [['h', id], ['name', 'open'], ['nonce', nonce.toString('hex')], ['seq', '0'], ['lamport', '0'], ['open']] }, owner.sk)
    assert.deepEqual(await publish(relay, genesis), { ok: true, reason: '' }, 'genesis')

    // From here on, only nostr-tools' templates, unchanged.
    const send = (tmpl, key) => publish(relay, finalizeEvent(tmpl, key.sk))
    const chat = (key, text) => send({ kind: 9, created_at: now(), content: text, tags: [['h', id]] }, key)
    assert.equal((await send(nip29.generatePutUserEventTemplate(id, mod.pk, ['mod']), owner)).ok, true, 'owner makes a mod')
    assert.equal((await chat(user, 'before joining')).ok, false, 'a non-member posts')
    assert.equal((await send(nip29.generateGroupJoinRequestEventTemplate(id), user)).ok, true, 'join request')
    const again = await send(nip29.generateGroupJoinRequestEventTemplate(id, undefined, 'again'), user)
    assert.equal(again.ok, false, 'a second join request')
    assert.match(again.reason, /^duplicate:/)
    assert.equal((await chat(user, 'hello')).ok, true, 'a joined user posts')
    assert.equal((await send(nip29.generateRemoveUserEventTemplate(id, user.pk, 'spam'), mod)).ok, true, 'the mod removes the user')
    const refused = await chat(user, 'still here?')
    assert.equal(refused.ok, false, 'a removed user posts')
    assert.match(refused.reason, /^restricted:/)
    const byUser = await send(nip29.generateRemoveUserEventTemplate(id, mod.pk), user)
    assert.equal(byUser.ok, false, 'a removed user removes the mod')
    assert.match(byUser.reason, /^restricted:/)

    assert.equal((await send(nip29.generateGroupJoinRequestEventTemplate(id), visitor)).ok, true, 'visitor joins')
    assert.equal((await chat(visitor, 'hi')).ok, true, 'visitor posts')
    assert.equal((await send(nip29.generateGroupLeaveRequestEventTemplate(id), visitor)).ok, true, 'visitor leaves')
    assert.equal((await chat(visitor, 'bye')).ok, false, 'a visitor who left posts')

    // The group state, as any NIP-29 client loads it: owner and mod only.
    const pool = new SimplePool()
    t.after(() => pool.close([RELAY]))
    const want = [owner.pk, mod.pk].sort().join()
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no 39002 listing the owner and the mod only')), WAIT)
      const sub = pool.subscribe([RELAY], { kinds: [39002], '#d': [id] }, {
        onevent(ev) {
          if (ev.tags.filter(t => t[0] === 'p').map(t => t[1]).sort().join() === want) { clearTimeout(timer); sub.close(); resolve() }
        },
      })
    })
    const group = await nip29.loadGroup({ pool, groupReference: { id, host: RELAY.replace(/^ws:\/\//, '') }, normalizedRelayURL: RELAY })
    assert.deepEqual(group.members.map(m => m.pubkey ?? m).sort().join(), want)
    assert.deepEqual(group.admins.map(a => a.pubkey).sort().join(), want)
    assert.ok(!group.metadata.isClosed, "the room takes join requests")
  })

  test('invite codes: a closed room admits a join request that carries one', async t => {
    const relay = await connect(t)
    const owner = newKey(), guest = newKey(), stranger = newKey()
    const nonce = randomBytes(16)
    const id = roomID(owner.pk, 'closed', nonce)
    const genesis = finalizeEvent({ kind: 9007, created_at: now(), content: '',
      tags: [['h', id], ['name', 'closed'], ['nonce', nonce.toString('hex')], ['seq', '0'], ['lamport', '0']] }, owner.sk)
    assert.equal((await publish(relay, genesis)).ok, true, 'genesis')
    const send = (tmpl, key) => publish(relay, finalizeEvent(tmpl, key.sk))
    const chat = key => send({ kind: 9, created_at: now(), content: 'hi', tags: [['h', id]] }, key)

    assert.equal((await send(nip29.generateCreateInviteEventTemplate(id, 'come-in'), owner)).ok, true, 'create-invite')
    const wrong = await send(nip29.generateGroupJoinRequestEventTemplate(id, 'knock-knock'), guest)
    assert.equal(wrong.ok, false, 'a wrong code')
    assert.match(wrong.reason, /^restricted:/)
    assert.equal((await send(nip29.generateGroupJoinRequestEventTemplate(id, 'come-in'), guest)).ok, true, 'join with the code')
    assert.equal((await chat(guest)).ok, true, 'the guest posts')
    // Without a code the request is kept for the moderators; no membership.
    assert.equal((await send(nip29.generateGroupJoinRequestEventTemplate(id), stranger)).ok, true, 'a join request without a code')
    assert.equal((await chat(stranger)).ok, false, 'the stranger posts')
  })
})
