package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cairn-nostr/cairn/node"
)

func shareCmd() *cobra.Command {
	var nodeURL, chunkSize string
	var req node.ShareRequest
	cmd := &cobra.Command{
		Use:   "share FILE",
		Short: "Share a file through the running node: chunk it, seed it, publish it",
		Long: `Share a file through the running node (on this machine). The node cuts it
into chunks (keyframe-aligned for MP4 and WebM; a progressive MP4 is first
remuxed into DATA_DIR/media so it can stream), keeps and pins them, publishes
a kind 7001 chunk map and a NIP-94 kind 1063 file event signed with its key,
announces the root on the DHT, and seeds it to peers.

It prints the nevent to give to others (cairn get <nevent> on their node)
and the root.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			req.Path = path
			if req.ChunkSize, err = parseBytes(chunkSize); err != nil {
				return fmt.Errorf("--chunk-size: %w", err)
			}
			var res node.ShareResult
			c := newClient(cmd, nodeURL)
			c.http.Timeout = 0 // the node reads the whole file twice: a large one takes a while
			if err := c.call("POST", "/api/share", req, &res); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "nevent: %s\n", res.Nevent)
			fmt.Fprintf(w, "root:   %s\n", res.Root)
			fmt.Fprintf(w, "sha256: %s\n", res.SHA256)
			fmt.Fprintf(w, "url:    %s\n", res.URL)
			if res.Magnet != "" {
				fmt.Fprintf(w, "magnet: %s\n", res.Magnet)
			}
			fmt.Fprintf(w, "%s in %d chunks, %s\n", formatBytes(float64(res.Size)), res.Chunks, res.MIME)
			return nil
		},
	}
	f := cmd.Flags()
	registerNode(f, &nodeURL)
	f.StringVar(&req.Title, "title", "", "title of the file in its chunk map")
	f.StringVar(&req.Description, "description", "", "description (the events' content)")
	f.StringVar(&chunkSize, "chunk-size", "0", "target chunk size, e.g. 1MiB (0 = 5 MiB, Entropy's)")
	return cmd
}
