// Package rtc is the WebRTC API package webrtc programs against: pion's
// types natively (aliases), and in the browser build (GOOS=js) a thin
// layer of the same names over the page's own RTCPeerConnection and
// RTCDataChannel. pion's js build, which did the same job, also linked
// its ICE, DTLS, SCTP, TURN and mDNS packages and Go's TLS and X.509 code,
// about a quarter of the wasm core.
//
// Only what package webrtc uses is here. In the browser, methods that wait
// for a promise (CreateOffer, CreateAnswer, SetLocalDescription,
// SetRemoteDescription, AddICECandidate) must be called from a goroutine,
// never from inside a js.Func callback; event handlers run in goroutines of
// their own, messages delivered in the order they arrived.
package rtc
