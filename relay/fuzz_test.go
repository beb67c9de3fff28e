package relay

import (
	"encoding/json"
	"testing"
)

// FuzzParseMessage: no input panics the parsers; what parses re-encodes.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		`["EVENT",{"id":"` + zeros(64) + `","pubkey":"` + zeros(64) + `","created_at":1,"kind":1,"tags":[["e","x"]],"content":"","sig":"` + zeros(128) + `"}]`,
		`["REQ","s",{"ids":["` + zeros(64) + `"],"kinds":[1],"#e":["a"],"since":1,"until":2,"limit":3}]`,
		`["CLOSE","s"]`, `["COUNT","c",{}]`, `["NEG-OPEN","n",{},"61"]`, `[]`, `[1]`, `{}`, `["EVENT",null]`,
		`["REQ","s",{"limit":-1}]`, `["EVENT",{"tags":[[]]}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		verb, args, err := parseMessage(b)
		if err != nil {
			return
		}
		if verb == "" {
			t.Fatal("empty verb accepted")
		}
		for _, a := range args {
			if ev, err := parseEvent(a); err == nil {
				if !isHex(ev.ID, 64) || !isHex(ev.PubKey, 64) || !isHex(ev.Sig, 128) || ev.Kind < 0 || ev.Kind > 65535 {
					t.Fatalf("parseEvent accepted a malformed event: %+v", ev)
				}
				if _, err := ev.MarshalJSON(); err != nil {
					t.Fatal(err)
				}
			}
			if flt, err := parseFilter(a); err == nil {
				for _, id := range append(flt.IDs, flt.Authors...) {
					if !isHex(id, 64) {
						t.Fatalf("parseFilter accepted %q", id)
					}
				}
				if _, err := json.Marshal(flt); err != nil {
					t.Fatal(err)
				}
			}
			parseSubID(a, 64)
		}
	})
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}
