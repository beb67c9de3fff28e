package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairn-nostr/cairn/test/harness"
)

// roomUsers holds the keys of a room test and runs `cairn room` with them.
type roomUsers struct {
	t    *testing.T
	dir  string
	keys map[string]string // name -> key file
	pubs map[string]string // name -> hex pubkey
}

func newRoomUsers(t *testing.T, names ...string) *roomUsers {
	u := &roomUsers{t: t, dir: t.TempDir(), keys: map[string]string{}, pubs: map[string]string{}}
	for _, name := range names {
		path := filepath.Join(u.dir, name)
		out, errOut, code := harness.Run(t, "keygen", "--out", path)
		if code != 0 {
			t.Fatalf("keygen: %s %s", out, errOut)
		}
		u.keys[name] = path
		u.pubs[name] = regexp.MustCompile(`pubkey \(hex\): ([0-9a-f]{64})`).FindStringSubmatch(out)[1]
	}
	return u
}

func (u *roomUsers) run(who string, n *harness.Node, args ...string) (string, string, int) {
	u.t.Helper()
	return harness.Run(u.t, append([]string{"room", "--relay", n.WSURL, "--key", u.keys[who]}, args...)...)
}

// ok runs `cairn room` as who against n and wants it to succeed.
func (u *roomUsers) ok(who string, n *harness.Node, args ...string) string {
	u.t.Helper()
	out, errOut, code := u.run(who, n, args...)
	if code != 0 {
		u.t.Fatalf("%s: cairn room %v on %s exited %d:\n%s%s", who, args, n.WSURL, code, out, errOut)
	}
	return out
}

// refused runs `cairn room` as who against n and wants the relay's
// restricted: refusal.
func (u *roomUsers) refused(who string, n *harness.Node, args ...string) string {
	u.t.Helper()
	out, errOut, code := u.run(who, n, args...)
	if code == 0 || !strings.Contains(errOut, "restricted:") {
		u.t.Fatalf("%s: cairn room %v on %s: exit %d, stderr %q, want a restricted: refusal (stdout %q)", who, args, n.WSURL, code, errOut, out)
	}
	return errOut
}

// pull has node to pull room from from (cairn room sync).
func pull(t *testing.T, id string, to, from *harness.Node) {
	t.Helper()
	if out, errOut, code := harness.Run(t, "room", "sync", id, from.WSURL, "--node", to.URL); code != 0 || !strings.Contains(out, "pulled") {
		t.Fatalf("room sync %s <- %s: exit %d\n%s%s", to.WSURL, from.WSURL, code, out, errOut)
	}
}

// waitInfo polls `cairn room info` on n until ready says yes (bounded).
func (u *roomUsers) waitInfo(n *harness.Node, id, what string, ready func(info string) bool) string {
	u.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _, code := u.run("owner", n, "info", id)
		if code == 0 && ready(out) {
			return out
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("info on %s never showed %s within 60 s; last:\n%s", n.WSURL, what, out)
		}
		time.Sleep(200 * time.Millisecond) // polling interval of a bounded wait on --room-peer's pull
	}
}

