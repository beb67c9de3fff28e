package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"

	"github.com/nbd-wtf/go-nostr"
	"github.com/spf13/cobra"

	"github.com/cairn-nostr/cairn/node"
	"github.com/cairn-nostr/cairn/reconcile"
	"github.com/cairn-nostr/cairn/store"
)

func syncCmd() *cobra.Command {
	var common commonFlags
	var direction, engine, proxy string
	cmd := &cobra.Command{
		Use:   "sync <relay-url> [filter-json]",
		Short: "Reconcile the local store with a relay (NIP-77), moving only the difference",
		Long: `Reconcile this node's event store with any relay that speaks NIP-77
negentropy (another cairn node included). The two sides find the events only
one of them has in a few round trips; then only those events move.

The filter is a NIP-01 filter in JSON; without one, every event is
reconciled. Examples:
  cairn sync wss://relay.example
  cairn sync ws://127.0.0.1:7447 '{"kinds":[1],"since":1700000000}' --direction down

sync opens the data dir's store itself: stop a node running on the same data
dir first, or sync through that node's relay URL from another data dir.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyLayers(cmd.Flags(), &common); err != nil {
				return err
			}
			if err := useProxy(proxy); err != nil {
				return fmt.Errorf("--proxy: %w", err)
			}
			dir, err := reconcile.ParseDirection(direction)
			if err != nil {
				return err
			}
			var f nostr.Filter
			if len(args) == 2 {
				if err := json.Unmarshal([]byte(args[1]), &f); err != nil {
					return fmt.Errorf("filter %q is not a NIP-01 filter in JSON: %w", args[1], err)
				}
			}
			if err := os.MkdirAll(common.dataDir, 0o700); err != nil {
				return err
			}
			st, err := store.Open(node.EventsDir(common.dataDir), store.Options{Engine: engine})
			if err != nil {
				return fmt.Errorf("opening the store in %s (is a node running on it? stop it first): %w", common.dataDir, err)
			}
			defer st.Close()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			out := cmd.OutOrStdout()
			res, err := reconcile.Sync(ctx, st, args[0], f, dir, func(s string) { fmt.Fprintln(out, s) })
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "synced with %s: %d up, %d down", args[0], res.Up, res.Down)
			if res.UpRefused > 0 || res.DownInvalid > 0 {
				fmt.Fprintf(out, " (%d refused by the relay, %d invalid events dropped)", res.UpRefused, res.DownInvalid)
			}
			fmt.Fprintln(out)
			for _, e := range res.Errors {
				fmt.Fprintln(cmd.ErrOrStderr(), "  ", e)
			}
			return nil
		},
	}
	common.register(cmd.Flags())
	cmd.Flags().StringVar(&direction, "direction", "both", "both, up (only send) or down (only receive)")
	cmd.Flags().StringVar(&engine, "store-engine", "", "event store engine (as for cairn node)")
	registerProxy(cmd.Flags(), &proxy)
	return cmd
}
