package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"
	"github.com/spf13/cobra"

	"github.com/cairn-nostr/cairn/event"
	"github.com/cairn-nostr/cairn/identity"
	"github.com/cairn-nostr/cairn/node"
	relayclient "github.com/cairn-nostr/cairn/relay/client"
	"github.com/cairn-nostr/cairn/room"
)

// roomFlags are what every room command takes: the relay hosting the room
// and the key that signs.
type roomFlags struct {
	relay, key string
}

func (f *roomFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.relay, "relay", "ws://"+node.DefaultListen, "relay hosting the room: a cairn node's URL (or CAIRN_RELAY)")
	cmd.PersistentFlags().StringVar(&f.key, "key", filepath.Join(node.DefaultDataDir(), "key"), "file holding the key that signs (made by cairn keygen; or CAIRN_KEY)")
}

// session is one command's connection and key.
type roomSession struct {
	c   *relayclient.Conn
	key identity.Key
	ctx context.Context
}

func (f *roomFlags) open(cmd *cobra.Command, needKey bool) (*roomSession, func(), error) {
	for _, fl := range []struct {
		name string
		dst  *string
	}{{"relay", &f.relay}, {"key", &f.key}} {
		if !cmd.Flags().Changed(fl.name) {
			if v, ok := os.LookupEnv(envName(fl.name)); ok && v != "" {
				*fl.dst = v
			}
		}
	}
	s := &roomSession{}
	if needKey {
		k, err := identity.Load(f.key)
		if err != nil {
			return nil, nil, fmt.Errorf("loading the signing key (make one with `cairn keygen --out %s`, or pass --key): %w", f.key, err)
		}
		s.key = k
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	c, err := relayclient.Dial(ctx, f.relay)
	if err != nil {
		cancel()
		stop()
		return nil, nil, fmt.Errorf("no relay answers at %s (start a node with `cairn node`, or pass --relay): %w", f.relay, err)
	}
	s.c, s.ctx = c, ctx
	return s, func() { c.Close(); cancel(); stop() }, nil
}

// publish signs and sends ev; a refusal carries the relay's reason.
func (s *roomSession) publish(ev *nostr.Event) error {
	ev.PubKey = s.key.Public
	if err := ev.Sign(s.key.Secret); err != nil {
		return err
	}
	if err := s.c.PublishAs(s.ctx, ev, s.key.Secret); err != nil {
		if errors.Is(err, relayclient.ErrRefused) {
			return fmt.Errorf("the relay refused it: %s", strings.TrimPrefix(err.Error(), relayclient.ErrRefused.Error()+": "))
		}
		return err
	}
	return nil
}

// openRoom checks the room id arg and opens a session (needKey: one that
// signs); done ends it.
func (f *roomFlags) openRoom(cmd *cobra.Command, arg string, needKey bool) (*roomSession, string, func(), error) {
	id, err := roomID(arg)
	if err != nil {
		return nil, "", nil, err
	}
	s, done, err := f.open(cmd, needKey)
	if err != nil {
		return nil, "", nil, err
	}
	return s, id, done, nil
}

// showLog reads the log of the room arg names and prints it with show.
func (f *roomFlags) showLog(cmd *cobra.Command, arg string, show func(io.Writer, *room.Log)) error {
	s, id, done, err := f.openRoom(cmd, arg, false)
	if err != nil {
		return err
	}
	defer done()
	l, err := s.log(id)
	if err != nil {
		return err
	}
	show(cmd.OutOrStdout(), l)
	return nil
}

// log fetches and replays the room's authority log.
func (s *roomSession) log(id string) (*room.Log, error) {
	evs, err := s.c.Query(s.ctx, nostr.Filter{
		Kinds: room.LogKinds,
		Tags:  nostr.TagMap{"h": {id}},
	})
	if err != nil {
		return nil, fmt.Errorf("reading the room's log from %s: %w", s.c.URL, err)
	}
	l, err := room.Replay(id, evs, time.Now())
	if errors.Is(err, room.ErrGenesis) {
		return nil, fmt.Errorf("room %.16s… is not on %s (no valid genesis): check the id, or --relay", id, s.c.URL)
	}
	return l, err
}

// act appends an entry doing a, built on the log's tip as this machine
// replays it.
func (s *roomSession) act(id string, a room.Action) (*nostr.Event, error) {
	l, err := s.log(id)
	if err != nil {
		return nil, err
	}
	ev := room.NewEntry(id, l.Tip(), a, time.Now())
	return ev, s.publish(ev)
}

func roomID(arg string) (string, error) {
	if err := room.CheckRoomID(arg); err != nil {
		return "", fmt.Errorf("%q is not a room id: a room id is the 64 hex digits `cairn room create` printed", arg)
	}
	return arg, nil
}

// pubkey reads an npub or 64 hex digits.
func pubkey(arg string) (string, error) {
	if strings.HasPrefix(arg, "npub1") {
		if _, v, err := nip19.Decode(arg); err == nil {
			return v.(string), nil
		}
	}
	if event.IsHex(arg, 64) {
		return arg, nil
	}
	return "", fmt.Errorf("%q is not a public key: give an npub1… or 64 hex digits", arg)
}

func roomCmd() *cobra.Command {
	var f roomFlags
	cmd := &cobra.Command{
		Use:   "room",
		Short: "Create, read, moderate and post in rooms (group chats with a signed authority log)",
		Long: `A room is a group chat whose authority (who is a member, who moderates, what
the room allows) is a signed, hash-chained log every member replays on its
own. A cairn node hosting the room enforces it; NIP-29 clients use it too.

These commands talk to a relay hosting the room (--relay, a cairn node: by
default the one on this machine) and sign with a local key (--key, made by
` + "`cairn keygen`" + `). They read the room's log from the relay, replay and check it
here, and append entries at its tip.

  cairn room create lobby --open          make a room; prints its id
  cairn room ls                           rooms on the relay
  cairn room info <id>                    name, policy, members and roles
  cairn room grant <id> <npub> mod        give a role (member, mod, owner or a defined one)
  cairn room revoke <id> <npub>           take a role away (or leave, with your own key)
  cairn room ban <id> <npub>              ban (unban undoes it)
  cairn room invite <id>                  make an invite code (holders of invite)
  cairn room join <id> [--code C]         ask to join (an open room, or with a code)
  cairn room post <id> "hello"            a chat message (kind 9); --channel <c> in a text channel
  cairn room channel <id> dev "Dev talk"  make or rename a text channel (--archive closes it)
  cairn room log <id>                     the authority log, entry by entry
  cairn room read <id>                    the latest messages
  cairn room sync <id> ws://other-node    have this machine's node pull the room from another
  cairn room sequencer <id> 30            (creator) others' changes wait for your countersignature
  cairn room countersign <id>             (creator) countersign every pending change`,
	}
	f.register(cmd)
	cmd.AddCommand(roomCreateCmd(&f), roomSyncCmd(), roomSequencerCmd(&f), roomCountersignCmd(&f), roomChannelCmd(&f), roomInviteCmd(&f), roomJoinCmd(&f), roomLsCmd(&f), roomInfoCmd(&f), roomLogCmd(&f), roomPostCmd(&f), roomReadCmd(&f),
		roomActCmd(&f, "grant <room-id> <pubkey> <role>", "Give a user a role in a room (member, mod, owner, or a role defined in the room)", 3,
			func(args []string, pk string) room.Action { return room.Grant(pk, args[2]) }),
		roomActCmd(&f, "revoke <room-id> <pubkey>", "Take a user's role away (with your own pubkey: leave the room)", 2,
			func(_ []string, pk string) room.Action { return room.Revoke(pk) }),
		roomActCmd(&f, "ban <room-id> <pubkey>", "Ban a user from a room: their messages are refused from now on", 2,
			func(_ []string, pk string) room.Action { return room.Ban(pk) }),
		roomActCmd(&f, "unban <room-id> <pubkey>", "Lift a ban (the user is then no member until granted again)", 2,
			func(_ []string, pk string) room.Action { return room.Unban(pk) }))
	return cmd
}

func roomCreateCmd(f *roomFlags) *cobra.Command {
	var open, unrestricted bool
	var about string
	cmd := &cobra.Command{
		Use:   "create <name>",
		Short: "Create a room and print its id",
		Long: `Create a room named <name> (at most 64 bytes), owned by the signing key for
good. Its id binds that key, the name and a random nonce. A room is
restricted by default: only members post, and only moderators add members.
--open lets anyone join (a NIP-29 join request is enough); --unrestricted
lets anyone not banned post without joining.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args[0]) == 0 || len(args[0]) > room.MaxName {
				return fmt.Errorf("a room's name is 1 to %d bytes", room.MaxName)
			}
			s, done, err := f.open(cmd, true)
			if err != nil {
				return err
			}
			defer done()
			var nonce [16]byte
			rand.Read(nonce[:])
			g := room.Genesis(s.key.Public, args[0], nonce, time.Now())
			if about != "" {
				g.Tags = append(g.Tags, nostr.Tag{"about", about})
			}
			if open {
				g.Tags = append(g.Tags, nostr.Tag{"open"})
			}
			if unrestricted {
				g.Tags = append(g.Tags, nostr.Tag{"unrestricted"})
			}
			if err := s.publish(g); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), g.Tags.Find("h")[1])
			return nil
		},
	}
	cmd.Flags().BoolVar(&open, "open", false, "anyone may join (join requests are honoured)")
	cmd.Flags().BoolVar(&unrestricted, "unrestricted", false, "anyone not banned may post, member or not")
	cmd.Flags().StringVar(&about, "about", "", "a description")
	return cmd
}

func roomLsCmd(f *roomFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the rooms the relay hosts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, done, err := f.open(cmd, false)
			if err != nil {
				return err
			}
			defer done()
			evs, err := s.c.Query(s.ctx, nostr.Filter{Kinds: []int{room.KindCreate}})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ROOM\tNAME\tCREATOR")
			for _, ev := range evs {
				e, err := room.ParseEntry(ev)
				if err != nil || e.Action.Op != room.OpGenesis {
					continue
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", e.Room, *e.Action.Policy.Name, npub(e.Author))
			}
			return w.Flush()
		},
	}
}

func npub(pk string) string {
	s, err := nip19.EncodePublicKey(pk)
	if err != nil {
		return pk
	}
	return s
}

func roomInfoCmd(f *roomFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "info <room-id>",
		Short: "Show a room: name, policy, members and their roles",
		Long: `Show a room as this machine replays its log: name, policy, members with
their roles, banned users, user-defined roles, and how many entries took
effect or were refused (see ` + "`cairn room log`" + ` for each).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.showLog(cmd, args[0], printInfo)
		},
	}
}

