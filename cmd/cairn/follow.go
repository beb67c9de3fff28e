package main

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-nostr/cairn/node"
)

func followCmd() *cobra.Command {
	var nodeURL string
	var print, archive bool
	var depth, maxUsers int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "follow NPUB",
		Short: "Find a user's feed in the Mainline DHT from the pubkey alone and import it",
		Long: `Find a user's feed from the pubkey alone (npub or 64 hex), with no relay:
the running node looks up the user's locator in the Mainline DHT (which
carries the user's signed nostr-over-bt attestation, naming their BEP-44 key),
gets the feed pointer at that key, finds the seeders of the feed's index,
fetches the index and its bundles over BitTorrent, and checks every event (its
signature, and that the user wrote it). A bundle with one bad or foreign event
refuses the whole feed; a pointer that fails its signature, names another user
or is older than one seen is refused. The events are stored in the node's
relay, where any Nostr client sees them; --print writes them to standard
output (one JSON event a line) instead. When the DHT holds no locator or
pointer for the user, a nostr-over-bt-feed fallback (kind 30078, the index's
magnet) on the node's relay names the index instead.

With --depth N it crawls the web of trust from NPUB: the user's feed, then
the feeds of everyone their newest kind 3 follows, and theirs, to degree N,
level by level, four feeds at a time, within --max-users and --timeout; every
event of every feed is checked as above, a feed that cannot be had is
reported and skipped, and everything found is stored (or printed).

With --archive, NPUB is a relay bridged to BitTorrent (cairn node
--bt-bridge): its archive pointer (the same key, salt cairn-bridge) names the
newest archive page, each page its bundles and the page before; every bundle
of every page is fetched and every event checked (signature, and that the
bundle's author wrote it). That is every event the relay stored, of any
author.

The node must run its DHT node (cairn node --bt-dht, the default); with
--public-bootstrap=false it finds only feeds in the DHT its
--bt-dht-bootstrap nodes form.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := newClient(cmd, nodeURL)
			q := url.Values{"pubkey": {args[0]}}
			if print {
				q.Set("print", "1")
			}
			what := "following"
			if depth > 0 {
				if archive {
					return fmt.Errorf("--depth crawls users' feeds, --archive reads a relay's archive: pass one of them")
				}
				q.Set("depth", strconv.Itoa(depth))
				q.Set("max_users", strconv.Itoa(maxUsers))
				q.Set("timeout", timeout.String())
				what = fmt.Sprintf("crawling the web of trust (depth %d, at most %d users, %s) from", depth, maxUsers, timeout)
			}
			if archive {
				q.Set("archive", "1")
				what = "reading the archive of"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s %s through the node's Mainline DHT…\n", what, args[0])
			var res node.FollowResult
			if err := c.call("POST", "/api/bt/follow?"+q.Encode(), nil, &res); err != nil {
				return err
			}
			for _, s := range res.Steps {
				fmt.Fprintln(cmd.ErrOrStderr(), "  "+s)
			}
			if depth > 0 {
				byDepth := make([]int, depth+1)
				for _, d := range res.Users {
					if d >= 0 && d <= depth {
						byDepth[d]++
					}
				}
				for d, k := range byDepth {
					fmt.Fprintf(cmd.ErrOrStderr(), "  degree %d: %d user(s)\n", d, k)
				}
				for u, why := range res.Failed {
					fmt.Fprintf(cmd.ErrOrStderr(), "  no feed of %.16s: %s\n", u, why)
				}
				if res.Truncated {
					fmt.Fprintf(cmd.ErrOrStderr(), "  stopped at --max-users %d: some follows were left out\n", maxUsers)
				}
				if res.Expired {
					fmt.Fprintf(cmd.ErrOrStderr(), "  stopped at --timeout %s: some feeds were not fetched\n", timeout)
				}
			}
			if print {
				for _, ev := range res.Events {
					fmt.Fprintln(cmd.OutOrStdout(), string(ev))
				}
				return nil
			}
			if depth > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "crawled from %.16s: %d user(s) reached, %d with a feed; %d event(s) stored in the node's relay\n", res.Pubkey, len(res.Users), res.Fetched, res.Stored)
				return nil
			}
			if archive {
				fmt.Fprintf(cmd.OutOrStdout(), "read the archive of %.16s: pointer seq %d, %d event(s) stored in the node's relay\n", res.Pubkey, res.Seq, res.Stored)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "followed %.16s: feed seq %d, %d event(s) stored in the node's relay\n", res.Pubkey, res.Seq, res.Stored)
			return nil
		},
	}
	registerNode(cmd.Flags(), &nodeURL)
	cmd.Flags().BoolVar(&print, "print", false, "print the verified events (JSON lines) instead of storing them")
	cmd.Flags().IntVar(&depth, "depth", 0, "crawl the web of trust: also follow whom the user follows (their newest kind 3), to this degree (2: follows of follows; at most 3)")
	cmd.Flags().IntVar(&maxUsers, "max-users", node.DefaultCrawlMax, "with --depth: take at most this many users, the first one included")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "with --depth: stop the crawl after this long, keeping what it found")
	cmd.Flags().BoolVar(&archive, "archive", false, "read the whole archive of a relay bridged to BitTorrent (cairn node --bt-bridge) instead of a user's feed")
	return cmd
}
