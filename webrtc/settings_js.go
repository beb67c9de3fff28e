//go:build js

package webrtc

import "github.com/pion/webrtc/v4"

// newAPI returns the pion API. In the browser the SettingEngine has no
// network knobs: loopback depends on the browser's flags.
func newAPI(cfg *Config) *webrtc.API {
	return webrtc.NewAPI()
}
