package blossom

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/event"
)

// KindAuth is the kind of a Blossom authorization token (BUD-11).
const KindAuth = 24242

// Verb is an authorization token's t tag: the action it allows.
type Verb string

// The verbs of BUD-11.
const (
	VerbGet    Verb = "get"
	VerbUpload Verb = "upload"
	VerbList   Verb = "list"
	VerbDelete Verb = "delete"
)

// MaxHeader bounds the Authorization header's token (base64), so a client
// cannot make the server decode megabytes.
const MaxHeader = 64 << 10

// ClockSkew is how far in the future a token's created_at may be: BUD-11
// wants it in the past, and clients' clocks drift.
const ClockSkew = 60 * time.Second

// ParseHeader decodes an Authorization header "Nostr <token>", the token
// being the event's JSON in base64: URL-safe without padding (BUD-11), or
// standard or padded (older clients). It checks the event's shape, id and
// signature, not what it allows (CheckAuth). An empty header is a 401
// asking for a token.
func ParseHeader(h string) (*nostr.Event, error) {
	if h == "" {
		return nil, refuse(StatusUnauthorized, "authorization required: send a signed kind 24242 event as \"Authorization: Nostr <base64>\"")
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Nostr") {
		return nil, refuse(StatusUnauthorized, "authorization scheme must be \"Nostr\" followed by a base64 kind 24242 event")
	}
	tok = strings.TrimSpace(tok)
	if len(tok) > MaxHeader {
		return nil, refuse(StatusUnauthorized, "authorization token over %d bytes", MaxHeader)
	}
	tok = strings.TrimRight(tok, "=")
	tok = strings.NewReplacer("+", "-", "/", "_").Replace(tok)
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, refuse(StatusUnauthorized, "authorization token is not base64: %v", err)
	}
	ev, err := event.Decode(raw)
	if err != nil {
		return nil, refuse(StatusUnauthorized, "authorization token is not a Nostr event: %v", err)
	}
	if err := event.Verify(ev); err != nil {
		return nil, refuse(StatusUnauthorized, "authorization event: %v", err)
	}
	return ev, nil
}

// Request is what an endpoint asks of a token.
type Request struct {
	Verb Verb
	// SHA256 is the blob hash the endpoint implies (lowercase hex), or "".
	SHA256 string
	// NeedX: the token must carry an x tag equal to SHA256 (upload,
	// delete, mirror). Without it an x tag, if any, must still match.
	NeedX bool
	// Host is this server's host name; a token with server tags must
	// name it.
	Host string
}

// Auth is a token that passed CheckAuth.
type Auth struct {
	PubKey     string
	Verb       Verb
	X          []string
	Expiration int64
}

// Allows reports whether the token names sha in an x tag.
func (a *Auth) Allows(sha string) bool {
	for _, x := range a.X {
		if x == sha {
			return true
		}
	}
	return false
}

// CheckAuth applies BUD-11's checks to a verified token at now: kind
// 24242, created_at not in the future (ClockSkew allowed), an expiration
// tag in the future, the t tag req.Verb, server tags naming req.Host if
// any, and an x tag equal to req.SHA256 when req.NeedX. A get token
// (BUD-01) must have a server tag or an x tag: it is scoped to this server
// or to the blob. Each failure is a 401 naming the check.
func CheckAuth(ev *nostr.Event, req Request, now time.Time) (*Auth, error) {
	if ev.Kind != KindAuth {
		return nil, refuse(StatusUnauthorized, "authorization event has kind %d, want %d", ev.Kind, KindAuth)
	}
	if ev.CreatedAt.Time().After(now.Add(ClockSkew)) {
		return nil, refuse(StatusUnauthorized, "authorization event's created_at is in the future: check the device's clock")
	}
	a := &Auth{PubKey: ev.PubKey}
	var servers []string
	expSeen := false
	for _, t := range ev.Tags {
		if len(t) < 2 {
			continue
		}
		switch t[0] {
		case "t":
			if a.Verb == "" {
				a.Verb = Verb(t[1])
			}
		case "x":
			a.X = append(a.X, t[1])
		case "server":
			servers = append(servers, strings.ToLower(t[1]))
		case "expiration":
			if expSeen {
				continue
			}
			exp, err := strconv.ParseInt(t[1], 10, 64)
			if err != nil {
				return nil, refuse(StatusUnauthorized, "authorization event's expiration %q is not a unix time", t[1])
			}
			a.Expiration, expSeen = exp, true
		}
	}
	switch {
	case !expSeen:
		return nil, refuse(StatusUnauthorized, "authorization event has no expiration tag")
	case a.Expiration <= now.Unix():
		return nil, refuse(StatusUnauthorized, "authorization event expired at %d: sign a new one", a.Expiration)
	case a.Verb == "":
		return nil, refuse(StatusUnauthorized, "authorization event has no t tag (want %q)", req.Verb)
	case a.Verb != req.Verb:
		return nil, refuse(StatusUnauthorized, "authorization event allows %q, this endpoint needs %q", a.Verb, req.Verb)
	}
	if len(servers) > 0 {
		host := hostOnly(req.Host)
		ok := false
		for _, s := range servers {
			if hostOnly(s) == host {
				ok = true
				break
			}
		}
		if !ok {
			return nil, refuse(StatusUnauthorized, "authorization event is scoped to other servers (%s), not %s", strings.Join(servers, ", "), host)
		}
	}
	if req.Verb == VerbGet && len(servers) == 0 && len(a.X) == 0 {
		return nil, refuse(StatusUnauthorized, "a get authorization event must name this server in a server tag or the blob in an x tag")
	}
	if req.SHA256 != "" && (req.NeedX || len(a.X) > 0) && !a.Allows(req.SHA256) {
		if len(a.X) == 0 {
			return nil, refuse(StatusUnauthorized, "authorization event has no x tag: it must name the blob's sha256 %s", req.SHA256)
		}
		return nil, refuse(StatusUnauthorized, "authorization event's x tags do not name blob %s", req.SHA256)
	}
	return a, nil
}

// hostOnly is the lowercase host name of "host", "host:port" or a URL.
func hostOnly(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "]"); i >= 0 {
			return s[1:i]
		}
	}
	if i := strings.LastIndex(s, ":"); i >= 0 && strings.Count(s, ":") == 1 {
		s = s[:i]
	}
	return s
}
