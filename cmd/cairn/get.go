package main

import (
	"context"
	"fmt"
	"io"
	"mime"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-nostr/cairn/node"
)

func getCmd() *cobra.Command {
	var nodeURL, output string
	var quiet bool
	tg := torrentGet{publicBootstrap: true}
	cmd := &cobra.Command{
		Use:   "get REF",
		Short: "Fetch a shared file from the swarm through the running node",
		Long: `Fetch a shared file through the running node (on this machine). REF is an
nevent (as cairn share prints it), a note, or 64 hex characters: the id of a
kind 7001 chunk map or kind 1063 file event, a Merkle root, or a file's
sha256. The node finds the chunk map (in its store, else on the nevent's
relays), finds seeders (the map's gatekeepers through their cairn-p2p
records, and the DHT), downloads every chunk verified, and writes the file.

While it runs a progress line shows bytes, rate, peers and time left. The
node keeps every verified chunk: if the get is interrupted (or the node
stops), running it again resumes where it was.

REF may also be a BitTorrent magnet (magnet:?xt=urn:btih:…, v1) or a
.torrent file of one file: then cairn itself is a BitTorrent client, with
no node needed. It finds peers through the magnet's or torrent's trackers,
x.pe peers, web seeds (ws, url-list), --peer, and (unless
--public-bootstrap=false or CAIRN_PUBLIC_BOOTSTRAP=false) the public
Mainline DHT; every piece is checked against the torrent's SHA-1 hashes
before it counts. The file is written to -o, or named as the torrent
names it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isTorrentRef(args[0]) {
				if err := envBool(cmd.Flags().Changed("public-bootstrap"), "public-bootstrap", &tg.publicBootstrap); err != nil {
					return err
				}
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				return tg.run(ctx, args[0], output, cmd.OutOrStdout(), cmd.ErrOrStderr(), quiet)
			}
			c := newClient(cmd, nodeURL)
			out := output
			if out != "" {
				abs, err := filepath.Abs(out)
				if err != nil {
					return err
				}
				out = abs
			}
			ref := args[0]
			if out == "" {
				var e node.MediaEntry
				if err := c.call("POST", "/api/resolve", node.GetRequest{Ref: ref}, &e); err != nil {
					return err
				}
				name, err := filepath.Abs(defaultName(e.Title, e.MIME, e.Root))
				if err != nil {
					return err
				}
				out, ref = name, e.Root
			}
			var st node.DownloadStatus
			if err := c.call("POST", "/api/get", node.GetRequest{Ref: ref, Output: out}, &st); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return follow(ctx, c, st, cmd.OutOrStdout(), cmd.ErrOrStderr(), quiet)
		},
	}
	f := cmd.Flags()
	registerNode(f, &nodeURL)
	f.StringVarP(&output, "output", "o", "", "file to write (default: the title, or the root, in the current directory)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress line")
	f.StringSliceVar(&tg.peers, "peer", nil, "for a magnet or .torrent: BitTorrent peers to dial, host:port, comma-separated or repeated")
	f.StringVar(&tg.listen, "bt-listen", ":0", "for a magnet or .torrent: host:port this client takes peers on")
	f.BoolVar(&tg.publicBootstrap, "public-bootstrap", true, "for a magnet: look for peers on the public Mainline DHT too; --public-bootstrap=false (CAIRN_PUBLIC_BOOTSTRAP=false) contacts only the peers, trackers and web seeds named")
	return cmd
}

// follow polls the download until it ends, drawing a progress line on
// stderr.
func follow(ctx context.Context, c *client, st node.DownloadStatus, out, prog io.Writer, quiet bool) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	width := 0
	for {
		if !quiet {
			line := progressLine(st)
			pad := ""
			if n := width - len(line); n > 0 {
				pad = strings.Repeat(" ", n)
			}
			fmt.Fprint(prog, "\r"+line+pad)
			width = len(line)
		}
		switch st.State {
		case "complete":
			if !quiet {
				fmt.Fprintln(prog)
			}
			fmt.Fprintf(out, "wrote %s (%s, root %s)\n", st.Output, formatBytes(float64(st.Size)), st.Root)
			return nil
		case "failed":
			if !quiet {
				fmt.Fprintln(prog)
			}
			return fmt.Errorf("download failed: %s", st.Error)
		}
		select {
		case <-ctx.Done():
			if !quiet {
				fmt.Fprintln(prog)
			}
			return fmt.Errorf("interrupted: the node keeps the chunks it has (%d of %d) and keeps fetching; run the same get again to follow it or resume", st.ChunksDone, st.Chunks)
		case <-tick.C:
		}
		if err := c.call("GET", "/api/downloads/"+st.Root, nil, &st); err != nil {
			return err
		}
	}
}

func progressLine(st node.DownloadStatus) string {
	pct := 100.0
	if st.Size > 0 {
		pct = 100 * float64(st.BytesDone) / float64(st.Size)
	}
	eta := "--"
	if st.ETASeconds > 0 {
		eta = time.Duration(st.ETASeconds * float64(time.Second)).Round(time.Second).String()
	}
	if st.State == "complete" || st.State == "assembling" {
		eta = "0s"
	}
	return fmt.Sprintf("%5.1f%%  %s / %s  %s/s  %d peers  chunks %d/%d  ETA %s",
		pct, formatBytes(float64(st.BytesDone)), formatBytes(float64(st.Size)),
		formatBytes(st.Rate), st.Peers, st.ChunksDone, st.Chunks, eta)
}

// defaultName is a file name for a download: its title, else its root,
// with an extension for its type.
func defaultName(title, mimeType, root string) string {
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, strings.TrimSpace(title))
	if name == "" || name == "." || name == ".." {
		name = root[:16]
	}
	if filepath.Ext(name) == "" && mimeType != "" {
		mt, _, _ := mime.ParseMediaType(mimeType)
		if ext, ok := commonExt[mt]; ok {
			name += ext
		} else if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
			name += exts[0]
		}
	}
	return name
}

// commonExt is the usual extension of types for which the mime package's
// first (alphabetical) one is not it.
var commonExt = map[string]string{
	"video/mp4":  ".mp4",
	"audio/mp4":  ".m4a",
	"video/webm": ".webm",
	"audio/webm": ".weba",
	"audio/mpeg": ".mp3",
	"image/jpeg": ".jpg",
	"text/plain": ".txt",
}
