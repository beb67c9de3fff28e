// An event flood on one connection is refused with rate-limited:, and the
// connection recovers once the sender slows down. Runs with --events-per-second.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { assertAlive, checkLimits, connect, fetchInfo, newKey, publish, sign, skipUnless, waitFor } from './lib.mjs'

const skip = skipUnless('ratelimit')

describe('rate limits', { skip }, () => {
  test('a flood gets rate-limited:, then the connection recovers', async t => {
    const rate = Number(process.env.CAIRN_EVENTS_PER_SECOND)
    assert.ok(rate > 0, 'CAIRN_EVENTS_PER_SECOND not set')
    const relay = await connect(t)
    const key = newKey()
    const flood = Array.from({ length: rate * 10 }, (_, i) => sign(key, { content: `flood ${i}` }))
    const results = await Promise.all(flood.map(ev => publish(relay, ev)))
    const limited = results.filter(r => !r.ok)
    assert.ok(results.some(r => r.ok), 'every event of the flood was refused')
    assert.ok(limited.length > 0, `${flood.length} events at once were all accepted at ${rate}/s`)
    for (const r of limited) assert.match(r.reason, /^rate-limited:/)
    await assertAlive(relay)
    // The bucket refills: after a pause one more event goes through.
    await waitFor(async () => (await publish(relay, sign(key, { content: 'after the flood' }))).ok, 5000, 'the limiter to let an event through')
  })

  test('NIP-11 limitation matches the flags', async () => {
    checkLimits(await fetchInfo())
  })
})
