//go:build js

package webrtc

import "github.com/pion/webrtc/v4"

// newAPI returns the pion API. In the browser the SettingEngine has no
// network knobs: loopback depends on the browser's flags, and on
// describe trimming the candidates this side sends.
func newAPI(cfg *Config) *webrtc.API {
	return webrtc.NewAPI()
}

// prepareChannel makes the browser deliver binary messages as ArrayBuffers:
// pion's js build reads a Blob asynchronously, in the message's own
// goroutine, which could reorder messages.
func prepareChannel(dc *webrtc.DataChannel) {
	dc.JSValue().Set("binaryType", "arraybuffer")
}
