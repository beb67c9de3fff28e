package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cairn-nostr/cairn/test/harness"
)

// rawPeerJS is a plain-JavaScript DataChannel peer: no cairn code. It is
// the baseline the browser benchmarks compare against, and the check that
// the loopback recipe works in this Chromium.
const rawPeerJS = `
window.raw = {
  trim(sdp) { return sdp.split('\r\n').filter(l => !l.startsWith('a=candidate') || / 127\.0\.0\.1 /.test(l)).join('\r\n'); },
  async gathered(pc) {
    if (pc.iceGatheringState === 'complete') return;
    await new Promise(r => pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r()));
  },
  async offer() {
    this.pc = new RTCPeerConnection();
    this.dc = this.pc.createDataChannel('raw', {ordered: true});
    this.dc.binaryType = 'arraybuffer';
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await this.gathered(this.pc);
    return this.trim(this.pc.localDescription.sdp);
  },
  async answer(sdp) {
    this.pc = new RTCPeerConnection();
    this.got = 0;
    this.pc.ondatachannel = e => {
      this.dc = e.channel; this.dc.binaryType = 'arraybuffer';
      this.dc.onmessage = m => {
        if (!this.t0) this.t0 = performance.now();
        const at = this.got - this.keptFrom;
        if (this.kept && at < this.kept.length) this.kept.set(new Uint8Array(m.data, 0, Math.min(m.data.byteLength, this.kept.length - at)), at);
        this.got += m.data.byteLength;
        if (this.want && this.got >= this.want) { this.want = 0; this.done(performance.now() - this.t0); }
      };
    };
    await this.pc.setRemoteDescription({type: 'offer', sdp});
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await this.gathered(this.pc);
    return this.trim(this.pc.localDescription.sdp);
  },
  async accept(sdp) {
    await this.pc.setRemoteDescription({type: 'answer', sdp});
    if (this.dc.readyState !== 'open') await new Promise(r => this.dc.addEventListener('open', r));
    return this.pc.localDescription.sdp.split('\r\n').filter(l => l.startsWith('a=candidate')).length;
  },
  // receive resolves with the milliseconds from the first message to the
  // one that brings the total received to n more bytes than now. With keep,
  // the n bytes are also kept for received() (the benchmark does not keep:
  // the copy would slow the baseline it measures).
  receive(n, keep) {
    this.t0 = 0; this.want = this.got + n;
    this.kept = keep ? new Uint8Array(n) : null; this.keptFrom = this.got;
    return new Promise(r => { this.done = r; });
  },
  // received summarizes what arrived since receive(n, true): every byte
  // counted (more than n if more came), and the digest of the first n.
  async received() { return {...await this.summary(this.kept), count: this.got - this.keptFrom}; },
  // send sends total random bytes in 64 KiB messages and keeps them for
  // sentSummary(): a message lost, repeated or out of order changes the digest.
  async send(total) {
    const data = new Uint8Array(total);
    for (let i = 0; i < total; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, total)));
    this.sent = data;
    this.dc.bufferedAmountLowThreshold = 1 << 20;
    const t0 = performance.now();
    for (let off = 0; off < total; off += 64 << 10) {
      if (this.dc.bufferedAmount > (8 << 20)) await new Promise(r => this.dc.addEventListener('bufferedamountlow', r, {once: true}));
      this.dc.send(data.subarray(off, Math.min(off + (64 << 10), total)));
    }
    while (this.dc.bufferedAmount > 0) await new Promise(r => setTimeout(r, 5));
    return performance.now() - t0;
  },
  async sentSummary() { return {...await this.summary(this.sent), count: this.sent.length}; },
  // summary: the length and SHA-256 (hex) of bytes.
  async summary(bytes) {
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    return {bytes: bytes.length, sha256: Array.from(d, x => x.toString(16).padStart(2, '0')).join('')};
  },
};
true`

// blankOrigin serves an empty page on 127.0.0.1: an origin for pages that
// need none of the node.
func blankOrigin(t testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!doctype html><title>blank</title>")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestBrowserRawDataChannel moves 32 MiB of random bytes from one page to
// another over a plain DataChannel: every byte arrives, no more, and the
// receiver's SHA-256 equals the sender's.
func TestBrowserRawDataChannel(t *testing.T) {
	origin := blankOrigin(t)
	a, b := harness.NewBrowser(t), harness.NewBrowser(t)
	a.Open(origin)
	b.Open(origin)
	a.Eval(rawPeerJS, nil)
	b.Eval(rawPeerJS, nil)
	var offer, answer string
	a.Eval(`raw.offer()`, &offer)
	b.Eval(fmt.Sprintf(`raw.answer(%q)`, offer), &answer)
	var cands int
	a.Eval(fmt.Sprintf(`raw.accept(%q)`, answer), &cands)
	if cands == 0 {
		t.Fatal("the offer carried no candidate")
	}
	const total = 32 << 20
	b.Eval(fmt.Sprintf(`raw.receiving = raw.receive(%d, true), true`, total), nil)
	a.Eval(fmt.Sprintf(`raw.send(%d)`, total), nil)
	var ms float64
	b.Eval(`raw.receiving`, &ms)

	type summary struct {
		Count  int    `json:"count"`  // bytes sent, or received since receive()
		Bytes  int    `json:"bytes"`  // bytes digested
		SHA256 string `json:"sha256"` // hex
	}
	var sent, got summary
	a.Eval(`raw.sentSummary()`, &sent)
	b.Eval(`raw.received()`, &got)
	if sent.Count != total || sent.Bytes != total || len(sent.SHA256) != 64 {
		t.Fatalf("sender: %+v, want %d bytes and a digest", sent, total)
	}
	if got.Count != total {
		t.Fatalf("received %d bytes, sent %d", got.Count, total)
	}
	if got.SHA256 != sent.SHA256 {
		t.Fatalf("received bytes hash to %s, sent ones to %s", got.SHA256, sent.SHA256)
	}
	t.Logf("raw DataChannel browser->browser: %d MiB in %.0f ms = %.1f MiB/s, sha256 %s…", total>>20, ms, float64(total>>20)/(ms/1000), got.SHA256[:16])
}
