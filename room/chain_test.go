package room

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/nostr"
)

// The chain language (after tailscale's chaintest). A chain is lines (or
// ";"-separated parts); each starts at G (the genesis, signed by A) or at
// a label given earlier, and goes on with steps joined by "->":
//
//	[label=][Signer:]action(args)[±Nm][@lamport][!expect]
//
// Signer is a letter (keys A, B, C, ... from fixed seeds), A by default.
// Actions: grant(role:X), revoke(X), ban(X), unban(X), invite(code),
// role(name:cap+cap:rank), policy(open|closed|public|private|
// restricted|unrestricted|name=text), channel(id:name[:archived]),
// seq(minutes|off) (sequencer mode),
// ack(label+label) (countersign those entries). Each step is dated a
// second after the step written before it, or N minutes after (+Nm) or
// before (-Nm) it.
// Lamport defaults to the prev's plus one. expect is denied, concurrent,
// chain, orphan, forged, wrongroom, malformed, pending or rejected (any
// reason); without it the entry must apply.
//
//	G -> grant(mod:B) -> B:ban(C) -> revoke(B) -> B:ban(D)!denied

var (
	testBase = time.Unix(1_700_000_000, 0)
	testNow  = testBase.Add(24 * time.Hour)
)

// key is the secret key of a letter, from a fixed seed.
func key(letter string) string {
	h := sha256.Sum256([]byte("cairn room test key " + letter))
	return hex.EncodeToString(h[:])
}

func pub(letter string) string {
	pk, err := nostr.GetPublicKey(key(letter))
	if err != nil {
		panic(err)
	}
	return pk
}

func letterOf(pk string) string {
	for c := 'A'; c <= 'Z'; c++ {
		if pub(string(c)) == pk {
			return string(c)
		}
	}
	return pk[:8]
}

var expectErr = map[string]error{
	"denied": ErrDenied, "concurrent": ErrConcurrent, "chain": ErrChain, "orphan": ErrOrphan,
	"forged": ErrForged, "wrongroom": ErrWrongRoom, "malformed": ErrMalformed, "pending": ErrPending, "rejected": nil,
}

type chain struct {
	room   string
	events []*nostr.Event
	label  map[string]*nostr.Event
	expect map[string]string // event id -> expectation ("" applies)
	text   map[string]string // event id -> its step
}

var stepRE = regexp.MustCompile(`^(?:(\w+)=)?(?:([A-Z]):)?(\w+)\(([^)]*)\)(?:([+-]\d+)m)?(?:@(\d+))?(?:!(\w+))?$`)

// buildChain parses and signs a chain of the room made by A with nonce n.
func buildChain(t testing.TB, src string, n byte) *chain {
	t.Helper()
	c := &chain{label: map[string]*nostr.Event{}, expect: map[string]string{}, text: map[string]string{}}
	var nonce [16]byte
	nonce[0] = n
	at := testBase
	sign := func(ev *nostr.Event, who string) {
		ev.CreatedAt = nostr.Timestamp(at.Unix())
		if err := ev.Sign(key(who)); err != nil {
			t.Fatal(err)
		}
		c.events = append(c.events, ev)
	}
	at = at.Add(time.Second)
	g := Genesis(pub("A"), "test", nonce, at)
	sign(g, "A")
	c.room = g.Tags.Find("h")[1]
	c.label["G"] = g
	c.text[g.ID] = "G"
	for _, line := range strings.FieldsFunc(src, func(r rune) bool { return r == '\n' || r == ';' }) {
		steps := strings.Split(line, "->")
		if strings.TrimSpace(line) == "" {
			continue
		}
		prev := c.label[strings.TrimSpace(steps[0])]
		if prev == nil {
			t.Fatalf("chain: %q starts at an unknown label", line)
		}
		for _, st := range steps[1:] {
			st = strings.TrimSpace(st)
			m := stepRE.FindStringSubmatch(st)
			if m == nil {
				t.Fatalf("chain: cannot read step %q", st)
			}
			label, who, op, arg, mins, lam, want := m[1], m[2], m[3], m[4], m[5], m[6], m[7]
			if who == "" {
				who = "A"
			}
			if _, ok := expectErr[want]; want != "" && !ok {
				t.Fatalf("chain: unknown expectation %q", want)
			}
			var a Action
			if op == "ack" {
				var ids []string
				for _, l := range strings.Split(arg, "+") {
					if c.label[l] == nil {
						t.Fatalf("chain: ack of an unknown label %q", l)
					}
					ids = append(ids, c.label[l].ID)
				}
				a = Countersign(ids...)
			} else {
				a = parseAction(t, op, arg)
			}
			if mins != "" {
				m, _ := strconv.Atoi(mins)
				at = at.Add(time.Duration(m) * time.Minute)
			} else {
				at = at.Add(time.Second)
			}
			pe, _ := ParseEntry(prev) // a tampered prev still links by its fields
			p := Point{Prev: prev.ID, Seq: pe.Seq + 1, Lamport: pe.Lamport + 1}
			if prev.Kind == KindCreate {
				p.Seq, p.Lamport = 1, 1
			}
			if lam != "" {
				l, _ := strconv.ParseUint(lam, 10, 64)
				p.Lamport = l
			}
			ev := NewEntry(c.room, p, a, at)
			sign(ev, who)
			if label != "" {
				c.label[label] = ev
			}
			c.expect[ev.ID] = want
			c.text[ev.ID] = st
			prev = ev
		}
	}
	return c
}

