package blossom

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cairn-nostr/cairn/event"
)

// Mode is who may upload.
type Mode string

// The upload modes.
const (
	// Everyone: any pubkey with a valid token.
	Everyone Mode = "everyone"
	// Owner: only the node's owner (Policy.Owner).
	Owner Mode = "owner"
	// Allowlist: the owner and the pubkeys of Policy.Allow.
	Allowlist Mode = "allowlist"
)

// Policy is the server's upload policy.
type Policy struct {
	Mode Mode
	// Owner is the node's own pubkey (hex): it may always upload.
	Owner string
	// Allow are the pubkeys (hex) that may upload in Allowlist mode.
	Allow []string
	// MaxSize is the largest blob in bytes; 0 is no limit.
	MaxSize int64
	// Quota is the most bytes one pubkey may own; 0 is no limit.
	Quota int64
	// Types are the MIME types accepted, exact ("video/mp4") or by
	// major type ("image/*"); empty accepts any.
	Types []string
	// PrivateGet: reading a blob (GET, HEAD) needs a t=get token
	// (BUD-01's optional get authorization) whose pubkey MayRead admits.
	PrivateGet bool
}

// Validate names what is wrong with p.
func (p Policy) Validate() error {
	var errs []error
	switch p.Mode {
	case Everyone, Owner, Allowlist:
	default:
		errs = append(errs, fmt.Errorf("blossom upload mode %q: use everyone, owner or allowlist", p.Mode))
	}
	for _, k := range p.Allow {
		if !event.IsHex(k, 64) {
			errs = append(errs, fmt.Errorf("blossom allowlist entry %q is not a hex pubkey", k))
		}
	}
	if p.MaxSize < 0 || p.Quota < 0 {
		errs = append(errs, errors.New("blossom max size and quota must not be negative (0 means no limit)"))
	}
	for _, t := range p.Types {
		if mt, sub, ok := strings.Cut(t, "/"); !ok || mt == "" || sub == "" || strings.ContainsAny(t, " ;,") {
			errs = append(errs, fmt.Errorf("blossom type %q: want type/subtype or type/*", t))
		}
	}
	return errors.Join(errs...)
}

// Upload is what the policy judges.
type Upload struct {
	PubKey string
	// Size in bytes; -1 when not known yet (checked again once read).
	Size int64
	// Type is the MIME type; "" when not known.
	Type string
	// Used is what PubKey owns already (Records.Used).
	Used int64
	// Owned: PubKey owns this blob already, so it adds nothing to Used.
	Owned bool
}

// MayUpload refuses a pubkey the mode does not admit (403).
func (p Policy) MayUpload(pubkey string) error {
	switch {
	case p.Mode == Everyone, pubkey == p.Owner:
		return nil
	case p.Mode == Allowlist:
		for _, k := range p.Allow {
			if k == pubkey {
				return nil
			}
		}
		return refuse(StatusForbidden, "pubkey %s is not on this server's upload allowlist", pubkey)
	}
	return refuse(StatusForbidden, "only this server's owner may upload here")
}

// MayRead refuses (403) a reader the mode does not admit when PrivateGet
// is on: who may read is who may upload (everyone, the owner, or the
// owner and the allowlist).
func (p Policy) MayRead(pubkey string) error {
	if !p.PrivateGet || p.MayUpload(pubkey) == nil {
		return nil
	}
	if p.Mode == Allowlist {
		return refuse(StatusForbidden, "blobs here are private: pubkey %s is not on this server's allowlist", pubkey)
	}
	return refuse(StatusForbidden, "blobs here are private: only this server's owner may read them")
}

// CheckUpload applies the whole policy: who (403), the type (415), the
// size (413) and the pubkey's quota (429).
func (p Policy) CheckUpload(u Upload) error {
	if err := p.MayUpload(u.PubKey); err != nil {
		return err
	}
	if err := p.CheckType(u.Type); err != nil {
		return err
	}
	return p.CheckSize(u)
}

// CheckType refuses a MIME type the policy does not accept (415). An
// unknown type ("") passes only when every type does.
func (p Policy) CheckType(t string) error {
	if len(p.Types) == 0 {
		return nil
	}
	t = BaseType(t)
	major, _, _ := strings.Cut(t, "/")
	for _, a := range p.Types {
		if a == t || strings.HasSuffix(a, "/*") && t != "" && strings.TrimSuffix(a, "/*") == major {
			return nil
		}
	}
	if t == "" {
		t = "unknown"
	}
	return refuse(StatusUnsupportedType, "type %s is not accepted here (accepted: %s)", t, strings.Join(p.Types, ", "))
}

// CheckSize refuses a blob over MaxSize (413) or over the pubkey's quota
// (429). A size of -1 passes (the edge checks again while reading).
func (p Policy) CheckSize(u Upload) error {
	if u.Size < 0 {
		return nil
	}
	if p.MaxSize > 0 && u.Size > p.MaxSize {
		return refuse(StatusTooLarge, "blob of %d bytes is over this server's limit of %d bytes", u.Size, p.MaxSize)
	}
	if p.Quota > 0 && !u.Owned && u.Used+u.Size > p.Quota {
		return refuse(StatusTooManyRequests, "quota: this pubkey stores %d bytes here, and %d more would pass its quota of %d bytes (delete some blobs first)", u.Used, u.Size, p.Quota)
	}
	return nil
}

// Limit is the most bytes an upload by u.PubKey may carry under MaxSize
// and the quota; 0 is no limit. The edge stops reading past it.
func (p Policy) Limit(u Upload) int64 {
	lim := p.MaxSize
	if p.Quota > 0 && !u.Owned {
		left := max(p.Quota-u.Used, 0)
		if lim == 0 || left < lim {
			lim = left
		}
	}
	return lim
}

// BaseType is t without parameters, lowercase: "video/mp4; codecs=…"
// is video/mp4.
func BaseType(t string) string {
	t, _, _ = strings.Cut(t, ";")
	return strings.ToLower(strings.TrimSpace(t))
}
