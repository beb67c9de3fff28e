package relay

import (
	"encoding/json"
	"net/http"
)

// info is the NIP-11 relay information document. Its limitation fields are
// the limits this relay enforces, not wishes.
type info struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	PubKey      string `json:"pubkey,omitempty"`
	// Self is the key the relay signs with (NIP-29's group state).
	Self          string     `json:"self,omitempty"`
	Contact       string     `json:"contact,omitempty"`
	SupportedNIPs []int      `json:"supported_nips"`
	Software      string     `json:"software"`
	Version       string     `json:"version"`
	Limitation    limitation `json:"limitation"`
}

type limitation struct {
	MaxMessageLength int   `json:"max_message_length"`
	MaxSubscriptions int   `json:"max_subscriptions"`
	MaxFilters       int   `json:"max_filters"`
	MaxLimit         int   `json:"max_limit"`
	DefaultLimit     int   `json:"default_limit"`
	MaxSubidLength   int   `json:"max_subid_length"`
	MaxEventTags     int   `json:"max_event_tags"`
	MaxContentLength int   `json:"max_content_length"`
	MinPowDifficulty int   `json:"min_pow_difficulty"`
	AuthRequired     bool  `json:"auth_required"`
	PaymentRequired  bool  `json:"payment_required"`
	RestrictedWrites bool  `json:"restricted_writes"`
	CreatedAtLower   int64 `json:"created_at_lower_limit,omitempty"`
	CreatedAtUpper   int64 `json:"created_at_upper_limit"`
	// NIP-95, present when it is on.
	P2PEnabled      bool  `json:"p2p_enabled,omitempty"`
	P2PMaxPeers     int   `json:"p2p_max_peers,omitempty"`
	P2PCacheWindow  int64 `json:"p2p_cache_window,omitempty"`
	P2PMinBandwidth int64 `json:"p2p_min_bandwidth,omitempty"`
}

// SupportedNIPs are the NIPs this relay implements.
var SupportedNIPs = []int{1, 9, 11, 13, 40, 42, 45, 77}

func (r *Relay) info() info {
	in := r.baseInfo()
	if p := r.peers; p != nil {
		in.SupportedNIPs = append(append([]int(nil), SupportedNIPs...), 95)
		in.Limitation.P2PEnabled = true
		in.Limitation.P2PMaxPeers = p.cfg.MaxPeers
		in.Limitation.P2PCacheWindow = int64(p.cfg.CacheWindow.Seconds())
		in.Limitation.P2PMinBandwidth = int64(p.cfg.MinBandwidth * 1e6) // NIP-11 says bits/s
	}
	return in
}

func (r *Relay) baseInfo() info {
	c := r.cfg
	return info{
		Name:          c.Name,
		Description:   c.Description,
		PubKey:        c.PubKey,
		Self:          c.PubKey,
		Contact:       c.Contact,
		SupportedNIPs: SupportedNIPs,
		Software:      "cairn",
		Version:       c.Version,
		Limitation: limitation{
			MaxMessageLength: c.MaxMessageBytes,
			MaxSubscriptions: c.MaxSubscriptions,
			MaxFilters:       c.MaxFilters,
			MaxLimit:         c.MaxLimit,
			DefaultLimit:     c.DefaultLimit,
			MaxSubidLength:   c.MaxSubIDLength,
			MaxEventTags:     c.MaxEventTags,
			MaxContentLength: c.MaxContentLength,
			MinPowDifficulty: c.MinPowDifficulty,
			AuthRequired:     c.Auth == AuthAll,
			RestrictedWrites: c.Auth != AuthOff || c.MinPowDifficulty > 0,
			CreatedAtLower:   0,
			CreatedAtUpper:   int64(c.MaxFutureSkew.Seconds()),
		},
	}
}

func (r *Relay) serveNIP11(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/nostr+json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Headers", "*")
	w.Header().Set("Access-Control-Allow-Methods", "GET")
	json.NewEncoder(w).Encode(r.info())
}
