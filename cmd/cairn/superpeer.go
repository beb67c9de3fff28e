package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-nostr/cairn/identity"
	"github.com/cairn-nostr/cairn/node"
	"github.com/cairn-nostr/cairn/peer"
)

func superpeerCmd() *cobra.Command {
	var common commonFlags
	var rtc node.WebRTCConfig
	var cfg peer.SuperPeerConfig
	var retry time.Duration
	cmd := &cobra.Command{
		Use:   "superpeer <relay-url>",
		Short: "Serve a NIP-95 relay's recent events to its clients peer to peer (a headless super peer)",
		Long: `Run a NIP-95 super peer of any relay that speaks NIP-95's PEER_* messages
(a cairn node, the Nexus relay). It registers with the relay (PEER_REGISTER,
with the node key's pubkey, under which the relay keeps its reputation),
fetches the relay's events of the cache window, tells the relay what it
caches, heartbeats, and once promoted caches every event the relay pushes
(PEER_EVENT_NEW), at most --max-cached of them and none older than the
window. Casual clients the relay sends to it open WebRTC DataChannels,
signaled through the relay (PEER_SIGNAL), and ask for events by id
(P2P_REQUEST); it answers each with the event as the relay sent it
(P2P_EVENTS). Clients verify every event; a super peer that omits or alters
events is caught and demoted.

The relay promotes a peer that meets its criteria: the Nexus relay's are 5
minutes online, 5 Mbit/s, 100 MB, a reputation of 50 and at least one cached
event. Examples:
  cairn superpeer wss://relay.example
  cairn superpeer ws://127.0.0.1:7447 --ice-server stun:stun.example:3478

It runs until interrupted, connecting again --retry after the relay drops it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyLayers(cmd.Flags(), &common); err != nil {
				return err
			}
			url := args[0]
			if !strings.HasPrefix(url, "ws://") && !strings.HasPrefix(url, "wss://") {
				return fmt.Errorf("relay %q: give a websocket URL, ws:// or wss://", url)
			}
			if err := rtc.Validate(); err != nil {
				return err
			}
			log, err := common.logger()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(common.dataDir, 0o700); err != nil {
				return err
			}
			key, _, err := identity.LoadOrCreate(filepath.Join(common.dataDir, "key"))
			if err != nil {
				return fmt.Errorf("the node key in %s: %w", common.dataDir, err)
			}
			cfg.URL, cfg.PubKey, cfg.Logger = url, key.Public, log
			cfg.Channels = node.PeerChannels(rtc, log.With("part", "webrtc"))
			sp, err := peer.NewSuperPeer(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			for {
				err := sp.Run(ctx)
				if ctx.Err() != nil {
					fmt.Fprintln(cmd.OutOrStdout(), sp)
					return nil
				}
				if errors.Is(err, context.Canceled) {
					return nil
				}
				log.Warn("relay connection ended; connecting again", "relay", url, "err", err, "in", retry)
				select {
				case <-time.After(retry):
				case <-ctx.Done():
					fmt.Fprintln(cmd.OutOrStdout(), sp)
					return nil
				}
			}
		},
	}
	common.register(cmd.Flags())
	f := cmd.Flags()
	f.Float64Var(&cfg.Bandwidth, "bandwidth", 10, "upload bandwidth offered, in Mbit/s, as PEER_REGISTER says it")
	f.Float64Var(&cfg.Storage, "storage", 500, "storage offered, in MB, as PEER_REGISTER says it")
	f.IntVar(&cfg.MaxCached, "max-cached", 10000, "most events cached (the relay counts at most 10,000 per peer)")
	f.DurationVar(&cfg.Window, "window", 24*time.Hour, "how old a cached event may be (NIP-95: 24 h)")
	f.DurationVar(&retry, "retry", 10*time.Second, "wait before connecting again after the relay dropped the connection")
	f.StringSliceVar(&rtc.ICEServers, "ice-server", nil, "STUN or TURN server for WebRTC, stun:host:port or turn:host:port[?transport=tcp]; repeat or comma-separate for several (default none: direct host candidates only)")
	f.StringVar(&rtc.ICEUsername, "ice-username", "", "username for the TURN servers")
	f.StringVar(&rtc.ICECredential, "ice-credential", "", "credential for the TURN servers")
	f.BoolVar(&rtc.Loopback, "webrtc-loopback", false, "offer only 127.0.0.1 WebRTC candidates: for tests on this machine")
	return cmd
}