// memberLine finds the MEMBER table's line of pubkey in info output.
func memberLine(info, pubkey string) string {
	for _, l := range strings.Split(info, "\n") {
		if strings.HasSuffix(strings.TrimSpace(l), pubkey) {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return ""
}

// TestRoomThreeNodes: three `cairn node` processes host one room (B pulls
// from A with --room-peer; A and C pull with `cairn room sync`). While C
// is partitioned (nothing syncs with it), the owner revokes the mod on A;
// on A the mod is refused at once, while on C, which has not heard, the
// mod bans a member and grants another. After the partition heals (A and
// C pull from each other, B from A) all three derive the same ACL
// (`cairn room info` identical but for the log's counts), the mod's
// entries made on C are refused there and not stored by the nodes that
// pulled them, C refuses the mod's next action, and a member the owner
// bans cannot post through any node.
func TestRoomThreeNodes(t *testing.T) {
	u := newRoomUsers(t, "owner", "mod", "alice", "bob", "carol")
	a := harness.Start(t)
	b := harness.Start(t, "--room-peer", a.WSURL, "--room-sync-interval", "1s")
	c := harness.Start(t)

	id := strings.TrimSpace(u.ok("owner", a, "create", "three"))
	u.ok("owner", a, "grant", id, u.pubs["mod"], "mod")
	u.ok("mod", a, "grant", id, u.pubs["alice"], "member")
	u.ok("mod", a, "grant", id, u.pubs["bob"], "member")
	pull(t, id, c, a)
	u.waitInfo(b, id, "bob a member", func(info string) bool { return memberLine(info, u.pubs["bob"]) != "" })
	for _, n := range []*harness.Node{a, b, c} {
		info := u.ok("owner", n, "info", id)
		if !strings.Contains(memberLine(info, u.pubs["mod"]), " mod ") {
			t.Fatalf("before the partition, %s does not show the mod:\n%s", n.WSURL, info)
		}
	}

	// Partition: nothing syncs with C. The owner revokes the mod on A; A
	// refuses the mod from then on, and B hears of it.
	u.ok("owner", a, "revoke", id, u.pubs["mod"], "--reason", "stepping down")
	u.refused("mod", a, "ban", id, u.pubs["bob"])
	u.waitInfo(b, id, "the mod revoked", func(info string) bool { return memberLine(info, u.pubs["mod"]) == "" })
	u.refused("mod", b, "ban", id, u.pubs["bob"])

	// C has not heard: the mod bans bob and admits carol there.
	u.ok("mod", c, "ban", id, u.pubs["bob"])
	u.ok("mod", c, "grant", id, u.pubs["carol"], "member")
	u.refused("bob", c, "post", id, "banned on C")
	u.ok("carol", c, "post", id, "admitted on C")
	if info := u.ok("owner", c, "info", id); !strings.Contains(memberLine(info, u.pubs["bob"]), "banned") {
		t.Fatalf("C during the partition:\n%s", info)
	}

	// Heal: A and C pull from each other; B pulls from A by itself.
	pull(t, id, c, a)
	pull(t, id, a, c)
	// The ACL (members and roles, policy) is the same on every node. The
	// log's counts differ: C keeps the mod's two entries it had accepted
	// (refused now), while A and B, which pulled them refused with nothing
	// built on them, do not store them.
	acl := func(info string) string {
		var keep []string
		for _, l := range strings.Split(info, "\n") {
			if !strings.HasPrefix(l, "log ") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	infoA := u.ok("owner", a, "info", id)
	infoC := u.ok("owner", c, "info", id)
	infoB := u.waitInfo(b, id, "A's state", func(info string) bool { return info == infoA })
	if acl(infoA) != acl(infoC) || acl(infoA) != acl(infoB) {
		t.Fatalf("the nodes disagree after the partition:\nA:\n%s\nB:\n%s\nC:\n%s", infoA, infoB, infoC)
	}
	t.Logf("every node, after the partition:\n%s", acl(infoA))
	if memberLine(infoA, u.pubs["mod"]) != "" || !strings.Contains(memberLine(infoA, u.pubs["bob"]), " member ") ||
		memberLine(infoA, u.pubs["carol"]) != "" {
		t.Fatalf("after the partition: the mod's ban and grant made on C should be refused:\n%s", infoA)
	}
	// Refused on C as not seen by the revocation, or (when the revocation
	// sorts first: same Lamport time, the owner's pubkey lower) as made
	// without the role; the keys are fresh each run.
	logC := u.ok("owner", c, "log", id)
	if strings.Count(logC, "refused:") != 2 || strings.Count(logC, "not seen by the revocation")+strings.Count(logC, "signer lacks the capability") != 2 {
		t.Fatalf("log on C: the mod's two entries made there should be refused:\n%s", logC)
	}
	for _, n := range []*harness.Node{a, b} {
		if log := u.ok("owner", n, "log", id); strings.Contains(log, "refused:") || strings.Contains(log, short(u.pubs["carol"])) {
			t.Fatalf("log on %s holds the mod's refused entries pulled from C:\n%s", n.WSURL, log)
		}
	}
	// C now refuses the revoked mod; bob, whose ban fell, posts again.
	u.refused("mod", c, "ban", id, u.pubs["bob"])
	u.refused("mod", c, "grant", id, u.pubs["carol"], "member")
	u.ok("bob", c, "post", id, "back on C")

	// A member banned on A cannot post through any node.
	u.ok("owner", a, "ban", id, u.pubs["alice"])
	pull(t, id, c, a)
	u.waitInfo(b, id, "alice banned", func(info string) bool { return strings.Contains(memberLine(info, u.pubs["alice"]), "banned") })
	for _, n := range []*harness.Node{a, b, c} {
		u.refused("alice", n, "post", id, "through "+n.WSURL)
	}
}

// roomOwnerModMember starts a node where owner made the room name, with
// mod as a mod and alice as a member.
func roomOwnerModMember(t *testing.T, name string) (*roomUsers, *harness.Node, string) {
	u := newRoomUsers(t, "owner", "mod", "alice")
	n := harness.Start(t)
	id := strings.TrimSpace(u.ok("owner", n, "create", name))
	u.ok("owner", n, "grant", id, u.pubs["mod"], "mod")
	u.ok("owner", n, "grant", id, u.pubs["alice"], "member")
	return u, n, id
}

// TestRoomSequencerCLI: sequencer mode from the command line. With it
// on, a mod's ban is stored but waits (the member still posts, the log
// says pending); the creator's countersignature makes it take effect.
func TestRoomSequencerCLI(t *testing.T) {
	u, n, id := roomOwnerModMember(t, "sequenced")
	if out, errOut, code := u.run("mod", n, "sequencer", id, "30"); code == 0 || !strings.Contains(errOut, "restricted:") {
		t.Fatalf("a mod turned sequencer mode on: exit %d\n%s%s", code, out, errOut)
	}
	for _, bad := range []string{"0", "soon", "99999"} {
		if _, errOut, code := u.run("owner", n, "sequencer", id, bad); code == 0 || !strings.Contains(errOut, "in minutes") {
			t.Fatalf("sequencer %s: exit %d, %s", bad, code, errOut)
		}
	}
	u.ok("owner", n, "sequencer", id, "30")
	u.ok("mod", n, "ban", id, u.pubs["alice"])
	u.ok("alice", n, "post", id, "still here")
	info := u.ok("owner", n, "info", id)
	if !strings.Contains(info, "sequencer on") || !strings.Contains(info, "1 pending") || !strings.Contains(memberLine(info, u.pubs["alice"]), " member ") {
		t.Fatalf("info with a pending ban:\n%s", info)
	}
	if log := u.ok("owner", n, "log", id); !strings.Contains(log, "pending: waits for the creator's countersignature") {
		t.Fatalf("log:\n%s", log)
	}
	if out, errOut, code := u.run("mod", n, "countersign", id); code == 0 || !strings.Contains(errOut, "restricted:") {
		t.Fatalf("a mod countersigned: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := u.run("owner", n, "countersign", id, "abc"); code == 0 || !strings.Contains(errOut, "not an entry id") {
		t.Fatalf("countersign of a bad id: exit %d, %s", code, errOut)
	}
	if out := u.ok("owner", n, "countersign", id); !strings.Contains(out, "countersign") {
		t.Fatalf("countersign printed %q", out)
	}
	u.refused("alice", n, "post", id, "after the countersignature")
	if _, errOut, code := u.run("owner", n, "countersign", id); code == 0 || !strings.Contains(errOut, "nothing is pending") {
		t.Fatalf("countersign with nothing pending: exit %d, %s", code, errOut)
	}
}

// TestRoomChannelsCLI: text channels from the command line. The owner
// makes one (a mod, without manage-channels, may not); a member posts in
// it and reads it apart from general; a channel the room lacks, or an
// archived one, refuses messages; info lists the channels.
func TestRoomChannelsCLI(t *testing.T) {
	u, n, id := roomOwnerModMember(t, "channels")
	u.refused("mod", n, "channel", id, "dev", "Development")
	u.ok("owner", n, "channel", id, "dev", "Development")
	u.ok("alice", n, "post", id, "--channel", "dev", "in dev")
	u.ok("alice", n, "post", id, "in general")
	u.refused("alice", n, "post", id, "--channel", "nope", "nowhere")
	if out := u.ok("alice", n, "read", id, "--channel", "dev"); !strings.Contains(out, "in dev") || strings.Contains(out, "in general") {
		t.Fatalf("read --channel dev:\n%s", out)
	}
	if out := u.ok("alice", n, "read", id); strings.Contains(out, "in dev") || !strings.Contains(out, "in general") {
		t.Fatalf("read (general):\n%s", out)
	}
	u.ok("owner", n, "channel", id, "dev", "Development", "--archive")
	u.refused("alice", n, "post", id, "--channel", "dev", "after the archive")
	if info := u.ok("owner", n, "info", id); !strings.Contains(info, "general: general") || !strings.Contains(info, "dev: Development (archived)") {
		t.Fatalf("info:\n%s", info)
	}
	if _, errOut, code := u.run("owner", n, "channel", id, "Dev!", "x"); code == 0 || !strings.Contains(errOut, "a channel id is") {
		t.Fatalf("a bad channel id: exit %d, %s", code, errOut)
	}
	if _, errOut, code := u.run("alice", n, "post", id, "--channel", "", "x"); code == 0 || !strings.Contains(errOut, "a channel id is") {
		t.Fatalf("an empty channel: exit %d, %s", code, errOut)
	}
}
