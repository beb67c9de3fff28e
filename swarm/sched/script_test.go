package sched

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt scripts")

// epoch is time zero of scripts and simulations.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestScripts runs the scripts in testdata/*.txt. A script is a sequence of
// blocks: command lines, a "----" line, the expected output, a blank line.
// Lines starting with # are comments. Commands:
//
//	new [chunks=N] [size=S] [sizes=S,S,..] [have=LIST] [dup=I:J,..] [key=value ...]
//	    keys: window mindepth maxdepth depthwindow maxreq rate burst timeout
//	    adaptive factor mintimeout maxtimeout strikes ban backoff maxbackoff
//	    creditbackoff initialrate alpha copies seed
//	peer add ID... [T] | peer remove ID [T] | peer has ID all|none|LIST [T] | peer gain ID I [T]
//	playhead I [T]
//	recv ID I ok|bad [SIZE] [T]
//	fail ID I not-found|busy|credit|timeout|disconnected [T]
//	tick [T]     prints the actions
//	wake         prints NextWake
//	progress     prints Progress
//
// T is a time since the script's start ("1.5s") or relative to the current
// script time ("+100ms"); without one the current script time is used.
// LIST is like "0-3,7". SIZE is like "5MiB", "300KiB" or "1000".
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

type block struct {
	line     int
	cmds     []string // including comments, verbatim
	expected string
}

