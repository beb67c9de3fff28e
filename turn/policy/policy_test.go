package policy

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestCredentialRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c, err := Mint(secret, "s-1a2b", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if c.Username != "1800003600:s-1a2b" {
		t.Fatalf("username %q", c.Username)
	}
	user, err := Verify(secret, c.Username, c.Password, now)
	if err != nil || user != "s-1a2b" {
		t.Fatalf("Verify = %q, %v", user, err)
	}
	// The password is the TURN REST API's: coturn's use-auth-secret and
	// pion's LongTermTURNRESTAuthHandler accept it. A vector computed apart from this code:
	// printf 1600000000:user | openssl dgst -sha1 -hmac secret -binary | base64
	if got := Password([]byte("secret"), "1600000000:user"); got != "BwzEW9gDEHXnNCRCm1qZLqyo+hg=" {
		t.Fatalf("Password vector = %s", got)
	}
}

func TestCredentialRefused(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c, _ := Mint(secret, "u", now.Add(time.Minute))
	if _, err := Verify(secret, c.Username, c.Password, now.Add(time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v, want ErrExpired", err)
	}
	if _, err := Verify(secret, c.Username, c.Password+"x", now); !errors.Is(err, ErrForged) {
		t.Fatalf("wrong password: %v, want ErrForged", err)
	}
	other := []byte("another secret, another node...")
	if _, err := Verify(other, c.Username, c.Password, now); !errors.Is(err, ErrForged) {
		t.Fatalf("another node's secret: %v, want ErrForged", err)
	}
	// A username with a later expiry keeps no password: extending it is forging.
	later := strings.Replace(c.Username, "1800000060", "1900000000", 1)
	if _, err := Verify(secret, later, c.Password, now); !errors.Is(err, ErrForged) {
		t.Fatalf("extended expiry: %v, want ErrForged", err)
	}
	for _, bad := range []string{"", "u", ":u", "abc:u", "-5:u", "+180000:u", "0180000000:u", "1800000060:", "1800000060:a:b", "99999999999999999999:u", "1800000060:" + strings.Repeat("x", MaxUser+1)} {
		if _, _, err := Check(secret, bad, now); err == nil {
			t.Errorf("Check(%q) accepted", bad)
		}
	}
	if _, err := Mint(secret[:8], "u", now); err == nil {
		t.Error("Mint with an 8-byte secret")
	}
	for _, bad := range []string{"", "a:b", "a\nb", strings.Repeat("x", MaxUser+1)} {
		if _, err := Mint(secret, bad, now); err == nil {
			t.Errorf("Mint(user %q) accepted", bad)
		}
	}
}

func TestPeerRules(t *testing.T) {
	own := netip.MustParseAddr("203.0.113.7") // a documentation address as the node's own: own wins
	live := netip.MustParseAddrPort("203.0.113.7:50000")
	isAlloc := func(ap netip.AddrPort) bool { return ap.Port() == live.Port() }
	strict := Rules{Own: []netip.Addr{own}}
	lab := Rules{Own: []netip.Addr{own}, AllowPrivate: true}
	cases := []struct {
		peer        string
		strict, lab bool
	}{
		{"8.8.8.8:3478", true, true},
		{"[2606:4700::1111]:443", true, true},
		{"127.0.0.1:7447", false, false}, // loopback is this machine: own, even in the lab
		{"127.0.0.2:53", false, false},
		{"[::1]:7447", false, false},
		{"[::ffff:127.0.0.1]:7447", false, false},
		{"[64:ff9b::7f00:1]:7447", false, false},
		{"127.0.0.1:50000", true, true}, // a live allocation on a loopback relay
		{"[64:ff9b::a00:1]:22", false, true},
		{"10.1.2.3:22", false, true},
		{"172.16.0.1:80", false, true},
		{"192.168.1.1:80", false, true},
		{"169.254.169.254:80", false, true}, // cloud metadata
		{"100.64.0.1:80", false, true},
		{"[fd00::1]:80", false, true},
		{"[fe80::1]:80", false, true},
		{"0.0.0.0:80", false, false},
		{"224.0.0.1:5353", false, false},
		{"255.255.255.255:67", false, false},
		{"198.18.0.1:80", false, false},
		{"8.8.8.8:0", false, false},
		{"203.0.113.7:50000", true, true},  // a live allocation of this node
		{"203.0.113.7:7447", false, false}, // the node's own service
		{"[::ffff:203.0.113.7]:7447", false, false},
	}
	for _, c := range cases {
		ap := netip.MustParseAddrPort(c.peer)
		if err := strict.Peer(ap, isAlloc); (err == nil) != c.strict {
			t.Errorf("strict Peer(%s) = %v, want allowed %v", c.peer, err, c.strict)
		}
		if err := lab.Peer(ap, isAlloc); (err == nil) != c.lab {
			t.Errorf("lab Peer(%s) = %v, want allowed %v", c.peer, err, c.lab)
		}
	}
	if err := strict.PeerIP(own); err != nil {
		t.Errorf("a permission to the node's relay address (its ports checked per datagram): %v", err)
	}
	if err := strict.PeerIP(netip.MustParseAddr("10.0.0.1")); !errors.Is(err, ErrForbiddenPeer) || !strings.Contains(err.Error(), "private") {
		t.Errorf("PeerIP(10.0.0.1) = %v", err)
	}
	if err := strict.Peer(netip.MustParseAddrPort("203.0.113.7:22"), nil); !errors.Is(err, ErrOwnService) {
		t.Errorf("own service = %v, want ErrOwnService", err)
	}
}

func TestQuota(t *testing.T) {
	q := NewQuota(Limits{PerUser: 2, PerIP: 3, Total: 4})
	a, b, c := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("::ffff:198.51.100.1")
	must := func(user string, ip netip.Addr, id string) {
		t.Helper()
		if err := q.Admit(user, ip); err != nil {
			t.Fatalf("Admit(%s, %s): %v", user, ip, err)
		}
		q.Open(id, user, ip)
	}
	must("u1", a, "1")
	must("u1", a, "2")
	if err := q.Admit("u1", b); !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "user") {
		t.Fatalf("third for u1: %v", err)
	}
	must("u2", c, "3") // the same IP as a, mapped
	if err := q.Admit("u3", a); !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "198.51.100.1") {
		t.Fatalf("fourth from one IP: %v", err)
	}
	must("u3", b, "4")
	if err := q.Admit("u4", netip.MustParseAddr("198.51.100.9")); !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "node") {
		t.Fatalf("fifth in total: %v", err)
	}
	q.Open("4", "u3", b) // counted once
	q.Close("1")
	q.Close("1") // once
	q.Close("nope")
	if n, u := q.Live(); n != 3 || u != 3 {
		t.Fatalf("Live = %d allocations, %d users; want 3, 3", n, u)
	}
	must("u1", a, "5")
	if err := q.Admit("u1", b); err == nil {
		t.Fatal("u1 again at its cap")
	}
	if err := NewQuota(Limits{}).Admit("x", a); err != nil {
		t.Fatalf("no limits: %v", err)
	}
}

func TestBucket(t *testing.T) {
	t0 := time.Unix(0, 0)
	b := NewBucket(1000, 1000, t0)
	if !b.Take(1000, t0) || b.Take(1, t0) {
		t.Fatal("a full bucket of 1000 gives 1000 and no more")
	}
	if b.Take(600, t0.Add(500*time.Millisecond)) {
		t.Fatal("500 ms refills 500, not 600")
	}
	if !b.Take(500, t0.Add(500*time.Millisecond)) {
		t.Fatal("500 ms refills 500")
	}
	if !b.Take(1000, t0.Add(time.Hour)) || b.Take(1, t0.Add(time.Hour)) {
		t.Fatal("refill stops at the burst")
	}
	if !NewBucket(0, 0, t0).Take(1<<30, t0) {
		t.Fatal("rate 0 is unlimited")
	}
}
