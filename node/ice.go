package node

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-nostr/cairn/turn"
	"github.com/cairn-nostr/cairn/turn/policy"
)

// The node's STUN and TURN server (package turn) serves the browsers that
// load its web app: GET /api/ice hands a tab the ICE servers to use, the
// node's own with fresh credentials, so a tab behind a NAT that blocks a
// direct path relays through its node.

// TURNConfig is the node's STUN/TURN server.
type TURNConfig struct {
	// Enabled runs it (default true).
	Enabled bool
	// Listen is its UDP host:port; "" means the host of Config.Listen and
	// the same port number (UDP beside the HTTP server's TCP), or any free
	// port when that one is taken.
	Listen string
	// TCPListen, when set, is a TCP host:port that also serves STUN and
	// TURN, for tabs whose network blocks UDP (off by default: the
	// HTTP server holds --listen's TCP port).
	TCPListen string
	// Host is the host name or IP tabs reach it at, in the URLs /api/ice
	// returns; "" means the host the tab reached the web app at.
	Host string
	// RelayIP is the address written in relay candidates (the node's
	// public IP); "" means the address Listen bound unless unspecified,
	// else the machine's first global IPv4 address.
	RelayIP string
	// RelayPorts is "MIN-MAX", the UDP ports relay sockets take; "" is
	// any port.
	RelayPorts string
	// CredentialTTL is how long the credentials /api/ice hands out work
	// (default 6h).
	CredentialTTL Duration
	// Session ends one allocation this long after it began (default 1h).
	Session Duration
	// Rate caps one allocation's relayed bytes per second, each way
	// (default 4 MiB; 0 is unlimited).
	Rate int64
	// PerUser, PerIP and Total cap live allocations (0: turn's defaults).
	PerUser, PerIP, Total int
	// AllowPrivate lets relays reach private, link-local and CGNAT
	// addresses: for a lab (test/natlab) or tests only.
	AllowPrivate bool
}

func defaultTURN() TURNConfig {
	return TURNConfig{Enabled: true, CredentialTTL: Duration(6 * time.Hour), Session: Duration(turn.DefaultSession), Rate: turn.DefaultRate}
}

func (c *TURNConfig) validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("turn listen address %q: want host:port, e.g. 0.0.0.0:3478", c.Listen))
		}
	}
	if c.TCPListen != "" {
		if _, _, err := net.SplitHostPort(c.TCPListen); err != nil {
			errs = append(errs, fmt.Errorf("turn TCP listen address %q: want host:port, e.g. 0.0.0.0:3478", c.TCPListen))
		}
	}
	if c.RelayIP != "" {
		if _, err := netip.ParseAddr(c.RelayIP); err != nil {
			errs = append(errs, fmt.Errorf("turn relay IP %q: want an IPv4 address, the node's public one", c.RelayIP))
		}
	}
	if _, _, err := parsePorts(c.RelayPorts); err != nil {
		errs = append(errs, err)
	}
	if c.CredentialTTL < Duration(time.Minute) || c.Session < Duration(time.Second) {
		errs = append(errs, errors.New("turn credential lifetime must be at least 1m and session at least 1s"))
	}
	if c.Rate < 0 || c.PerUser < 0 || c.PerIP < 0 || c.Total < 0 {
		errs = append(errs, errors.New("turn limits must not be negative (0 means the default)"))
	}
	return errors.Join(errs...)
}

