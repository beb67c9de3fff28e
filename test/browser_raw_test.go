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
        this.got += m.data.byteLength;
        if (this.want && this.got >= this.want) { const w = this.want; this.want = 0; this.done(performance.now() - this.t0); }
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
  // one that brings the total received to n more bytes than now.
  receive(n) { this.t0 = 0; this.want = this.got + n; return new Promise(r => { this.done = r; }); },
  async send(total) {
    const msg = new Uint8Array(64 << 10);
    this.dc.bufferedAmountLowThreshold = 1 << 20;
    const t0 = performance.now();
    for (let sent = 0; sent < total; sent += msg.length) {
      if (this.dc.bufferedAmount > (8 << 20)) await new Promise(r => this.dc.addEventListener('bufferedamountlow', r, {once: true}));
      this.dc.send(msg);
    }
    while (this.dc.bufferedAmount > 0) await new Promise(r => setTimeout(r, 5));
    return performance.now() - t0;
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
	const total = 32 << 20
	b.Eval(fmt.Sprintf(`raw.receiving = raw.receive(%d), true`, total), nil)
	a.Eval(fmt.Sprintf(`raw.send(%d)`, total), nil)
	var ms float64
	b.Eval(`raw.receiving`, &ms)
	t.Logf("raw DataChannel browser->browser: %d MiB in %.0f ms = %.1f MiB/s", total>>20, ms, float64(total>>20)/(ms/1000))
}
