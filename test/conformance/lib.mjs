// Helpers shared by the conformance tests.
//
// The relay under test comes from the environment, set by test/conformance_test.go:
//   CAIRN_RELAY   ws://127.0.0.1:PORT
//   CAIRN_MODE    the node's configuration: open, ratelimit, pow, auth-writes, auth-all
//   CAIRN_LIMITS  JSON of the NIP-11 limitation fields the flags imply
//   CAIRN_EVENTS_PER_SECOND  the --events-per-second flag (mode ratelimit)
// Every test makes its own keys and unique tag values, so files can run
// concurrently against one relay.

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay'
import { finalizeEvent, generateSecretKey, getPublicKey } from 'nostr-tools/pure'

useWebSocketImplementation(WebSocket)

export const RELAY = process.env.CAIRN_RELAY || ''
export const HTTP = RELAY.replace(/^ws/, 'http')
export const MODE = process.env.CAIRN_MODE || ''
export const LIMITS = JSON.parse(process.env.CAIRN_LIMITS || '{}') ?? {}

// A reply the relay owes us must come within this many milliseconds.
export const WAIT = 5000

// skipUnless returns the skip option for a file written for one mode.
export function skipUnless(mode) {
  if (!RELAY) return 'CAIRN_RELAY is not set: run through `go test ./test -run Conformance` (or `make test`)'
  if (MODE !== mode) return `written for CAIRN_MODE=${mode}, relay runs ${MODE || 'an unknown mode'}`
  return false
}

export const now = () => Math.floor(Date.now() / 1000)
export const sleep = ms => new Promise(r => setTimeout(r, ms))
export const unique = (p = 'u') => p + randomBytes(8).toString('hex')

export function newKey() {
  const sk = generateSecretKey()
  return { sk, pk: getPublicKey(sk) }
}

// sign builds and signs an event; kind 1, empty tags and content "" by default.
export function sign(key, fields = {}) {
  return finalizeEvent({ kind: 1, tags: [], content: '', created_at: now(), ...fields }, key.sk)
}

// connect opens a nostr-tools Relay and closes it when the test ends.
export async function connect(t, opts = {}) {
  const relay = new Relay(RELAY)
  relay.publishTimeout = WAIT
  relay.onnotice = msg => (relay.notices ??= []).push(msg)
  if (opts.onauth) relay.onauth = opts.onauth
  await relay.connect({ timeout: WAIT })
  t.after(() => relay.close())
  return relay
}

// publish returns the relay's verdict instead of throwing on OK false.
export async function publish(relay, ev) {
  try {
    return { ok: true, reason: (await relay.publish(ev)) ?? '' }
  } catch (err) {
    return { ok: false, reason: String(err?.message ?? err) }
  }
}

export async function accept(relay, ev) {
  const r = await publish(relay, ev)
  assert.ok(r.ok, `relay refused ${ev.kind} event: ${r.reason}`)
}

export async function refuse(relay, ev, prefix) {
  const r = await publish(relay, ev)
  assert.equal(r.ok, false, `relay accepted an event it should refuse with ${prefix}`)
  assert.match(r.reason, new RegExp('^' + prefix), `OK false without the ${prefix} prefix`)
  return r.reason
}

// query sends a REQ and resolves with the events sent before a real EOSE.
// It rejects on CLOSED, on no EOSE within WAIT (nostr-tools would fake one),
// and when the relay sends an event that does not match the filters.
export function query(relay, filters, opts = {}) {
  return new Promise((resolve, reject) => {
    const events = []
    let settled = false
    const done = (err) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      clearTimeout(sub.eoseTimeoutHandle)
      if (!err) sub.close()
      err ? reject(err) : resolve(events)
    }
    const sub = relay.subscribe(filters, {
      eoseTimeout: 10 * WAIT, // ours fires first, so a timed out EOSE is an error
      onevent: ev => events.push(ev),
      oninvalidevent: ev => done(new Error(`relay sent an event that does not match ${JSON.stringify(filters)} or has a bad signature: ${JSON.stringify(ev)}`)),
      oneose: () => done(),
      onclose: reason => done(new Error(`subscription closed before EOSE: ${reason}`)),
      ...opts,
    })
    const timer = setTimeout(() => done(new Error(`no EOSE within ${WAIT} ms for ${JSON.stringify(filters)}`)), WAIT)
  })
}

