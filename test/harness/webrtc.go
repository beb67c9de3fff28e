package harness

// Page scripts the browser suites share (test/ and test/natlab): loading
// the browser core, and reading which ICE candidates the browser's own
// RTCPeerConnections selected.

// LoadCoreJS loads wasm_exec.js and cairn.wasm into the page (any page of
// a node's origin) and resolves when globalThis.cairn is ready.
const LoadCoreJS = `(async () => {
  if (globalThis.cairn && cairn.start) return true;
  await new Promise((ok, fail) => {
    const s = document.createElement('script');
    s.src = '/wasm_exec.js'; s.onload = ok; s.onerror = () => fail(new Error('wasm_exec.js did not load'));
    document.head.append(s);
  });
  const ready = new Promise(ok => { globalThis.onCairnReady = ok; });
  const go = new Go();
  const { instance } = await WebAssembly.instantiateStreaming(fetch('/cairn.wasm'), go.importObject);
  go.run(instance);
  await ready;
  return true;
})()`

// RecordPeerConnectionsJS, evaluated before the core loads, records every
// RTCPeerConnection the page makes (the core makes them through pion's js
// build) with its configuration, for SelectedPairsJS.
const RecordPeerConnectionsJS = `(() => {
  if (window.pcs) return true;
  window.pcs = [];
  const Orig = window.RTCPeerConnection;
  window.RTCPeerConnection = function (cfg) { const pc = new Orig(cfg); window.pcs.push({pc, cfg}); return pc; };
  window.RTCPeerConnection.prototype = Orig.prototype;
  window.RTCPeerConnection.generateCertificate = Orig.generateCertificate;
  return true;
})()`

// SelectedPairsJS resolves to a SelectedPair for each connected
// RTCPeerConnection RecordPeerConnectionsJS recorded, read from the
// browser's getStats().
const SelectedPairsJS = `(async () => {
  const out = [];
  for (const {pc, cfg} of window.pcs) {
    if (pc.connectionState !== 'connected') continue;
    const st = await pc.getStats();
    let pair;
    st.forEach(r => { if (r.type === 'transport' && r.selectedCandidatePairId) pair = st.get(r.selectedCandidatePairId); });
    if (!pair) st.forEach(r => { if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r; });
    if (!pair) { out.push({policy: cfg && cfg.iceTransportPolicy || '', local: 'none', remote: 'none'}); continue; }
    const l = st.get(pair.localCandidateId), rm = st.get(pair.remoteCandidateId);
    out.push({policy: cfg && cfg.iceTransportPolicy || '', local: l.candidateType, remote: rm.candidateType,
      local_addr: l.address + ':' + l.port, remote_addr: rm.address + ':' + rm.port,
      relay_protocol: l.relayProtocol || '', url: l.url || '', servers: (cfg && cfg.iceServers || []).length});
  }
  return out;
})()`

// SelectedPair is one connected RTCPeerConnection's selected candidate
// pair: the candidate types (host, srflx, prflx, relay; "none" when no
// pair is selected), their addresses, the relay's protocol and TURN URL
// when the local one is a relay, and the configuration's ICE policy and
// server count.
type SelectedPair struct {
	Policy        string `json:"policy"`
	Local         string `json:"local"`
	Remote        string `json:"remote"`
	LocalAddr     string `json:"local_addr"`
	RemoteAddr    string `json:"remote_addr"`
	RelayProtocol string `json:"relay_protocol"`
	URL           string `json:"url"`
	Servers       int    `json:"servers"`
}

// Relayed tells whether either candidate is a TURN relay.
func (p SelectedPair) Relayed() bool { return p.Local == "relay" || p.Remote == "relay" }

// SelectedPairs evaluates SelectedPairsJS in b.
func (b *Browser) SelectedPairs() []SelectedPair {
	b.t.Helper()
	var ps []SelectedPair
	b.Eval(SelectedPairsJS, &ps)
	return ps
}