func printInfo(out io.Writer, l *room.Log) {
	st := l.State
	p := st.Policy
	yes := func(b bool, y, n string) string {
		if b {
			return y
		}
		return n
	}
	fmt.Fprintf(out, "room     %s\nname     %s\n", l.Room, p.Name)
	if p.About != "" {
		fmt.Fprintf(out, "about    %s\n", p.About)
	}
	fmt.Fprintf(out, "creator  %s\npolicy   %s, %s\n", npub(st.Creator),
		yes(p.JoinOpen, "open (anyone may join)", "closed (moderators add members)"),
		yes(p.Open, "unrestricted (anyone not banned posts)", "restricted (members post)"))
	if st.Sequencer > 0 {
		fmt.Fprintf(out, "sequencer on: others' changes wait for the creator's countersignature (alone after %s of absence)\n", st.Sequencer)
	}
	pending := len(l.Pending())
	fmt.Fprintf(out, "log      %d entries applied, %d refused, %d pending\n", len(l.Applied), len(l.Rejected)-pending, pending)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nMEMBER\tROLE\tPUBKEY")
	pks := make([]string, 0, len(st.Users))
	for pk := range st.Users {
		pks = append(pks, pk)
	}
	rank := func(pk string) int { r, _ := st.Role(pk); return r.Rank }
	sort.Slice(pks, func(i, j int) bool {
		if rank(pks[i]) != rank(pks[j]) {
			return rank(pks[i]) > rank(pks[j])
		}
		return pks[i] < pks[j]
	})
	for _, pk := range pks {
		fmt.Fprintf(w, "%s\t%s\t%s\n", npub(pk), st.Users[pk], pk)
	}
	w.Flush()
	fmt.Fprintln(out, "\nchannels:")
	for _, c := range l.View().Channels {
		state := ""
		if c.Archived {
			state = " (archived)"
		}
		fmt.Fprintf(out, "  %s: %s%s\n", c.ID, c.Name, state)
	}
	if len(st.Roles) > 0 {
		fmt.Fprintln(out, "\ndefined roles:")
		names := make([]string, 0, len(st.Roles))
		for n := range st.Roles {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			r := st.Roles[n]
			fmt.Fprintf(out, "  %s (rank %d): %s\n", n, r.Rank, r.Caps)
		}
	}
}

