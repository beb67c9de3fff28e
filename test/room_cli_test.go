package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nbd-wtf/go-nostr/nip19"

	"github.com/cairn-nostr/cairn/test/harness"
)

// TestRoomCLI: `cairn room` against a running node, as a user types it:
// the owner creates a room, grants a member, the member posts; the owner
// bans the member, whose next post is refused with the relay's reason; a
// member may not grant; info and log show the replayed state; a second
// node pulls the room and enforces the ban too; bad input gets a clear
// error.
func TestRoomCLI(t *testing.T) {
	n := harness.Start(t)
	dir := t.TempDir()
	key := func(name string) (path, hex string) {
		t.Helper()
		path = filepath.Join(dir, name)
		out, errOut, code := harness.Run(t, "keygen", "--out", path)
		if code != 0 {
			t.Fatalf("keygen: %s %s", out, errOut)
		}
		return path, regexp.MustCompile(`pubkey \(hex\): ([0-9a-f]{64})`).FindStringSubmatch(out)[1]
	}
	ownerKey, _ := key("owner")
	memberKey, member := key("member")
	_, other := key("other")
	room := func(keyPath string, args ...string) (string, string, int) {
		t.Helper()
		return harness.Run(t, append([]string{"room", "--relay", n.WSURL, "--key", keyPath}, args...)...)
	}
	ok := func(keyPath string, args ...string) string {
		t.Helper()
		out, errOut, code := room(keyPath, args...)
		if code != 0 {
			t.Fatalf("cairn room %v exited %d:\n%s%s", args, code, out, errOut)
		}
		return out
	}
	fails := func(want, keyPath string, args ...string) {
		t.Helper()
		out, errOut, code := room(keyPath, args...)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Fatalf("cairn room %v: exit %d, stderr %q, want an error with %q (stdout %q)", args, code, errOut, want, out)
		}
	}

	id := strings.TrimSpace(ok(ownerKey, "create", "lobby", "--about", "a test room"))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("create printed %q, want a room id", id)
	}
	if out := ok(ownerKey, "ls"); !strings.Contains(out, id) || !strings.Contains(out, "lobby") {
		t.Fatalf("ls:\n%s", out)
	}
	fails("restricted:", memberKey, "post", id, "let me in")
	ok(ownerKey, "grant", id, member, "member")
	ok(memberKey, "post", id, "hello room")
	fails("restricted:", memberKey, "grant", id, other, "member")
	info := ok(ownerKey, "info", id)
	for _, want := range []string{"name     lobby", "about    a test room", "restricted", member + "", "member", "owner"} {
		if !strings.Contains(info, want) {
			t.Fatalf("info lacks %q:\n%s", want, info)
		}
	}
	ok(ownerKey, "ban", id, member, "--reason", "spam")
	fails("restricted:", memberKey, "post", id, "still here")
	if out := ok(ownerKey, "read", id); !strings.Contains(out, "hello room") || strings.Contains(out, "still here") {
		t.Fatalf("read:\n%s", out)
	}
	log := ok(ownerKey, "log", id)
	if strings.Count(log, "applied") != 3 || !strings.Contains(log, "ban ") || !strings.Contains(log, "grant member") {
		t.Fatalf("log (genesis, grant, ban all applied):\n%s", log)
	}
	if info := ok(ownerKey, "info", id); !strings.Contains(info, "banned") {
		t.Fatalf("info after the ban:\n%s", info)
	}

	// Invites: the room is closed; a code admits, no code waits.
	thirdKey, third := key("third")
	if out := ok(thirdKey, "join", id); !strings.Contains(out, "a moderator must add you") {
		t.Fatalf("join a closed room without a code:\n%s", out)
	}
	fails("restricted:", memberKey, "invite", id)
	inv := ok(ownerKey, "invite", id, "--code", "welcome-1")
	if !strings.Contains(inv, "cairn room join "+id+" --code welcome-1") {
		t.Fatalf("invite:\n%s", inv)
	}
	fails("invite code is not valid", thirdKey, "join", id, "--code", "wrong")
	if out := ok(thirdKey, "join", id, "--code", "welcome-1"); !strings.Contains(out, "joined lobby as member") {
		t.Fatalf("join with the code:\n%s", out)
	}
	ok(thirdKey, "post", id, "invited in")
	if log := ok(ownerKey, "log", id); !strings.Contains(log, "invite code welcome-1") || !strings.Contains(log, "kind 9021 placed by") || !strings.Contains(log, short(third)) {
		t.Fatalf("log after the invite:\n%s", log)
	}

	// A second node pulls the room (NIP-77) and then enforces it too.
	n2 := harness.Start(t)
	if out, errOut, code := harness.Run(t, "room", "sync", id, n.WSURL, "--node", n2.URL); code != 0 || !strings.Contains(out, "pulled") {
		t.Fatalf("room sync: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := harness.Run(t, "room", "--relay", n2.WSURL, "info", id); code != 0 || !strings.Contains(out, "banned") {
		t.Fatalf("info on the second node: exit %d\n%s%s", code, out, errOut)
	}
	fails("restricted:", memberKey, "--relay", n2.WSURL, "post", id, "through the other node")
	if _, errOut, code := harness.Run(t, "room", "sync", id, "http://x", "--node", n2.URL); code == 0 || !strings.Contains(errOut, "not a relay URL") {
		t.Fatalf("room sync with a bad relay URL: exit %d, %s", code, errOut)
	}

	// Bad input: each a clear error, nothing sent.
	fails("not a room id", ownerKey, "info", "lobby")
	fails("not a public key", ownerKey, "grant", id, "bob", "member")
	fails("a role's name", ownerKey, "grant", id, other, "Admin!")
	fails("is not on", ownerKey, "info", strings.Repeat("ab", 32))
	fails("loading the signing key", filepath.Join(dir, "missing"), "post", id, "hi")
	fails("no relay answers", ownerKey, "--relay", "ws://127.0.0.1:1", "info", id)
}

// short is how cairn room log shows a pubkey: the start of its npub.
func short(hex string) string { return mustNpub(hex)[:16] }

func mustNpub(hex string) string {
	s, err := nip19.EncodePublicKey(hex)
	if err != nil {
		panic(err)
	}
	return s
}
