package chunkmap

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrMagnet: a magnet tag that is not a usable BitTorrent v1 magnet.
var ErrMagnet = errors.New("chunkmap: bad magnet")

// MaxMagnetLen caps a magnet tag's length.
const MaxMagnetLen = 4096

// Magnet is the part of a BEP-9 magnet cairn reads: the torrent of the
// same file as the map (one content identity across the Merkle root, the
// sha256 and the infohash).
type Magnet struct {
	// InfoHash is the v1 infohash (xt=urn:btih:, 40 lowercase hex digits).
	InfoHash [20]byte
	// Name is dn, Length is xl (-1 when absent).
	Name   string
	Length int64
	// WebSeeds are the ws parameters (BEP-19), absolute http(s) URLs.
	WebSeeds []string
	// Source is xs, where the .torrent is served, or empty.
	Source string
	// Peers are the x.pe parameters (BEP-9), host:port, as given.
	Peers []string
}

// ParseMagnet parses a magnet strictly: the magnet: scheme with only a
// query, exactly one xt with a v1 infohash in lowercase hex, at most one
// dn, xl (canonical decimal) and xs, ws and xs absolute http(s) URLs, x.pe
// read as given. Other parameters (tr, ...) are allowed and not read.
func ParseMagnet(s string) (*Magnet, error) {
	if len(s) > MaxMagnetLen {
		return nil, fmt.Errorf("%d characters (max %d): %w", len(s), MaxMagnetLen, ErrMagnet)
	}
	rest, ok := strings.CutPrefix(s, "magnet:?")
	if !ok {
		return nil, fmt.Errorf("%q does not start with magnet:?: %w", trunc(s), ErrMagnet)
	}
	q, err := url.ParseQuery(rest)
	if err != nil {
		return nil, fmt.Errorf("query: %v: %w", err, ErrMagnet)
	}
	for _, k := range []string{"xt", "dn", "xl", "xs"} {
		if len(q[k]) > 1 {
			return nil, fmt.Errorf("%d %s parameters: %w", len(q[k]), k, ErrMagnet)
		}
	}
	xt, ok := strings.CutPrefix(q.Get("xt"), "urn:btih:")
	if !ok {
		return nil, fmt.Errorf("xt %q is not urn:btih:<infohash>: %w", trunc(q.Get("xt")), ErrMagnet)
	}
	m := &Magnet{Name: q.Get("dn"), Length: -1, WebSeeds: q["ws"], Source: q.Get("xs"), Peers: q["x.pe"]}
	if len(xt) != 40 || strings.ToLower(xt) != xt {
		return nil, fmt.Errorf("infohash %q: want 40 lowercase hex digits (BitTorrent v1): %w", trunc(xt), ErrMagnet)
	}
	if _, err := hex.Decode(m.InfoHash[:], []byte(xt)); err != nil {
		return nil, fmt.Errorf("infohash %q: %w", xt, ErrMagnet)
	}
	if q.Has("xl") {
		if m.Length, err = parseNum(q.Get("xl")); err != nil {
			return nil, fmt.Errorf("xl: %v: %w", err, ErrMagnet)
		}
	}
	for _, u := range append(append([]string(nil), m.WebSeeds...), q["xs"]...) {
		if !httpURL(u) {
			return nil, fmt.Errorf("ws or xs %q is not an absolute http(s) URL: %w", trunc(u), ErrMagnet)
		}
	}
	return m, nil
}

// InfoHashHex is the infohash in lowercase hex.
func (m *Magnet) InfoHashHex() string { return hex.EncodeToString(m.InfoHash[:]) }

// checkMagnet parses s and checks it describes a file of size bytes (xl
// present and equal).
func checkMagnet(s string, size int64) (*Magnet, error) {
	m, err := ParseMagnet(s)
	if err != nil {
		return nil, err
	}
	if m.Length != size {
		return nil, fmt.Errorf("magnet's xl %d, the file has %d bytes: %w", m.Length, size, ErrMagnet)
	}
	return m, nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	sch := strings.ToLower(u.Scheme)
	return sch == "http" || sch == "https"
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