func roomLogCmd(f *roomFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "log <room-id>",
		Short: "Print a room's authority log, entry by entry, as replayed here",
		Long: `Print every entry of a room's authority log in replay order: height (seq),
Lamport time, date, signer, what it does, and whether it took effect or why
it was refused. Entries placed by a host for a client that writes no chain
tags (NIP-29 join, leave, moderation) name the host too. Events refused
before they found a place in the chain (forged, orphaned, of another room)
follow at the end.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.showLog(cmd, args[0], printLog)
		},
	}
}

func short(pk string) string { return npub(pk)[:16] + "…" }

func describe(a room.Action) string {
	switch a.Op {
	case room.OpGenesis:
		return "create " + strings.TrimSpace(*a.Policy.Name)
	case room.OpGrant:
		return "grant " + a.Role + " to " + short(a.Target)
	case room.OpRevoke, room.OpBan, room.OpUnban:
		return a.Op.String() + " " + short(a.Target)
	case room.OpDefineRole:
		return fmt.Sprintf("define role %s (rank %d): %s", a.Role, a.Rank, a.Caps)
	case room.OpInvite:
		return "invite code " + a.Code
	case room.OpChannel:
		if a.Archived {
			return fmt.Sprintf("archive channel %s (%s)", a.Channel, a.ChannelName)
		}
		return fmt.Sprintf("channel %s named %q", a.Channel, a.ChannelName)
	case room.OpSequence:
		var parts []string
		if a.Wait != nil && *a.Wait == 0 {
			parts = append(parts, "sequencer off")
		} else if a.Wait != nil {
			parts = append(parts, fmt.Sprintf("sequencer on (others act alone after %s of absence)", *a.Wait))
		}
		if len(a.Acks) > 0 {
			ids := make([]string, len(a.Acks))
			for i, id := range a.Acks {
				ids[i] = id[:12] + "…"
			}
			parts = append(parts, "countersign "+strings.Join(ids, " "))
		}
		return strings.Join(parts, ", ")
	}
	var parts []string
	c := a.Policy
	for _, kv := range []struct {
		k string
		v *string
	}{{"name", c.Name}, {"about", c.About}, {"picture", c.Picture}} {
		if kv.v != nil {
			parts = append(parts, fmt.Sprintf("%s=%q", kv.k, *kv.v))
		}
	}
	for _, b := range []struct {
		v       *bool
		yes, no string
	}{{c.Open, "unrestricted", "restricted"}, {c.Public, "public", "private"}, {c.JoinOpen, "open", "closed"}} {
		if b.v != nil {
			parts = append(parts, map[bool]string{true: b.yes, false: b.no}[*b.v])
		}
	}
	return "policy " + strings.Join(parts, " ")
}

func printLog(out io.Writer, l *room.Log) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SEQ\tLAMPORT\tDATE\tBY\tACTION\tRESULT")
	row := func(e room.Entry) {
		by := short(e.Author)
		if e.Placer != "" {
			by += fmt.Sprintf(" (kind %d placed by %s)", e.Via, short(e.Placer))
		}
		res := "applied"
		if err := l.Err(e.ID); errors.Is(err, room.ErrPending) {
			res = "pending: waits for the creator's countersignature (" + e.ID[:12] + "…)"
		} else if err != nil {
			res = "refused: " + err.Error()
		}
		fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\n", e.Seq, e.Lamport,
			time.Unix(e.CreatedAt, 0).UTC().Format("2006-01-02 15:04:05"), by, describe(e.Action), res)
	}
	row(l.Genesis)
	placed := map[string]bool{l.Genesis.ID: true}
	for _, e := range l.Order {
		row(e)
		placed[e.ID] = true
	}
	w.Flush()
	for _, r := range l.Rejected {
		if !placed[r.ID] {
			fmt.Fprintf(out, "not in the chain: %.16s… %v\n", r.ID, r.Err)
		}
	}
}

func roomPostCmd(f *roomFlags) *cobra.Command {
	var channel string
	cmd := &cobra.Command{
		Use:   "post <room-id> <text>",
		Short: "Post a chat message (kind 9) in a room",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := roomID(args[0])
			if err != nil {
				return err
			}
			if strings.TrimSpace(args[1]) == "" {
				return errors.New("the message is empty")
			}
			if err := checkChannel(channel); err != nil {
				return err
			}
			s, done, err := f.open(cmd, true)
			if err != nil {
				return err
			}
			defer done()
			ev := &nostr.Event{Kind: room.KindChat, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"h", id}}, Content: args[1]}
			if channel != room.GeneralChannel {
				ev.Tags = append(ev.Tags, nostr.Tag{"channel", channel})
			}
			if err := s.publish(ev); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), ev.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&channel, "channel", room.GeneralChannel, "the text channel (its id; cairn room info lists them)")
	return cmd
}

// checkChannel checks a channel id typed on the command line.
func checkChannel(id string) error {
	if id == "" || len(id) > room.MaxRoleName || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return fmt.Errorf("channel %q: a channel id is 1 to %d of a-z, 0-9, - and _ (cairn room info lists the room's channels)", id, room.MaxRoleName)
	}
	return nil
}

func roomChannelCmd(f *roomFlags) *cobra.Command {
	var archive bool
	cmd := &cobra.Command{
		Use:   "channel <room-id> <channel-id> <name>",
		Short: "Create or rename a text channel of a room (--archive: close it to new messages)",
		Long: `Create the text channel <channel-id> of a room with a name people see, or
rename it; --archive closes it to new messages (its history stays). Needs the
manage-channels capability (the owner has it; grant a role defined with it).
Post in a channel with ` + "`cairn room post --channel <channel-id>`" + `.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkChannel(args[1]); err != nil {
				return err
			}
			if args[2] == "" || len(args[2]) > room.MaxName {
				return fmt.Errorf("name %q: give 1 to %d bytes", args[2], room.MaxName)
			}
			s, id, done, err := f.openRoom(cmd, args[0], true)
			if err != nil {
				return err
			}
			defer done()
			a := room.SetChannel(args[1], args[2], archive)
			ev, err := s.act(id, a)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", describe(a), ev.ID)
			return nil
		},
	}
	cmd.Flags().BoolVar(&archive, "archive", false, "archive the channel: no new messages")
	return cmd
}

