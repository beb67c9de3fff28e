package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/cairn-nostr/cairn/bt"
)

// torrentGet is `cairn get magnet:…` or `cairn get FILE.torrent`: a
// BitTorrent client of its own, in this process, writes the file.
type torrentGet struct {
	peers           []string
	listen          string
	publicBootstrap bool
}

// isTorrentRef says whether ref is for BitTorrent rather than the node.
func isTorrentRef(ref string) bool {
	return strings.HasPrefix(ref, "magnet:") || strings.HasSuffix(ref, ".torrent")
}

func (g torrentGet) run(ctx context.Context, ref, output string, out, prog io.Writer, quiet bool) error {
	var spec *torrent.TorrentSpec
	var name string
	if strings.HasPrefix(ref, "magnet:") {
		s, err := bt.MagnetSpec(ref)
		if err != nil {
			return err
		}
		spec, name = s, s.DisplayName
		if name == "" {
			name = s.InfoHash.HexString()
		}
	} else {
		f, err := os.Open(ref)
		if err != nil {
			return err
		}
		mi, info, err := bt.LoadTorrent(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
		if spec, err = bt.MetaInfoSpec(mi); err != nil {
			return err
		}
		name = info.Name
	}
	if output == "" {
		output = filepath.Base(name)
		if output == "." || output == ".." || output == string(filepath.Separator) {
			output = spec.InfoHash.HexString()
		}
	}
	abs, err := filepath.Abs(output)
	if err != nil {
		return err
	}
	c, err := bt.NewClient(bt.ClientConfig{Listen: g.listen, Public: g.publicBootstrap})
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	width := 0
	opt := bt.FetchOptions{Peers: g.peers, Every: 250 * time.Millisecond}
	if !quiet {
		opt.Progress = func(p bt.Progress) {
			line := fmt.Sprintf("metadata: waiting, %d peers", p.Peers)
			if p.GotInfo {
				rate := float64(p.Completed) / time.Since(start).Seconds()
				line = fmt.Sprintf("%s: %s of %s verified, %s/s, %d peers", p.Name, formatBytes(float64(p.Completed)), formatBytes(float64(p.Length)), formatBytes(rate), p.Peers)
			}
			fmt.Fprintf(prog, "\r%-*s", width, line)
			width = len(line)
		}
	}
	info, err := c.Fetch(ctx, spec, abs, opt)
	if !quiet && width > 0 {
		fmt.Fprintln(prog)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s (%d bytes, infohash %s, %.1fs)\n", abs, info.Length, spec.InfoHash.HexString(), time.Since(start).Seconds())
	return nil
}

// envBool reads CAIRN_<NAME> as a bool when the flag was not given.
func envBool(changed bool, name string, into *bool) error {
	if changed {
		return nil
	}
	if v, ok := os.LookupEnv(envName(name)); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s=%q: want true or false", envName(name), v)
		}
		*into = b
	}
	return nil
}