func parseAction(t testing.TB, op, arg string) Action {
	t.Helper()
	switch op {
	case "grant":
		role, who, ok := strings.Cut(arg, ":")
		if !ok {
			t.Fatalf("chain: grant(role:X), got %q", arg)
		}
		return Grant(pub(who), role)
	case "invite":
		return Invite(arg)
	case "channel":
		f := strings.Split(arg, ":")
		if len(f) < 2 || len(f) > 3 || len(f) == 3 && f[2] != "archived" {
			t.Fatalf("chain: channel(id:name[:archived]), got %q", arg)
		}
		return SetChannel(f[0], f[1], len(f) == 3)
	case "seq":
		if arg == "off" {
			return Sequencer(0)
		}
		m, err := strconv.Atoi(arg)
		if err != nil {
			t.Fatalf("chain: seq(minutes|off), got %q", arg)
		}
		return Sequencer(time.Duration(m) * time.Minute)
	case "revoke":
		return Revoke(pub(arg))
	case "ban":
		return Ban(pub(arg))
	case "unban":
		return Unban(pub(arg))
	case "role":
		f := strings.Split(arg, ":")
		if len(f) != 3 {
			t.Fatalf("chain: role(name:caps:rank), got %q", arg)
		}
		caps, err := ParseCaps(strings.ReplaceAll(f[1], "+", ","))
		if err != nil {
			t.Fatal(err)
		}
		rank, _ := strconv.Atoi(f[2])
		return DefineRole(f[0], caps, rank)
	case "policy":
		var c PolicyChange
		yes, no := true, false
		switch {
		case strings.HasPrefix(arg, "name="):
			v := arg[5:]
			c.Name = &v
		case arg == "unrestricted":
			c.Open = &yes
		case arg == "restricted":
			c.Open = &no
		case arg == "public":
			c.Public = &yes
		case arg == "private":
			c.Public = &no
		case arg == "open":
			c.JoinOpen = &yes
		case arg == "closed":
			c.JoinOpen = &no
		default:
			t.Fatalf("chain: unknown policy %q", arg)
		}
		return SetPolicy(c)
	}
	t.Fatalf("chain: unknown action %q", op)
	return Action{}
}

// replay replays the chain's events (or evs, if given) and checks every
// expectation.
func (c *chain) replay(t testing.TB, evs ...*nostr.Event) *Log {
	t.Helper()
	if evs == nil {
		evs = c.events
	}
	l, err := Replay(c.room, evs, testNow)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	for _, ev := range evs {
		want, ok := c.expect[ev.ID]
		if !ok {
			continue
		}
		got := l.Err(ev.ID)
		switch {
		case want == "" && got != nil:
			t.Errorf("%s: rejected: %v", c.text[ev.ID], got)
		case want != "" && got == nil:
			t.Errorf("%s: applied, want %s", c.text[ev.ID], want)
		case want != "" && expectErr[want] != nil && !errors.Is(got, expectErr[want]):
			t.Errorf("%s: rejected with %v, want %s", c.text[ev.ID], got, want)
		}
	}
	return l
}

// users renders a state as "A=owner B=mod C=banned", by letter, sorted.
func users(s *State) string {
	var out []string
	for pk, r := range s.Users {
		out = append(out, letterOf(pk)+"="+r)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestChainLanguage(t *testing.T) {
	c := buildChain(t, "G -> x=grant(mod:B) -> B:ban(C)@7", 1)
	if len(c.events) != 3 || c.label["x"] == nil {
		t.Fatalf("built %d events", len(c.events))
	}
	e, err := ParseEntry(c.events[2])
	if err != nil || e.Lamport != 7 || e.Seq != 2 || e.Author != pub("B") || e.Action.Op != OpBan {
		t.Fatalf("%+v %v", e, err)
	}
}