// startTURN starts the STUN/TURN server; a failure is logged, and tabs are
// then given no TURN server.
func (n *Node) startTURN() {
	c := n.cfg.TURN
	if !c.Enabled {
		return
	}
	secret, err := turn.LoadSecret(filepath.Join(n.cfg.DataDir, "turn-secret"))
	if err != nil {
		n.log.Error("TURN is off", "err", err)
		return
	}
	cfg := turn.Config{
		Listen: c.Listen, TCPListen: c.TCPListen, Secret: secret, Rate: c.Rate, Session: time.Duration(c.Session), AllowPrivate: c.AllowPrivate,
		Limits: policy.Limits{PerUser: c.PerUser, PerIP: c.PerIP, Total: c.Total},
		Logger: n.log.With("part", "turn"),
	}
	if cfg.Limits.PerUser == 0 {
		cfg.Limits.PerUser = turn.DefaultLimits.PerUser
	}
	if cfg.Limits.PerIP == 0 {
		cfg.Limits.PerIP = turn.DefaultLimits.PerIP
	}
	if cfg.Limits.Total == 0 {
		cfg.Limits.Total = turn.DefaultLimits.Total
	}
	if c.RelayIP != "" {
		cfg.RelayIP, _ = netip.ParseAddr(c.RelayIP) // validated
	}
	cfg.MinPort, cfg.MaxPort, _ = parsePorts(c.RelayPorts) // validated
	derived := cfg.Listen == ""
	if derived {
		host, _, _ := net.SplitHostPort(n.cfg.Listen)
		_, port, _ := net.SplitHostPort(n.ln.Addr().String())
		cfg.Listen = net.JoinHostPort(host, port)
	}
	srv, err := turn.New(cfg)
	if err != nil && derived {
		host, _, _ := net.SplitHostPort(cfg.Listen)
		cfg.Listen = net.JoinHostPort(host, "0")
		srv, err = turn.New(cfg)
	}
	if err != nil {
		n.log.Error("TURN is off: browsers behind NATs cannot relay through this node", "err", err)
		return
	}
	n.turn = srv
	n.log.Info("STUN/TURN for browsers", "udp", srv.Addr().String(), "relay_ip", srv.RelayIP().String())
}

// parsePorts reads "MIN-MAX" ("" is 0, 0: any port).
func parsePorts(s string) (lo, hi int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("turn relay ports %q: want MIN-MAX within 1-65535, e.g. 49152-65535", s)
	}
	return lo, hi, nil
}

// ICEServer is one entry of RTCPeerConnection's iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ICEConfig is the JSON of GET /api/ice.
type ICEConfig struct {
	ICEServers []ICEServer `json:"iceServers"`
	// Expires is when the TURN credentials stop working (unix seconds);
	// 0 when there are none.
	Expires int64 `json:"expires"`
}

// serveICE answers GET /api/ice: the node's STUN and TURN server with a
// credential minted for this request's session, then the STUN servers of
// --ice-server (TURN servers set there keep their credentials: they are the
// operator's, not handed to pages).
func (n *Node) serveICE(w http.ResponseWriter, r *http.Request) {
	out := ICEConfig{ICEServers: []ICEServer{}}
	if n.turn != nil {
		host := n.cfg.TURN.Host
		if host == "" {
			host = r.Host
			if h, _, err := net.SplitHostPort(r.Host); err == nil {
				host = h
			}
		}
		hp := net.JoinHostPort(host, strconv.Itoa(n.turn.Addr().Port))
		var id [8]byte
		rand.Read(id[:])
		cred, err := n.turn.Credentials("s-"+hex.EncodeToString(id[:]), time.Duration(n.cfg.TURN.CredentialTTL))
		if err != nil {
			http.Error(w, "minting TURN credentials: "+err.Error(), http.StatusInternalServerError)
			return
		}
		urls := []string{"stun:" + hp, "turn:" + hp + "?transport=udp"}
		if a := n.turn.TCPAddr(); a != nil {
			urls = append(urls, "turn:"+net.JoinHostPort(host, strconv.Itoa(a.Port))+"?transport=tcp")
		}
		out.ICEServers = append(out.ICEServers, ICEServer{URLs: urls, Username: cred.Username, Credential: cred.Password})
		out.Expires = cred.Expires.Unix()
	}
	for _, u := range n.cfg.WebRTC.ICEServers {
		if !isTURN(u) {
			out.ICEServers = append(out.ICEServers, ICEServer{URLs: []string{u}})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(out)
}