// closedReason sends a REQ the relay must refuse and resolves with the CLOSED reason.
export function closedReason(relay, filters) {
  return new Promise((resolve, reject) => {
    let settled = false
    const sub = relay.subscribe(filters, {
      eoseTimeout: 10 * WAIT,
      oneose: () => { if (!settled) { settled = true; clearTimeout(timer); sub.close(); reject(new Error('got EOSE, wanted CLOSED')) } },
      onclose: reason => { if (!settled) { settled = true; clearTimeout(timer); clearTimeout(sub.eoseTimeoutHandle); resolve(reason) } },
    })
    const timer = setTimeout(() => { settled = true; clearTimeout(sub.eoseTimeoutHandle); reject(new Error(`no CLOSED within ${WAIT} ms`)) }, WAIT)
  })
}

// assertAlive checks that the connection still serves an ordinary REQ.
export async function assertAlive(relay) {
  assert.ok(relay.connected, 'relay closed the connection')
  await query(relay, [{ ids: [randomBytes(32).toString('hex')] }])
}

export const ids = evs => evs.map(e => e.id).sort()

// plain drops what nostr-tools adds to an event (its verified symbol).
export const plain = ev => JSON.parse(JSON.stringify(ev))

// waitFor polls cond every 50 ms until it is true or ms have passed.
export async function waitFor(cond, ms, what) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await cond()) return
    await sleep(50)
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`)
}

// RawConn speaks the protocol frame by frame, for what nostr-tools hides.
export class RawConn {
  static async open(t, url = RELAY) {
    const c = new RawConn()
    c.ws = new WebSocket(url, { maxPayload: 64 << 20 })
    c.queue = []
    c.waiters = []
    c.closed = null
    c.ws.on('message', data => {
      let msg
      try { msg = JSON.parse(data.toString()) } catch { msg = ['UNPARSEABLE', data.toString()] }
      c.queue.push(msg)
      c.wake()
    })
    c.ws.on('close', (code, reason) => { c.closed = { code, reason: reason.toString() }; c.wake() })
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connect timed out')), WAIT)
      c.ws.once('open', () => { clearTimeout(timer); resolve() })
      c.ws.once('error', err => { clearTimeout(timer); reject(err) })
    })
    t.after(() => c.ws.terminate())
    return c
  }

  wake() { for (const w of this.waiters.splice(0)) w() }

  send(msg) { this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg)) }

  // next removes and returns the first queued message that match accepts,
  // waiting up to ms for it.
  async next(match = () => true, ms = WAIT) {
    const end = Date.now() + ms
    for (;;) {
      const i = this.queue.findIndex(match)
      if (i >= 0) return this.queue.splice(i, 1)[0]
      if (this.closed) throw new Error(`connection closed (${this.closed.code} ${this.closed.reason})`)
      const left = end - Date.now()
      if (left <= 0) throw new Error(`no matching message within ${ms} ms; queue: ${JSON.stringify(this.queue).slice(0, 500)}`)
      await new Promise(r => { const timer = setTimeout(r, left); this.waiters.push(() => { clearTimeout(timer); r() }) })
    }
  }

  // req sends a REQ and returns every message for it up to and including EOSE or CLOSED.
  async req(subId, ...filters) {
    this.send(['REQ', subId, ...filters])
    const msgs = []
    for (;;) {
      const m = await this.next(m => m[1] === subId && ['EVENT', 'EOSE', 'CLOSED'].includes(m[0]))
      msgs.push(m)
      if (m[0] !== 'EVENT') return msgs
    }
  }
}

// fetchInfo fetches the NIP-11 document and checks its CORS header.
export async function fetchInfo() {
  const res = await fetch(HTTP + '/', { headers: { Accept: 'application/nostr+json' }, signal: AbortSignal.timeout(5000) })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('access-control-allow-origin') ?? '', /^\*$/, 'NIP-11 needs CORS: Access-Control-Allow-Origin: *')
  return res.json()
}

// checkLimits compares the NIP-11 limitation with the flags the node got.
export function checkLimits(info) {
  const lim = info.limitation
  assert.equal(typeof lim, 'object', 'no limitation object')
  for (const [field, want] of Object.entries(LIMITS)) {
    assert.equal(lim[field], want, `limitation.${field}`)
  }
  for (const f of ['max_message_length', 'max_subscriptions', 'max_filters', 'max_limit']) {
    assert.ok(Number.isInteger(lim[f]) && lim[f] > 0, `limitation.${f} = ${lim[f]}`)
  }
  if (MODE === 'auth-all') assert.equal(lim.auth_required, true, 'auth_required with --auth all')
  if (MODE === 'auth-writes') assert.equal(lim.restricted_writes, true, 'restricted_writes with --auth writes')
  if (MODE === 'open') assert.notEqual(lim.auth_required, true, 'auth_required with --auth off')
}