func roomReadCmd(f *roomFlags) *cobra.Command {
	var limit int
	var channel string
	cmd := &cobra.Command{
		Use:   "read <room-id>",
		Short: "Print a room's latest chat messages, oldest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkChannel(channel); err != nil {
				return err
			}
			s, id, done, err := f.openRoom(cmd, args[0], false)
			if err != nil {
				return err
			}
			defer done()
			evs, err := s.c.Query(s.ctx, nostr.Filter{Kinds: []int{room.KindChat}, Tags: nostr.TagMap{"h": {id}}, Limit: limit})
			if err != nil {
				return err
			}
			sort.Slice(evs, func(i, j int) bool { return evs[i].CreatedAt < evs[j].CreatedAt })
			for _, ev := range evs {
				in := room.GeneralChannel
				if t := ev.Tags.Find("channel"); t != nil {
					in = t[1]
				}
				if event.Verify(ev) != nil || in != channel {
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %s  %s\n", ev.CreatedAt.Time().UTC().Format("2006-01-02 15:04:05"), short(ev.PubKey), ev.Content)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "how many messages (of every channel) to fetch")
	cmd.Flags().StringVar(&channel, "channel", room.GeneralChannel, "the text channel to show")
	return cmd
}

func roomActCmd(f *roomFlags, use, short string, nargs int, action func(args []string, pk string) room.Action) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

The entry is signed with --key and appended at the tip of the room's log as
this machine replays it; the relay hosting the room replays it too and
refuses it (with the reason) if the key lacks the capability. The pubkey is
an npub1… or 64 hex digits.`,
		Args: cobra.ExactArgs(nargs),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := roomID(args[0])
			if err != nil {
				return err
			}
			pk, err := pubkey(args[1])
			if err != nil {
				return err
			}
			a := action(args, pk)
			a.Reason = reason
			if a.Op == room.OpGrant {
				if err := checkRole(a.Role); err != nil {
					return err
				}
			}
			s, done, err := f.open(cmd, true)
			if err != nil {
				return err
			}
			defer done()
			ev, err := s.act(id, a)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", describe(a), ev.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "a reason, for people reading the log")
	return cmd
}

func roomSequencerCmd(f *roomFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "sequencer <room-id> <minutes|off>",
		Short: "Turn sequencer mode on or off (the room's creator only)",
		Long: `Turn the room's sequencer mode on (others' changes of members, roles and
policy then wait, stored, until you countersign them with
` + "`cairn room countersign`" + `) or off. With the mode on, moderators act alone once you
have signed nothing in the room for <minutes>; when you come back, what you
had not seen waits for your countersignature. Sign with the creator's key.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var wait time.Duration
			if args[1] != "off" {
				var m int
				if _, err := fmt.Sscanf(args[1], "%d", &m); err != nil || m < 1 || time.Duration(m)*time.Minute > room.MaxSequencerWait {
					return fmt.Errorf("%q: give the absence delay in minutes (1 to %d), or off", args[1], int(room.MaxSequencerWait/time.Minute))
				}
				wait = time.Duration(m) * time.Minute
			}
			s, id, done, err := f.openRoom(cmd, args[0], true)
			if err != nil {
				return err
			}
			defer done()
			a := room.Sequencer(wait)
			ev, err := s.act(id, a)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", describe(a), ev.ID)
			return nil
		},
	}
}

