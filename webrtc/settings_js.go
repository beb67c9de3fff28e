//go:build js

package webrtc

import "github.com/cairn-nostr/cairn/webrtc/rtc"

// newAPI returns the browser's WebRTC API (package rtc). It has no network
// knobs: loopback depends on the browser's flags, and on describe trimming
// the candidates this side sends.
func newAPI(cfg *Config) *rtc.API {
	return rtc.NewAPI()
}

// prepareChannel has nothing to do: package rtc already makes the browser
// deliver binary messages as ArrayBuffers, read in order.
func prepareChannel(dc *rtc.DataChannel) {}
