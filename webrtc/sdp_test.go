package webrtc

import (
	"strings"
	"testing"
)

func TestKeepLoopbackCandidates(t *testing.T) {
	sdp := strings.Join([]string{
		"v=0",
		"o=- 46117 2 IN IP4 127.0.0.1",
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
		"c=IN IP4 0.0.0.0",
		"a=candidate:1 1 udp 2113937151 192.168.1.20 54321 typ host generation 0",
		"a=candidate:2 1 udp 2113937151 127.0.0.1 50000 typ host generation 0",
		"a=candidate:3 1 udp 2113939711 ::1 50001 typ host generation 0",
		"a=candidate:4 1 udp 2113937151 0b1e9a4c-58a2-4ff1-8d1e-3f1f6c2a7e10.local 50002 typ host",
		"a=candidate:5 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active",
		"a=candidate:6 1 udp 1677729535 203.0.113.7 40000 typ srflx raddr 127.0.0.1 rport 50000",
		"a=candidate:7 1 udp",
		"a=end-of-candidates",
		"",
	}, "\r\n")
	got, n := KeepLoopbackCandidates(sdp)
	want := strings.Join([]string{
		"v=0",
		"o=- 46117 2 IN IP4 127.0.0.1",
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
		"c=IN IP4 0.0.0.0",
		"a=candidate:2 1 udp 2113937151 127.0.0.1 50000 typ host generation 0",
		"a=candidate:5 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active",
		"a=end-of-candidates",
		"",
	}, "\r\n")
	if got != want || n != 2 {
		t.Errorf("kept %d:\n%q\nwant 2:\n%q", n, got, want)
	}
	// Bare \n endings and a last line without one are kept as they are.
	got, n = KeepLoopbackCandidates("v=0\na=candidate:1 1 udp 1 10.0.0.1 1 typ host\na=candidate:2 1 udp 1 127.0.0.1 2 typ host")
	if got != "v=0\na=candidate:2 1 udp 1 127.0.0.1 2 typ host" || n != 1 {
		t.Errorf("got %q, %d", got, n)
	}
	if got, n := KeepLoopbackCandidates(""); got != "" || n != 0 {
		t.Errorf("empty: %q %d", got, n)
	}
}
