package blossom

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nbd-wtf/go-nostr"

	"github.com/cairn-nostr/cairn/internal/archtest"
)

// TestPure keeps blossom a pure core: headers, events and now in,
// decisions out.
func TestPure(t *testing.T) {
	archtest.CheckPure(t, ".", []string{
		"encoding/base64", "encoding/json", "errors", "fmt", "sort", "strconv", "strings", "time",
		"github.com/nbd-wtf/go-nostr", "github.com/cairn-nostr/cairn/event",
	})
}

var (
	now  = time.Unix(1_800_000_000, 0)
	sk   = nostr.GeneratePrivateKey()
	pk   = mustPub(sk)
	blob = strings.Repeat("ab", 32)
)

func mustPub(sk string) string {
	p, err := nostr.GetPublicKey(sk)
	if err != nil {
		panic(err)
	}
	return p
}

func token(t *testing.T, edit func(*nostr.Event)) *nostr.Event {
	t.Helper()
	ev := &nostr.Event{
		Kind:      KindAuth,
		CreatedAt: nostr.Timestamp(now.Unix() - 10),
		Content:   "Upload Blob",
		Tags:      nostr.Tags{{"t", "upload"}, {"expiration", "1800000600"}, {"x", blob}},
	}
	if edit != nil {
		edit(ev)
	}
	if err := ev.Sign(sk); err != nil {
		t.Fatal(err)
	}
	return ev
}

func header(ev *nostr.Event, enc *base64.Encoding) string {
	b, _ := json.Marshal(ev)
	return "Nostr " + enc.EncodeToString(b)
}

func status(err error) int {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Status
	}
	return 0
}