func roomCountersignCmd(f *roomFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "countersign <room-id> [entry-id...]",
		Short: "Countersign pending changes in sequencer mode (the room's creator only)",
		Long: `Countersign changes that wait for the creator (sequencer mode): they take
effect now, each judged against the room as it is. Without entry ids, every
pending change is countersigned; ` + "`cairn room log`" + ` lists them ("pending").`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args[1:] {
				if !event.IsHex(a, 64) {
					return fmt.Errorf("%q is not an entry id: give the 64 hex digits of a pending entry (cairn room log shows them)", a)
				}
			}
			s, id, done, err := f.openRoom(cmd, args[0], true)
			if err != nil {
				return err
			}
			defer done()
			l, err := s.log(id)
			if err != nil {
				return err
			}
			ids := args[1:]
			if len(ids) == 0 {
				ids = l.Pending()
			}
			if len(ids) == 0 {
				return errors.New("nothing is pending in this room")
			}
			if len(ids) > room.MaxTags-5 {
				ids = ids[:room.MaxTags-5] // one entry's worth; run it again for the rest
			}
			a := room.Countersign(ids...)
			ev := room.NewEntry(id, l.Tip(), a, time.Now())
			if err := s.publish(ev); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", describe(a), ev.ID)
			return nil
		},
	}
}

