package np2p

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/nbd-wtf/go-nostr"
)

// Backend is what the API serves from: the personal node's relay and store.
type Backend struct {
	// Publish stores and sends on a checked event; a refusal's text (with
	// its NIP-01 prefix) is shown to the client. ErrRestricted is a 403.
	Publish func(ctx context.Context, ev *nostr.Event) error
	// Query returns the stored events matching f, newest first.
	Query func(ctx context.Context, f nostr.Filter) ([]*nostr.Event, error)
	// MayRead decides whether a /req from r is served (nil: all are).
	MayRead func(r *http.Request) (bool, string)
	// MaxRange bounds the answer to a time range (default 5,000).
	MaxRange int
	// Missing, when set, is told of a post, profile or follow list asked
	// for and not stored (NostrP2P answers with nothing and asks the
	// author's node for later); it must not block.
	Missing func(f nostr.Filter)
}

// ErrRestricted marks a publish refused for who signed it.
var ErrRestricted = errors.New("restricted")

// MaxBody is the largest request body read.
const MaxBody = 256 << 10

// Handler serves POST /publish and POST /req, with CORS (preflight
// included) on both.
func Handler(b Backend) http.Handler {
	if b.MaxRange <= 0 {
		b.MaxRange = 5000
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /publish", b.publish)
	mux.HandleFunc("POST /req", b.req)
	return cors(mux)
}

func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if o := r.Header.Get("Origin"); o != "" {
			h.Set("Access-Control-Allow-Origin", o)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Add("Vary", "Origin")
		} else {
			h.Set("Access-Control-Allow-Origin", "*")
		}
		h.Set("Access-Control-Allow-Private-Network", "true")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Accept, Accept-Encoding, Content-Type, Access-Control-Request-Headers, Access-Control-Request-Method, Origin, Referer, User-Agent")
			h.Set("Access-Control-Max-Age", "3600")
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// fail answers as NostrP2P's REST library does: {"Error": text}.
func fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"Error": msg})
}

func body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		fail(w, http.StatusRequestEntityTooLarge, "the body is over 256 KiB or could not be read")
		return nil, false
	}
	return b, true
}

func (b Backend) publish(w http.ResponseWriter, r *http.Request) {
	raw, ok := body(w, r)
	if !ok {
		return
	}
	ev, err := CheckPublish(raw)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := b.Publish(r.Context(), ev); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrRestricted) {
			code = http.StatusForbidden
		}
		fail(w, code, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	io.WriteString(w, "{\n  \"Status\": \"SUCCESS\"\n}")
}

func (b Backend) req(w http.ResponseWriter, r *http.Request) {
	if b.MayRead != nil {
		if ok, why := b.MayRead(r); !ok {
			fail(w, http.StatusForbidden, why)
			return
		}
	}
	raw, ok := body(w, r)
	if !ok {
		return
	}
	rq, err := ParseRequest(raw)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	q, ok, err := Plan(rq, b.MaxRange)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	var resp EventsResp
	if ok {
		evs, err := b.Query(r.Context(), q.Filter)
		if err != nil {
			fail(w, http.StatusInternalServerError, "the store failed: "+err.Error())
			return
		}
		if len(evs) == 0 && !q.WithSig && b.Missing != nil {
			b.Missing(q.Filter)
		}
		if q.Latest > 0 && len(evs) > q.Latest {
			evs = evs[:q.Latest]
		}
		slices.Reverse(evs) // NostrP2P answers oldest first
		for _, ev := range evs {
			e, err := FromNostr(ev, q.WithSig)
			if err != nil {
				continue
			}
			resp.Evts = append(resp.Evts, e)
		}
	}
	out, err := resp.Encode()
	if err != nil {
		fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if acceptsGzip(r) {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write(out)
		zw.Close()
		return
	}
	w.Write(out)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.TrimSpace(q) != "q=0" {
			return true
		}
	}
	return false
}