func TestParseHeaderEncodings(t *testing.T) {
	ev := token(t, nil)
	for name, enc := range map[string]*base64.Encoding{
		"url raw": base64.RawURLEncoding, "url padded": base64.URLEncoding,
		"std": base64.StdEncoding, "std raw": base64.RawStdEncoding,
	} {
		got, err := ParseHeader(header(ev, enc))
		if err != nil || got.ID != ev.ID {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseHeaderRefusals(t *testing.T) {
	good := token(t, nil)
	forged := *good
	forged.Content = "changed"
	forgedSig := *good
	forgedSig.Sig = strings.Repeat("0", 128)
	for name, h := range map[string]string{
		"empty":       "",
		"scheme":      strings.Replace(header(good, base64.RawURLEncoding), "Nostr", "Bearer", 1),
		"not base64":  "Nostr !!!",
		"not event":   "Nostr " + base64.RawURLEncoding.EncodeToString([]byte(`{"a":1}`)),
		"id mismatch": header(&forged, base64.RawURLEncoding),
		"bad sig":     header(&forgedSig, base64.RawURLEncoding),
		"huge":        "Nostr " + strings.Repeat("A", MaxHeader+1),
	} {
		_, err := ParseHeader(h)
		if status(err) != StatusUnauthorized {
			t.Errorf("%s: %v, want a 401 refusal", name, err)
		}
	}
}

func TestCheckAuth(t *testing.T) {
	up := Request{Verb: VerbUpload, SHA256: blob, NeedX: true, Host: "cdn.example.com:7447"}
	if a, err := CheckAuth(token(t, nil), up, now); err != nil || a.PubKey != pk || a.Expiration != 1800000600 {
		t.Fatalf("a good token: %+v %v", a, err)
	}
	other := strings.Repeat("cd", 32)
	cases := map[string]struct {
		edit func(*nostr.Event)
		req  Request
		want string
	}{
		"kind":           {func(e *nostr.Event) { e.Kind = 1 }, up, "kind"},
		"future":         {func(e *nostr.Event) { e.CreatedAt = nostr.Timestamp(now.Add(2 * ClockSkew).Unix()) }, up, "future"},
		"expired":        {func(e *nostr.Event) { e.Tags[1] = nostr.Tag{"expiration", "1799999999"} }, up, "expired"},
		"expires now":    {func(e *nostr.Event) { e.Tags[1] = nostr.Tag{"expiration", "1800000000"} }, up, "expired"},
		"no expiration":  {func(e *nostr.Event) { e.Tags = nostr.Tags{{"t", "upload"}, {"x", blob}} }, up, "no expiration"},
		"bad expiration": {func(e *nostr.Event) { e.Tags[1] = nostr.Tag{"expiration", "soon"} }, up, "not a unix time"},
		"verb":           {func(e *nostr.Event) { e.Tags[0] = nostr.Tag{"t", "delete"} }, up, "allows \"delete\""},
		"no verb":        {func(e *nostr.Event) { e.Tags = e.Tags[1:] }, up, "no t tag"},
		"x other":        {func(e *nostr.Event) { e.Tags[2] = nostr.Tag{"x", other} }, up, "do not name"},
		"x missing":      {func(e *nostr.Event) { e.Tags = e.Tags[:2] }, up, "no x tag"},
		"server other":   {func(e *nostr.Event) { e.Tags = append(e.Tags, nostr.Tag{"server", "other.example"}) }, up, "scoped to other servers"},
	}
	for name, c := range cases {
		_, err := CheckAuth(token(t, c.edit), c.req, now)
		if status(err) != StatusUnauthorized || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a 401 saying %q", name, err, c.want)
		}
	}
	// A server tag naming this host passes; so does a list token without x.
	if _, err := CheckAuth(token(t, func(e *nostr.Event) { e.Tags = append(e.Tags, nostr.Tag{"server", "CDN.example.com"}) }), up, now); err != nil {
		t.Errorf("server tag naming the host: %v", err)
	}
	list := token(t, func(e *nostr.Event) { e.Tags = nostr.Tags{{"t", "list"}, {"expiration", "1800000600"}} })
	if _, err := CheckAuth(list, Request{Verb: VerbList}, now); err != nil {
		t.Errorf("list token: %v", err)
	}
	// A get token with x fits only those blobs (TestCheckAuthGet: the rest
	// of BUD-01's get rules).
	getX := token(t, func(e *nostr.Event) { e.Tags[0] = nostr.Tag{"t", "get"} })
	if _, err := CheckAuth(getX, Request{Verb: VerbGet, SHA256: other}, now); status(err) != StatusUnauthorized {
		t.Errorf("get token for another blob: %v", err)
	}
}

func TestPolicy(t *testing.T) {
	owner, friend, stranger := strings.Repeat("01", 32), strings.Repeat("02", 32), strings.Repeat("03", 32)
	bad := Policy{Mode: "some", Allow: []string{"npub1x"}, MaxSize: -1, Types: []string{"image"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "everyone, owner or allowlist") || !strings.Contains(err.Error(), "hex pubkey") || !strings.Contains(err.Error(), "type/subtype") {
		t.Errorf("Validate: %v", err)
	}
	p := Policy{Mode: Allowlist, Owner: owner, Allow: []string{friend}, MaxSize: 100, Quota: 150, Types: []string{"image/*", "video/mp4"}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	ok := func(u Upload) {
		t.Helper()
		err := p.CheckUpload(u)
		if err != nil {
			t.Errorf("%+v: %v", u, err)
		}
	}
	no := func(u Upload, code int) {
		t.Helper()
		if err := p.CheckUpload(u); status(err) != code {
			t.Errorf("%+v: %v, want %d", u, err, code)
		}
	}
	ok(Upload{PubKey: owner, Size: 10, Type: "image/png"})
	ok(Upload{PubKey: friend, Size: 100, Type: "video/mp4; codecs=\"avc1\""})
	ok(Upload{PubKey: friend, Size: -1, Type: "IMAGE/JPEG"})
	no(Upload{PubKey: stranger, Size: 10, Type: "image/png"}, StatusForbidden)
	no(Upload{PubKey: friend, Size: 10, Type: "application/pdf"}, StatusUnsupportedType)
	no(Upload{PubKey: friend, Size: 10, Type: ""}, StatusUnsupportedType)
	no(Upload{PubKey: friend, Size: 101, Type: "image/png"}, StatusTooLarge)
	no(Upload{PubKey: friend, Size: 60, Used: 100, Type: "image/png"}, StatusTooManyRequests)
	ok(Upload{PubKey: friend, Size: 60, Used: 100, Owned: true, Type: "image/png"})
	if l := p.Limit(Upload{PubKey: friend, Used: 100}); l != 50 {
		t.Errorf("Limit with 50 bytes of quota left: %d", l)
	}
	if l := p.Limit(Upload{PubKey: friend}); l != 100 {
		t.Errorf("Limit with the quota free: %d", l)
	}
	if l := (Policy{Mode: Everyone}).Limit(Upload{}); l != 0 {
		t.Errorf("Limit without limits: %d", l)
	}
	o := Policy{Mode: Owner, Owner: owner}
	if o.MayUpload(owner) != nil || status(o.MayUpload(friend)) != StatusForbidden {
		t.Error("owner mode admits the owner only")
	}
	if (Policy{Mode: Everyone}).CheckUpload(Upload{PubKey: stranger, Size: 1 << 40}) != nil {
		t.Error("everyone without limits refused an upload")
	}
}

func TestRecords(t *testing.T) {
	a, b := strings.Repeat("0a", 32), strings.Repeat("0b", 32)
	x, y := strings.Repeat("1a", 32), strings.Repeat("1b", 32)
	r := NewRecords()
	if !r.Add(a, Record{SHA256: x, Size: 10, Type: "image/png", Uploaded: 100}) || r.Add(a, Record{SHA256: x, Size: 10, Uploaded: 200}) {
		t.Fatal("Add reports new, then not new")
	}
	r.Add(a, Record{SHA256: y, Size: 5, Uploaded: 300})
	r.Add(b, Record{SHA256: x, Size: 10, Uploaded: 150})
	if rec, ok := r.Get(a, x); !ok || rec.Uploaded != 100 {
		t.Errorf("Get keeps the first upload: %+v %v", rec, ok)
	}
	if r.Used(a) != 15 || r.Used(b) != 10 || !r.Owns(b, x) || r.Owns(b, y) {
		t.Errorf("Used %d %d", r.Used(a), r.Used(b))
	}
	if n, by := r.Totals(); n != 2 || by != 15 {
		t.Errorf("Totals %d %d", n, by)
	}
	l := r.List(a, 0, 0)
	if len(l) != 2 || l[0].SHA256 != y || l[1].SHA256 != x {
		t.Errorf("List newest first: %+v", l)
	}
	if l := r.List(a, 101, 0); len(l) != 1 || l[0].SHA256 != y {
		t.Errorf("since: %+v", l)
	}
	if l := r.List(a, 0, 299); len(l) != 1 || l[0].SHA256 != x {
		t.Errorf("until: %+v", l)
	}
	b2, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	back := NewRecords()
	if err := json.Unmarshal(b2, back); err != nil || back.Used(a) != 15 || !back.Owns(b, x) {
		t.Fatalf("round trip: %v", err)
	}
	if removed, last := r.Remove(a, x); !removed || last {
		t.Errorf("remove one of two owners: %v %v", removed, last)
	}
	if removed, _ := r.Remove(a, x); removed {
		t.Error("removed twice")
	}
	if _, held := r.Held(x); !held {
		t.Error("b still holds x")
	}
	if removed, last := r.Remove(b, x); !removed || !last {
		t.Errorf("remove the last owner: %v %v", removed, last)
	}
	if _, held := r.Held(x); held {
		t.Error("x held after its last owner left")
	}
	for _, bad := range []string{`{"version":2,"owners":{}}`, `{"version":1,"owners":{"zz":[]}}`, `{"version":1,"owners":{"` + a + `":[{"sha256":"x","size":1}]}}`, `[`} {
		if err := json.Unmarshal([]byte(bad), NewRecords()); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestDescriptor(t *testing.T) {
	d := NewDescriptor("http://h:1/", Record{SHA256: blob, Size: 3, Type: "video/mp4; codecs=\"x\"", Uploaded: 9}, [][]string{{"x", blob}})
	if d.URL != "http://h:1/"+blob+".mp4" || d.Size != 3 || d.Uploaded != 9 || len(d.NIP94) != 1 {
		t.Errorf("%+v", d)
	}
	if d := NewDescriptor("http://h", Record{SHA256: blob}, nil); d.Type != "application/octet-stream" || !strings.HasSuffix(d.URL, ".bin") {
		t.Errorf("unknown type: %+v", d)
	}
	if Ext("image/jpeg") != ".jpg" || Ext("text/plain; charset=utf-8") != ".txt" {
		t.Error("Ext")
	}
}

// TestCheckAuthGet: a get token (BUD-01) is scoped by a server tag naming
// this server or an x tag naming the blob; one with neither, or scoped
// elsewhere, is a 401.
func TestCheckAuthGet(t *testing.T) {
	other := strings.Repeat("cd", 32)
	get := func(tags ...nostr.Tag) *nostr.Event {
		return token(t, func(ev *nostr.Event) {
			ev.Tags = append(nostr.Tags{{"t", "get"}, {"expiration", "1800000600"}}, tags...)
		})
	}
	req := Request{Verb: VerbGet, SHA256: blob, Host: "cdn.example.com:7447"}
	for name, c := range map[string]struct {
		ev   *nostr.Event
		want int
	}{
		"x names the blob":       {get(nostr.Tag{"x", blob}), 0},
		"server names this host": {get(nostr.Tag{"server", "https://cdn.example.com/"}), 0},
		"neither server nor x":   {get(), StatusUnauthorized},
		"x names another blob":   {get(nostr.Tag{"x", other}), StatusUnauthorized},
		"server names another":   {get(nostr.Tag{"server", "https://elsewhere.example/"}), StatusUnauthorized},
		"an upload token":        {token(t, nil), StatusUnauthorized},
		"server ok, x another":   {get(nostr.Tag{"server", "cdn.example.com"}, nostr.Tag{"x", other}), StatusUnauthorized},
		"expired":                {token(t, func(ev *nostr.Event) { ev.Tags = nostr.Tags{{"t", "get"}, {"expiration", "1799999999"}, {"x", blob}} }), StatusUnauthorized},
	} {
		_, err := CheckAuth(c.ev, req, now)
		if got := status(err); got != c.want || (c.want == 0) != (err == nil) {
			t.Errorf("%s: %v (status %d, want %d)", name, err, got, c.want)
		}
	}
}

// TestMayRead: with PrivateGet, who may read is who may upload; without
// it, anyone.
func TestMayRead(t *testing.T) {
	stranger := strings.Repeat("ef", 32)
	friend := strings.Repeat("12", 32)
	for _, c := range []struct {
		p    Policy
		who  string
		want int
	}{
		{Policy{Mode: Owner, Owner: pk}, stranger, 0},
		{Policy{Mode: Owner, Owner: pk, PrivateGet: true}, pk, 0},
		{Policy{Mode: Owner, Owner: pk, PrivateGet: true}, stranger, StatusForbidden},
		{Policy{Mode: Allowlist, Owner: pk, Allow: []string{friend}, PrivateGet: true}, friend, 0},
		{Policy{Mode: Allowlist, Owner: pk, Allow: []string{friend}, PrivateGet: true}, stranger, StatusForbidden},
		{Policy{Mode: Everyone, Owner: pk, PrivateGet: true}, stranger, 0},
	} {
		if got := status(c.p.MayRead(c.who)); got != c.want {
			t.Errorf("%+v reading as %s: status %d, want %d", c.p, c.who[:4], got, c.want)
		}
	}
}
