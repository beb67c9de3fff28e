//go:build !js

package webrtc

import (
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// newAPI returns the pion API for cfg. On loopback it gathers only
// 127.0.0.1/::1 host candidates and never uses mDNS.
func newAPI(cfg *Config) *webrtc.API {
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if cfg.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

// prepareChannel has nothing to do natively: pion delivers bytes.
func prepareChannel(*webrtc.DataChannel) {}