func checkRole(name string) error {
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("role %q: a role's name is a-z, 0-9, - and _ (member, mod, owner, or one defined in the room)", name)
		}
	}
	if name == "" || name == room.RoleBanned {
		return fmt.Errorf("role %q: give member, mod, owner or a role defined in the room (to ban, use `cairn room ban`)", name)
	}
	return nil
}

func roomSyncCmd() *cobra.Command {
	var nodeURL string
	cmd := &cobra.Command{
		Use:   "sync <room-id> <relay-url>",
		Short: "Have the node on this machine pull a room from another node's relay (NIP-77)",
		Long: `Ask the node running on this machine (--node) to pull every event of a room
(its authority log, requests and messages) from another relay, with NIP-77
negentropy: only what the node lacks moves. Pull both ways (run it on each
node) and the two hold the same room. A node started with --room-peer does
this by itself, every --room-sync-interval.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := roomID(args[0])
			if err != nil {
				return err
			}
			if !strings.HasPrefix(args[1], "ws://") && !strings.HasPrefix(args[1], "wss://") {
				return fmt.Errorf("%q is not a relay URL: give ws://host:port or wss://host", args[1])
			}
			var res struct {
				LocalOnly  int      `json:"local_only"`
				RemoteOnly int      `json:"remote_only"`
				Received   int      `json:"received"`
				Invalid    int      `json:"invalid"`
				Errors     []string `json:"errors"`
			}
			if err := newClient(cmd, nodeURL).call("POST", "/api/rooms/sync", map[string]string{"room": id, "relay": args[1]}, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pulled %d events of the room from %s (%d were only there, %d only here)\n", res.Received, args[1], res.RemoteOnly, res.LocalOnly)
			for _, e := range res.Errors {
				fmt.Fprintln(cmd.ErrOrStderr(), "  ", e)
			}
			return nil
		},
	}
	registerNode(cmd.Flags(), &nodeURL)
	return cmd
}

func roomInviteCmd(f *roomFlags) *cobra.Command {
	var code string
	cmd := &cobra.Command{
		Use:   "invite <room-id>",
		Short: "Make an invite code for a room (needs the invite capability) and print how to join with it",
		Long: `Make an invite code (a kind 9009 entry of the room's log): a join request
carrying it admits its signer, even to a closed room, for as long as the
signing key holds the invite capability. Without --code a random code is
made. Hand out the command it prints.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := roomID(args[0])
			if err != nil {
				return err
			}
			if code == "" {
				var b [9]byte
				rand.Read(b[:])
				code = base64.RawURLEncoding.EncodeToString(b[:])
			}
			s, done, err := f.open(cmd, true)
			if err != nil {
				return err
			}
			defer done()
			if _, err := s.act(id, room.Invite(code)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "invite code: %s\njoin with:   cairn room join %s --code %s --relay %s\n", code, id, code, f.relay)
			return nil
		},
	}
	cmd.Flags().StringVar(&code, "code", "", "the code (1-64 of A-Z, a-z, 0-9, - and _; default: random)")
	return cmd
}

func roomJoinCmd(f *roomFlags) *cobra.Command {
	var code string
	cmd := &cobra.Command{
		Use:   "join <room-id>",
		Short: "Ask to join a room: an open one, or any with an invite code",
		Long: `Send a NIP-29 join request (kind 9021) for the signing key. The node hosting
the room admits you at once if the room is open or the --code is valid;
a closed room without a code keeps the request for its moderators.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, id, done, err := f.openRoom(cmd, args[0], true)
			if err != nil {
				return err
			}
			defer done()
			ev := &nostr.Event{Kind: room.KindJoinRequest, CreatedAt: nostr.Now(), Tags: nostr.Tags{{"h", id}}}
			if code != "" {
				ev.Tags = append(ev.Tags, nostr.Tag{"code", code})
			}
			if err := s.publish(ev); err != nil {
				return err
			}
			l, err := s.log(id)
			if err != nil {
				return err
			}
			if l.State.Member(s.key.Public) {
				fmt.Fprintf(cmd.OutOrStdout(), "joined %s as %s\n", l.State.Policy.Name, l.State.Users[s.key.Public])
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), "request sent: the room is closed, a moderator must add you")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&code, "code", "", "an invite code (from cairn room invite)")
	return cmd
}
