package np2p

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr"
)

type vectors struct {
	Responses []struct {
		Name    string            `json:"name"`
		Events  []json.RawMessage `json:"events"`
		NoSig   bool              `json:"no_sig"`
		Msgpack string            `json:"msgpack"`
	} `json:"responses"`
	Requests []struct {
		JSON   string  `json:"json"`
		Parsed Request `json:"parsed"`
	} `json:"requests"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/nostrp2p-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Responses) == 0 || len(v.Requests) == 0 {
		t.Fatal("no vectors")
	}
	return v
}

// TestGoldenResponses: cairn's MessagePack answers are byte for byte what
// NostrP2P's server encodes, and decode back to the same events.
func TestGoldenResponses(t *testing.T) {
	for _, c := range loadVectors(t).Responses {
		t.Run(c.Name, func(t *testing.T) {
			var resp EventsResp
			var evs []*nostr.Event
			for _, raw := range c.Events {
				var ev nostr.Event
				if err := json.Unmarshal(raw, &ev); err != nil {
					t.Fatal(err)
				}
				evs = append(evs, &ev)
				e, err := FromNostr(&ev, !c.NoSig)
				if err != nil {
					t.Fatal(err)
				}
				resp.Evts = append(resp.Evts, e)
			}
			got, err := resp.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != c.Msgpack {
				t.Fatalf("encoding differs from NostrP2P's:\n got  %x\n want %s", got, c.Msgpack)
			}
			want, _ := hex.DecodeString(c.Msgpack)
			back, err := DecodeEvents(want)
			if err != nil || len(back.Evts) != len(evs) {
				t.Fatalf("decode: %v, %d events", err, len(back.Evts))
			}
			for i, e := range back.Evts {
				ev := e.ToNostr()
				if c.NoSig {
					ev.Sig = evs[i].Sig
				}
				if ok, err := ev.CheckSignature(); !ok || err != nil || ev.ID != evs[i].ID || !ev.CheckID() {
					t.Fatalf("event %d does not survive the round trip: %+v", i, ev)
				}
			}
		})
	}
}

// TestGoldenRequests: /req bodies parse as NostrP2P parses them.
func TestGoldenRequests(t *testing.T) {
	for _, c := range loadVectors(t).Requests {
		got, err := ParseRequest([]byte(c.JSON))
		if err != nil {
			t.Fatalf("%s: %v", c.JSON, err)
		}
		if !reflect.DeepEqual(got, c.Parsed) {
			t.Fatalf("%s:\n got  %+v\n want %+v", c.JSON, got, c.Parsed)
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, b := range []string{`[]`, `{"kinds":"1"}`, `{"ids":["zz"]}`, `{"#p":[1]}`, `{"limit":-1}`, `not json`} {
		if _, err := ParseRequest([]byte(b)); err == nil {
			t.Errorf("request %s accepted", b)
		}
	}
	if _, _, err := Plan(Request{Kinds: []int{1}}, 10); err == nil {
		t.Error("a post request without ids was planned")
	}
	if _, _, err := Plan(Request{Kinds: []int{0}}, 10); err == nil {
		t.Error("a profile request without authors was planned")
	}
	if _, ok, err := Plan(Request{Kinds: []int{5}}, 10); ok || err != nil {
		t.Error("an unknown kind was planned")
	}
	if _, err := DecodeEvents([]byte{0xc1}); err == nil {
		t.Error("garbage decoded")
	}
	if _, err := FromNostr(&nostr.Event{ID: "x"}, false); err == nil {
		t.Error("a bad id converted")
	}
}

func TestPlan(t *testing.T) {
	q, ok, _ := Plan(Request{Kinds: []int{KindShareAll}, Limit: 500}, 10)
	if !ok || q.Latest != DefaultLatest || !q.WithSig {
		t.Fatalf("limit without range: %+v", q)
	}
	q, _, _ = Plan(Request{Kinds: []int{KindShareAll}, Limit: 500, Since: 1}, 10)
	if q.Latest != 500 || q.Filter.Since != nil {
		t.Fatalf("a limit ignores the range: %+v", q)
	}
	q, _, _ = Plan(Request{Kinds: []int{KindShareAll}, Since: 5, Until: 9}, 10)
	if q.Latest != 10 || *q.Filter.Since != 5 || *q.Filter.Until != 9 {
		t.Fatalf("range: %+v", q)
	}
	q, _, _ = Plan(Request{Kinds: []int{KindShareAll}}, 10)
	if q.Latest != DefaultLatest {
		t.Fatalf("no range, no limit: %+v", q)
	}
	q, _, _ = Plan(Request{Kinds: []int{3}, Authors: []string{strings.Repeat("a", 64)}}, 10)
	if q.WithSig || q.Filter.Kinds[0] != 3 {
		t.Fatalf("follow list: %+v", q)
	}
}

func sign(t *testing.T, sk string, kind int, at int64, content string, tags nostr.Tags) *nostr.Event {
	t.Helper()
	ev := &nostr.Event{Kind: kind, CreatedAt: nostr.Timestamp(at), Tags: tags, Content: content}
	if err := ev.Sign(sk); err != nil {
		t.Fatal(err)
	}
	return ev
}

// memBackend is a slice of events, newest first on query.
type memBackend struct{ evs []*nostr.Event }

func (m *memBackend) backend(owner string) Backend {
	return Backend{
		Publish: func(_ context.Context, ev *nostr.Event) error {
			if ev.PubKey != owner {
				return fmt.Errorf("%w: only the owner publishes here", ErrRestricted)
			}
			m.evs = append(m.evs, ev)
			return nil
		},
		Query: func(_ context.Context, f nostr.Filter) ([]*nostr.Event, error) {
			var out []*nostr.Event
			for i := len(m.evs) - 1; i >= 0; i-- {
				if f.Matches(m.evs[i]) {
					out = append(out, m.evs[i])
				}
			}
			return out, nil
		},
		MaxRange: 3,
	}
}

func post(t *testing.T, h http.Handler, path, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func events(t *testing.T, w *httptest.ResponseRecorder) []*nostr.Event {
	t.Helper()
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("status %d %s: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	var rd io.Reader = w.Body
	if w.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		rd = zr
	}
	b, _ := io.ReadAll(rd)
	resp, err := DecodeEvents(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []*nostr.Event
	for _, e := range resp.Evts {
		out = append(out, e.ToNostr())
	}
	return out
}

// TestHandler: publish and read back through the API, gzip when asked,
// CORS, and every refusal with its status.
func TestHandler(t *testing.T) {
	owner := fmt.Sprintf("%064x", 1)
	opk, _ := nostr.GetPublicKey(owner)
	m := &memBackend{}
	h := Handler(m.backend(opk))
	var posted []*nostr.Event
	for i := range 5 {
		ev := sign(t, owner, 1, int64(1000+i), fmt.Sprintf("post %d", i), nostr.Tags{})
		raw, _ := ev.MarshalJSON()
		w := post(t, h, "/publish", string(raw), "Origin", "https://app.example")
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"Status": "SUCCESS"`) {
			t.Fatalf("publish: %d %s", w.Code, w.Body)
		}
		if w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Fatal("no CORS header")
		}
		posted = append(posted, ev)
	}
	prof := sign(t, owner, 0, 2000, `{"name":"me"}`, nostr.Tags{})
	raw, _ := prof.MarshalJSON()
	if w := post(t, h, "/publish", string(raw)); w.Code != 200 {
		t.Fatal(w.Body)
	}

	got := events(t, post(t, h, "/req", `{"kinds":[40000],"limit":2}`, "Accept-Encoding", "gzip"))
	if len(got) != 2 || got[0].ID != posted[4].ID || got[1].ID != prof.ID || got[1].Sig != prof.Sig {
		t.Fatalf("latest 2, oldest first: %v", got)
	}
	got = events(t, post(t, h, "/req", `{"kinds":[40000],"since":1001,"until":1003}`))
	if len(got) != 3 || got[0].ID != posted[1].ID || got[2].ID != posted[3].ID {
		t.Fatalf("range: %v", got)
	}
	got = events(t, post(t, h, "/req", `{"kinds":[40000],"since":1}`))
	if len(got) != 3 { // MaxRange
		t.Fatalf("a range is bounded: %d", len(got))
	}
	got = events(t, post(t, h, "/req", `{"kinds":[0],"authors":["`+opk+`"]}`))
	if len(got) != 1 || got[0].ID != prof.ID || got[0].Sig != "" {
		t.Fatalf("profile (no sig, as NostrP2P answers): %v", got)
	}
	got = events(t, post(t, h, "/req", `{"kinds":[1],"ids":["`+posted[2].ID+`"],"authors":["`+opk+`"]}`))
	if len(got) != 1 || got[0].Content != "post 2" {
		t.Fatalf("post by id: %v", got)
	}
	if got = events(t, post(t, h, "/req", `{"kinds":[5]}`)); len(got) != 0 {
		t.Fatal("an unknown kind answered events")
	}

	other := sign(t, fmt.Sprintf("%064x", 2), 1, 1, "not the owner", nostr.Tags{})
	rawOther, _ := other.MarshalJSON()
	tampered := *posted[0]
	tampered.Content = "changed"
	rawTampered, _ := tampered.MarshalJSON()
	wrongKind, _ := sign(t, owner, 30023, 1, "article", nostr.Tags{}).MarshalJSON()
	empty, _ := sign(t, owner, 1, 1, "", nostr.Tags{}).MarshalJSON()
	for _, c := range []struct {
		path, body string
		code       int
	}{
		{"/publish", string(rawOther), 403},
		{"/publish", string(rawTampered), 400},
		{"/publish", string(wrongKind), 400},
		{"/publish", string(empty), 400},
		{"/publish", `{"kind":1}`, 400},
		{"/publish", strings.Repeat("x", MaxBody+1), 413},
		{"/req", `{"kinds":[1]}`, 400},
		{"/req", `nope`, 400},
	} {
		w := post(t, h, c.path, c.body)
		var e struct{ Error string }
		if w.Code != c.code || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error == "" {
			t.Errorf("%s %.40s: %d %s", c.path, c.body, w.Code, w.Body)
		}
	}
	if len(m.evs) != 6 {
		t.Fatalf("a refused event was stored: %d", len(m.evs))
	}

	r := httptest.NewRequest("OPTIONS", "/req", nil)
	r.Header.Set("Origin", "https://app.example")
	r.Header.Set("Access-Control-Request-Method", "POST")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || !strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", w.Code, w.Header())
	}

	b := m.backend(opk)
	var missing []nostr.Filter
	b.Missing = func(f nostr.Filter) { missing = append(missing, f) }
	stranger := strings.Repeat("c", 64)
	events(t, post(t, Handler(b), "/req", `{"kinds":[0],"authors":["`+stranger+`"]}`))
	events(t, post(t, Handler(b), "/req", `{"kinds":[0],"authors":["`+opk+`"]}`))
	if len(missing) != 1 || missing[0].Authors[0] != stranger || missing[0].Kinds[0] != 0 {
		t.Fatalf("missing %v", missing)
	}
	b.MayRead = func(*http.Request) (bool, string) { return false, "restricted: private" }
	if w := post(t, Handler(b), "/req", `{"kinds":[40000]}`); w.Code != 403 {
		t.Fatalf("a private read: %d", w.Code)
	}
}