func parseScript(t *testing.T, path string) []block {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []block
	var cur block
	inOut := false
	var out []string
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if inOut {
			if strings.TrimSpace(line) == "" {
				cur.expected = strings.Join(out, "\n")
				blocks = append(blocks, cur)
				cur, out, inOut = block{}, nil, false
				continue
			}
			out = append(out, line)
			continue
		}
		if line == "----" {
			inOut = true
			continue
		}
		if strings.TrimSpace(line) == "" && len(cur.cmds) == 0 {
			continue
		}
		if len(cur.cmds) == 0 {
			cur.line = n
		}
		cur.cmds = append(cur.cmds, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if inOut {
		cur.expected = strings.Join(out, "\n")
		blocks = append(blocks, cur)
	} else if len(cur.cmds) > 0 {
		for _, c := range cur.cmds {
			if c = strings.TrimSpace(c); c != "" && !strings.HasPrefix(c, "#") {
				t.Fatalf("%s:%d: commands without ---- at end of file", path, cur.line)
			}
		}
		blocks = append(blocks, block{cmds: cur.cmds, expected: "\x00trailer"})
	}
	return blocks
}

func runScript(t *testing.T, path string) {
	blocks := parseScript(t, path)
	h := &harness{t: t, now: epoch}
	var b strings.Builder
	failed := false
	for _, bl := range blocks {
		if bl.expected == "\x00trailer" {
			for _, c := range bl.cmds {
				b.WriteString(c + "\n")
			}
			continue
		}
		var got []string
		for _, c := range bl.cmds {
			if s := strings.TrimSpace(c); s == "" || strings.HasPrefix(s, "#") {
				continue
			}
			out, err := h.run(c)
			if err != nil {
				t.Fatalf("%s:%d: %s: %v", path, bl.line, c, err)
			}
			got = append(got, out...)
		}
		if h.s != nil {
			if err := h.s.check(); err != nil {
				t.Fatalf("%s:%d: invariant: %v", path, bl.line, err)
			}
		}
		actual := strings.Join(got, "\n")
		if !*rewrite && actual != bl.expected {
			failed = true
			t.Errorf("%s:%d: %s\n got:\n%s\nwant:\n%s", path, bl.line, strings.Join(bl.cmds, "\n"), indent(actual), indent(bl.expected))
		}
		for _, c := range bl.cmds {
			b.WriteString(c + "\n")
		}
		b.WriteString("----\n")
		if actual != "" {
			b.WriteString(actual + "\n")
		}
		b.WriteString("\n")
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(strings.TrimRight(b.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if failed {
		t.Log("run with -rewrite to accept the new output")
	}
}

func indent(s string) string {
	if s == "" {
		return "    (nothing)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

type harness struct {
	t   *testing.T
	s   *Scheduler
	now time.Time
}

// chunkHash is the hash scripts and simulations give chunk i.
func chunkHash(i int) [32]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return sha256.Sum256(b[:])
}

func (h *harness) run(line string) ([]string, error) {
	f := strings.Fields(line)
	cmd, args := f[0], f[1:]
	if cmd == "new" {
		return nil, h.newScheduler(args)
	}
	if h.s == nil {
		return nil, fmt.Errorf("no scheduler: start with new")
	}
	// A trailing time argument sets the clock.
	if len(args) > 0 && cmd != "progress" && cmd != "wake" {
		if at, ok := h.parseTime(args[len(args)-1]); ok {
			if at.Before(h.now) {
				return nil, fmt.Errorf("time goes backwards: %s", args[len(args)-1])
			}
			h.now = at
			args = args[:len(args)-1]
		}
	}
	s, now := h.s, h.now
	switch cmd {
	case "peer":
		if len(args) < 2 {
			return nil, fmt.Errorf("peer add|remove|has|gain ID ...")
		}
		switch args[0] {
		case "add":
			for _, id := range args[1:] {
				s.AddPeer(PeerID(id), now)
			}
		case "remove":
			for _, id := range args[1:] {
				s.RemovePeer(PeerID(id), now)
			}
		case "has":
			if len(args) != 3 {
				return nil, fmt.Errorf("peer has ID all|none|LIST")
			}
			switch args[2] {
			case "all":
				s.PeerHasAll(PeerID(args[1]), now)
			case "none":
				s.PeerHas(PeerID(args[1]), Bitfield{}, now)
			default:
				idx, err := parseList(args[2])
				if err != nil {
					return nil, err
				}
				s.PeerHas(PeerID(args[1]), BitfieldOf(s.Len(), idx...), now)
			}
		case "gain":
			i, err := strconv.Atoi(args[2])
			if err != nil {
				return nil, err
			}
			s.PeerHasChunk(PeerID(args[1]), i, now)
		default:
			return nil, fmt.Errorf("unknown peer command %q", args[0])
		}
		return nil, nil
	case "playhead":
		i, err := strconv.Atoi(args[0])
		if err != nil {
			return nil, err
		}
		s.SetPlayhead(i, now)
		return nil, nil
	case "recv":
		if len(args) < 3 {
			return nil, fmt.Errorf("recv ID I ok|bad [SIZE]")
		}
		i, err := strconv.Atoi(args[1])
		if err != nil {
			return nil, err
		}
		size := int64(0)
		if i >= 0 && i < s.Len() {
			size = s.Chunk(i).Size
		}
		if len(args) > 3 {
			if size, err = parseSize(args[3]); err != nil {
				return nil, err
			}
		}
		var ok bool
		switch args[2] {
		case "ok":
			ok = true
		case "bad":
		default:
			return nil, fmt.Errorf("recv: want ok or bad, got %q", args[2])
		}
		s.Received(PeerID(args[0]), i, size, ok, now)
		return nil, nil
	case "fail":
		if len(args) != 3 {
			return nil, fmt.Errorf("fail ID I REASON")
		}
		i, err := strconv.Atoi(args[1])
		if err != nil {
			return nil, err
		}
		reasons := map[string]Reason{"not-found": ReasonNotFound, "busy": ReasonBusy, "credit": ReasonInsufficientCredit, "timeout": ReasonTimeout, "disconnected": ReasonDisconnected}
		r, ok := reasons[args[2]]
		if !ok {
			return nil, fmt.Errorf("unknown reason %q", args[2])
		}
		s.Failed(PeerID(args[0]), i, r, now)
		return nil, nil
	case "tick":
		var out []string
		for _, a := range s.Tick(now) {
			out = append(out, fmtAction(a))
		}
		return out, nil
	case "wake":
		w := s.NextWake()
		if w.IsZero() {
			return []string{"wake never"}, nil
		}
		return []string{"wake " + fmtTime(w)}, nil
	case "progress":
		return fmtProgress(s.Progress()), nil
	}
	return nil, fmt.Errorf("unknown command %q", cmd)
}

func (h *harness) parseTime(a string) (time.Time, bool) {
	rel := strings.HasPrefix(a, "+")
	d, err := time.ParseDuration(strings.TrimPrefix(a, "+"))
	if err != nil {
		return time.Time{}, false
	}
	if rel {
		return h.now.Add(d), true
	}
	return epoch.Add(d), true
}

func (h *harness) newScheduler(args []string) error {
	n := 8
	var size int64 = 5 << 20
	var sizes []int64
	var have []int
	var dups [][2]int
	var cfg Config
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("new: want key=value, got %q", a)
		}
		var err error
		dur := func(p *time.Duration) { *p, err = time.ParseDuration(v) }
		num := func(p *int) { *p, err = strconv.Atoi(v) }
		flt := func(p *float64) { *p, err = strconv.ParseFloat(v, 64) }
		switch k {
		case "chunks":
			num(&n)
		case "size":
			size, err = parseSize(v)
		case "sizes":
			for _, x := range strings.Split(v, ",") {
				var z int64
				if z, err = parseSize(x); err != nil {
					break
				}
				sizes = append(sizes, z)
			}
		case "have":
			have, err = parseList(v)
		case "dup":
			for _, x := range strings.Split(v, ",") {
				a, b, _ := strings.Cut(x, ":")
				i, e1 := strconv.Atoi(a)
				j, e2 := strconv.Atoi(b)
				if e1 != nil || e2 != nil {
					return fmt.Errorf("dup: want I:J, got %q", x)
				}
				dups = append(dups, [2]int{i, j})
			}
		case "window":
			num(&cfg.Window)
		case "mindepth":
			num(&cfg.MinDepth)
		case "maxdepth":
			num(&cfg.MaxDepth)
		case "depthwindow":
			dur(&cfg.DepthWindow)
		case "maxreq":
			num(&cfg.MaxRequests)
		case "rate":
			flt(&cfg.RequestRate)
		case "burst":
			num(&cfg.RequestBurst)
		case "timeout":
			dur(&cfg.Timeout)
		case "adaptive":
			cfg.AdaptiveTimeout, err = strconv.ParseBool(v)
		case "factor":
			flt(&cfg.TimeoutFactor)
		case "mintimeout":
			dur(&cfg.MinTimeout)
		case "maxtimeout":
			dur(&cfg.MaxTimeout)
		case "strikes":
			num(&cfg.MaxStrikes)
		case "ban":
			dur(&cfg.BanDuration)
		case "backoff":
			dur(&cfg.Backoff)
		case "maxbackoff":
			dur(&cfg.MaxBackoff)
		case "creditbackoff":
			dur(&cfg.CreditBackoff)
		case "initialrate":
			var z int64
			z, err = parseSize(v)
			cfg.InitialRate = float64(z)
		case "alpha":
			flt(&cfg.RateAlpha)
		case "copies":
			num(&cfg.EndgameCopies)
		case "seed":
			var z int
			num(&z)
			cfg.Seed = uint64(z)
		default:
			return fmt.Errorf("new: unknown key %q", k)
		}
		if err != nil {
			return fmt.Errorf("new: %s: %v", k, err)
		}
	}
	if sizes != nil {
		n = len(sizes)
	}
	chunks := make([]Chunk, n)
	for i := range chunks {
		chunks[i] = Chunk{Hash: chunkHash(i), Size: size}
		if sizes != nil {
			chunks[i].Size = sizes[i]
		}
	}
	for _, d := range dups {
		chunks[d[0]].Hash = chunks[d[1]].Hash
	}
	s, err := New(cfg, chunks, BitfieldOf(n, have...))
	if err != nil {
		return err
	}
	h.s, h.now = s, epoch
	return nil
}

func parseList(v string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(v, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(a)
		if err != nil {
			return nil, fmt.Errorf("list %q: %v", v, err)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(b); err != nil {
				return nil, fmt.Errorf("list %q: %v", v, err)
			}
		}
		for i := lo; i <= hi; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

func parseSize(v string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSuffix(v, u.suffix), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %v", v, err)
	}
	return int64(f * float64(mult)), nil
}

func fmtTime(t time.Time) string { return t.Sub(epoch).String() }

func fmtAction(a Action) string {
	if b, ok := a.(Ban); ok {
		return fmt.Sprintf("ban %s until %s", b.Peer, fmtTime(b.Until))
	}
	return a.String()
}

func fmtBytes(n float64) string {
	switch {
	case n >= 1<<30:
		return trimFloat(n/(1<<30)) + "GiB"
	case n >= 1<<20:
		return trimFloat(n/(1<<20)) + "MiB"
	case n >= 1<<10:
		return trimFloat(n/(1<<10)) + "KiB"
	}
	return trimFloat(n) + "B"
}

func trimFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', 2, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func fmtProgress(p Progress) []string {
	eta := "-"
	if p.ETA > 0 {
		eta = p.ETA.Round(time.Millisecond).String()
	}
	out := []string{fmt.Sprintf("chunks %d/%d bytes %s/%s wasted %s out %d peers %d active %d banned %d rate %s/s eta %s done %v",
		p.ChunksDone, p.Chunks, fmtBytes(float64(p.BytesDone)), fmtBytes(float64(p.Bytes)), fmtBytes(float64(p.Wasted)),
		p.Outstanding, p.Peers, p.Active, p.Banned, fmtBytes(p.Rate), eta, p.Done)}
	sort.Slice(p.PeerStats, func(i, j int) bool { return p.PeerStats[i].ID < p.PeerStats[j].ID })
	for _, st := range p.PeerStats {
		rate := fmtBytes(st.Rate) + "/s"
		if !st.Measured {
			rate = "?"
		}
		line := fmt.Sprintf("  %s rate %s depth %d out %v has %d got %s/%d strikes %d timeouts %d busy %d notfound %d",
			st.ID, rate, st.Depth, st.Outstanding, st.Has, fmtBytes(float64(st.Bytes)), st.Chunks, st.Strikes, st.Timeouts, st.Busy, st.NotFound)
		if !st.BlockedUntil.IsZero() {
			line += " blocked " + fmtTime(st.BlockedUntil)
		}
		if st.Banned {
			line += " banned " + fmtTime(st.BannedUntil)
		}
		out = append(out, line)
	}
	return out
}
