package relay

import (
	"encoding/json"
	"testing"

	"github.com/cairn-nostr/cairn/event"
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
			if ev, err := event.DecodeStrict(a); err == nil {
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

// FuzzSplitMatchesEncodingJSON: on valid JSON arrays the one-pass splitter
// finds exactly the elements encoding/json finds.
func FuzzSplitMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`["A",1,{"x":"]"},[1,[2]],"\"",null,true]`, `[]`, `[ "a" , "b" ]`, `["a\\"",{}]`, `[1 2]`, `[1,]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want []json.RawMessage
		wantErr := json.Unmarshal(b, &want)
		b = bytesTrim(b)
		if len(b) < 2 || b[0] != '[' {
			return
		}
		got, err := splitArray(b)
		if wantErr != nil {
			return // the splitter may accept; element decoders refuse later
		}
		if err != nil {
			t.Fatalf("splitArray refused valid %q: %v", b, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d elements, encoding/json %d", b, len(got), len(want))
		}
		for i := range got {
			if string(bytesTrim(got[i])) != string(bytesTrim(want[i])) {
				t.Fatalf("%q element %d: %q vs %q", b, i, got[i], want[i])
			}
		}
	})
}

// FuzzDecodeEventAgrees: when both decoders accept an event, they agree.
func FuzzDecodeEventAgrees(f *testing.F) {
	f.Add([]byte(`{"id":"` + zeros(64) + `","pubkey":"` + zeros(64) + `","created_at":1,"kind":1,"tags":[["e","x"]],"content":"a\u00e9\n","sig":"` + zeros(128) + `"}`))
	f.Add([]byte(`{"id":"` + zeros(64) + `","kind":"1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, err1 := event.Decode(b)
		strict, err2 := event.DecodeStrict(b)
		if err1 == nil && !event.WellFormed(fast) {
			t.Fatalf("decodeEvent accepted a malformed event %+v", fast)
		}
		if err1 == nil && err2 == nil {
			a, _ := fast.MarshalJSON()
			c, _ := strict.MarshalJSON()
			if string(a) != string(c) {
				t.Fatalf("decoders disagree on %q:\n%s\n%s", b, a, c)
			}
		}
	})
}

func bytesTrim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
