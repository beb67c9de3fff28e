package webrtc

import (
	"errors"
	"strings"
)

// ErrNoLoopbackCandidate: Config.Loopback is set but the local description
// has no 127.0.0.1 candidate to send.
var ErrNoLoopbackCandidate = errors.New("webrtc: no 127.0.0.1 ICE candidate gathered (in Chromium, start it with --allow-loopback-in-peer-connection and grant the page camera/microphone permission)")

// KeepLoopbackCandidates returns sdp with every "a=candidate" line whose
// connection address is not 127.0.0.1 removed (host addresses of other
// interfaces, mDNS .local names, ::1, relayed and reflexive candidates),
// and how many candidate lines remain. Every other line, and the line
// endings, are kept as they were. It is what a browser tab sends when
// Config.Loopback is set: Chromium gathers every interface's candidates,
// and tests on one machine must use loopback only.
func KeepLoopbackCandidates(sdp string) (string, int) {
	var b strings.Builder
	b.Grow(len(sdp))
	kept := 0
	for rest := sdp; rest != ""; {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			rest = ""
		}
		if body, ok := strings.CutPrefix(line, "a=candidate:"); ok {
			// foundation component transport priority address port typ type ...
			f := strings.Fields(body)
			if len(f) < 8 || f[4] != "127.0.0.1" {
				continue
			}
			kept++
		}
		b.WriteString(line)
	}
	return b.String(), kept
}
