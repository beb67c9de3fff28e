package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cairn-nostr/cairn/node"
)

func lsCmd() *cobra.Command {
	var nodeURL string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the media the running node shared or holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var list []node.MediaEntry
			if err := newClient(cmd, nodeURL).call("GET", "/api/media", nil, &list); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ROOT\tTITLE\tSIZE\tCHUNKS\tSHARED\tPINNED")
			for _, e := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%v\t%v\n", e.Root, e.Title, formatBytes(float64(e.Size)), e.ChunksHeld, e.Chunks, yes(e.Shared), yes(e.Pinned))
			}
			return tw.Flush()
		},
	}
	registerNode(cmd.Flags(), &nodeURL)
	return cmd
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func pinCmd(pin bool) *cobra.Command {
	var nodeURL string
	use, short, path := "pin REF", "Keep a file's chunks on the running node (fetching the missing ones)", "/api/pin"
	if !pin {
		use, short, path = "unpin REF", "Let the running node evict a file's chunks again when over quota", "/api/unpin"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

REF is as for cairn get. Pinned chunks are never evicted for the blob quota;
the chunks of files this node shared stay pinned as "shared" regardless.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var e node.MediaEntry
			if err := newClient(cmd, nodeURL).call("POST", path, node.GetRequest{Ref: args[0]}, &e); err != nil {
				return err
			}
			verb := "pinned"
			if !pin {
				verb = "unpinned"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%d of %d chunks held)\n", verb, e.Root, e.ChunksHeld, e.Chunks)
			return nil
		},
	}
	registerNode(cmd.Flags(), &nodeURL)
	return cmd
}

func resolveCmd() *cobra.Command {
	var nodeURL string
	cmd := &cobra.Command{
		Use:   "resolve REF",
		Short: "Find a shared file's events without fetching it; print where the node streams it",
		Long: `Resolve REF (as for cairn get) on the running node: it finds and stores the
chunk map, the file event and the seeders' addresses, but fetches no chunk.
It prints the URL at which the node serves the file: a player or curl can
read it with Range requests, and the node fetches only the chunks asked for.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var e node.MediaEntry
			if err := newClient(cmd, nodeURL).call("POST", "/api/resolve", node.GetRequest{Ref: args[0]}, &e); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "root:   %s\n", e.Root)
			if e.SHA256 != "" {
				fmt.Fprintf(w, "sha256: %s\n", e.SHA256)
				fmt.Fprintf(w, "url:    %s\n", e.URL)
			} else {
				fmt.Fprintln(w, "no kind 1063 file event names this map: fetch it with cairn get")
			}
			fmt.Fprintf(w, "%s, %d of %d chunks held\n", formatBytes(float64(e.Size)), e.ChunksHeld, e.Chunks)
			return nil
		},
	}
	registerNode(cmd.Flags(), &nodeURL)
	return cmd
}
