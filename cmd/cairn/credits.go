package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-nostr/cairn/credit"
	"github.com/cairn-nostr/cairn/credit/cold"
	"github.com/cairn-nostr/cairn/node"
)

func creditsCmd() *cobra.Command {
	var nodeURL string
	cmd := &cobra.Command{
		Use:   "credits",
		Short: "Show the running node's credit: balance, ratio, receipts",
		Long: `Show the running node's credit ledger: the bytes it uploaded (each backed by a
receipt its receiver signed) and downloaded, its balance (the 100 MiB welcome
grant plus uploads minus downloads), its ratio, and the receipts it accepted,
refused and sent; the peers' reputation with it (verified bytes each served
it, strikes for bad chunks, custody proofs: what orders peers in its
downloads); cold storage: the chunks it holds for other nodes and, with
--cold-assign, the assignments it gave and how their holders answered the
custody challenges.

  cairn credits log        the newest ledger entries
  cairn credits verify     check the ledger file: hash chain, head, receipts
  cairn credits proof      export the node's balance proof (its receipts)
  cairn credits check F    check a balance proof on its own, offline`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st node.CreditStatus
			if err := newClient(cmd, nodeURL).call("GET", "/api/credits", nil, &st); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "balance   %s\n", signedBytes(st.Balance))
			fmt.Fprintf(w, "uploaded  %s\ndownloaded %s\n", formatBytes(float64(st.Up)), formatBytes(float64(st.Down)))
			if st.Down > 0 {
				fmt.Fprintf(w, "ratio     %.2f\n", st.Ratio)
			} else {
				fmt.Fprintln(w, "ratio     - (nothing downloaded)")
			}
			fmt.Fprintf(w, "entries   %d (head %.16s)\n", st.Entries, st.Head)
			fmt.Fprintf(w, "receipts  %d accepted, %d refused, %d sent\n", st.Received, st.Refused, st.Sent)
			if st.Refusal != "" {
				fmt.Fprintf(w, "last refusal: %s\n", st.Refusal)
			}
			if st.Reset != "" {
				fmt.Fprintf(w, "ledger reset at start: %s\n", st.Reset)
			}
			if g := st.Gate; g != nil {
				fmt.Fprintf(w, "gate      grant %s, debtors served at %s/s: %d requests throttled, %d refused\n",
					formatBytes(float64(g.Grant)), formatBytes(float64(g.DebtorRate)), g.Throttled, g.Refused)
				if len(g.Peers) > 0 {
					tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "PEER\tBALANCE\tSERVED\tRECEIVED\tTHROTTLED\tREFUSED")
					for _, p := range g.Peers {
						fmt.Fprintf(tw, "%.20s\t%s\t%s\t%s\t%d\t%d\n", p.Peer, signedBytes(p.Balance), formatBytes(float64(p.Served)), formatBytes(float64(p.Received)), p.Throttled, p.Refused)
					}
					if err := tw.Flush(); err != nil {
						return err
					}
				}
			} else {
				fmt.Fprintln(w, "gate      off: every peer is served alike")
			}
			if err := printReputation(w, st.Reputation, st.ReputationReset); err != nil {
				return err
			}
			if st.Cold != nil {
				return printCold(w, st.Cold)
			}
			return nil
		},
	}
	registerNode(cmd.PersistentFlags(), &nodeURL)
	cmd.AddCommand(creditsLogCmd(&nodeURL), creditsVerifyCmd(&nodeURL), creditsProofCmd(&nodeURL), creditsCheckCmd())
	return cmd
}

// printReputation prints the peers by reputation, the best first.
func printReputation(w io.Writer, ps []node.PeerReputation, reset string) error {
	if reset != "" {
		fmt.Fprintf(w, "reputation reset at start: %s\n", reset)
	}
	if len(ps) == 0 {
		fmt.Fprintln(w, "reputation no peer served this node yet")
		return nil
	}
	fmt.Fprintln(w, "reputation (what each peer did for this node, halved every 7 days; the higher score is asked first)")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tSCORE\tSERVED\tSTRIKES\tCUSTODY PASSED\tCUSTODY FAILED")
	for _, p := range ps {
		fmt.Fprintf(tw, "%.20s\t%.2f\t%s\t%.1f\t%.1f\t%.1f\n", p.Peer, p.Score, formatBytes(p.Bytes), p.Strikes, p.CustodyPassed, p.CustodyFailed)
	}
	return tw.Flush()
}

// printCold prints cold storage: what the node holds for others, and what
// it gave (by holder).
func printCold(w io.Writer, c *node.ColdStatus) error {
	if c.Hold {
		fmt.Fprintf(w, "cold      holding %d chunks for others (at most %d)\n", len(c.Held), cold.MaxAssignments)
	} else {
		fmt.Fprintln(w, "cold      holding nothing for others (--cold-hold=false)")
	}
	if !c.Assign {
		fmt.Fprintln(w, "          assigning off (--cold-assign hands out the chunks of unpopular files)")
	} else {
		held := 0
		for _, a := range c.Given {
			if a.State == cold.Held {
				held++
			}
		}
		fmt.Fprintf(w, "          gave %d chunks (%d held, %d offered); challenges %d sent, %d proved, %d failed\n",
			len(c.Given), held, len(c.Given)-held, c.Challenged, c.Proved, c.Failed)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if len(c.Holders) > 0 {
		fmt.Fprintln(tw, "HOLDER\tELIGIBLE\tHELD\tPASSED\tFAILED\tPREMIUM\tBENCHED UNTIL")
		for _, h := range c.Holders {
			bench := "-"
			if !h.Benched.IsZero() {
				bench = h.Benched.UTC().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%.20s\t%v\t%d\t%d\t%d\t%d\t%s\n", h.Holder, h.Eligible, h.Held, h.Passed, h.Failed, h.Premium, bench)
		}
	}
	if len(c.Held) > 0 {
		fmt.Fprintln(tw, "HELD FOR\tCHUNK\tROOT\tUNTIL")
		for _, h := range c.Held {
			fmt.Fprintf(tw, "%.20s\t%.16s\t%.16s\t%s\n", h.Assigner, h.Chunk, h.Root, h.Expires.UTC().Format(time.DateTime))
		}
	}
	return tw.Flush()
}

// signedBytes formats a balance, which may be negative.
func signedBytes(n int64) string {
	if n < 0 {
		return "-" + formatBytes(float64(-n))
	}
	return formatBytes(float64(n))
}

func creditsLogCmd(nodeURL *string) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "log",
		Short: "List the newest entries of the node's credit ledger",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out node.CreditEntries
			if err := newClient(cmd, *nodeURL).call("GET", fmt.Sprintf("/api/credits/entries?limit=%d", limit), nil, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tDIRECTION\tBYTES\tPEER\tCHUNK")
			for _, e := range out.Entries {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%.16s\t%.16s\n", time.Unix(e.Timestamp, 0).UTC().Format(time.DateTime), e.Direction, e.Bytes, e.Peer, e.Chunk)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d of %d entries\n", len(out.Entries), out.Total)
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many entries, newest first (1 to 10000)")
	return cmd
}

func creditsVerifyCmd(nodeURL *string) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check the node's ledger file: its hash chain, its head, and a signed receipt behind every credit",
		Long: `Ask the running node to read its ledger file again (DATA_DIR/ledger.jsonl) and
check it: every entry's hash follows from the ones before it (a changed,
removed or moved entry breaks it), the last hash is the one the node holds
(a truncated file), and every credit carries a validly signed receipt for its
peer, chunk and bytes. Exits with an error when the ledger does not verify.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ck node.CreditCheck
			if err := newClient(cmd, *nodeURL).call("GET", "/api/credits/verify", nil, &ck); err != nil {
				return err
			}
			if !ck.OK {
				if ck.BadEntry >= 0 {
					return fmt.Errorf("the ledger does not verify at entry %d of %d: %s", ck.BadEntry, ck.Entries, ck.Error)
				}
				return fmt.Errorf("the ledger does not verify: %s", ck.Error)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ledger ok: %d entries, head %s\n", ck.Entries, ck.Head)
			return nil
		},
	}
}

func creditsProofCmd(nodeURL *string) *cobra.Command {
	var out string
	var limit int
	cmd := &cobra.Command{
		Use:   "proof",
		Short: "Export the node's balance proof: the receipts behind its newest credits, as JSON",
		Long: `Export the running node's balance proof: {"prover": <its pubkey>, "receipts":
[<kind 7772 events>]}, the receipts its receivers signed for the chunks it
uploaded, newest first. Anyone can check it with cairn credits check.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var p node.CreditProof
			if err := newClient(cmd, *nodeURL).call("GET", fmt.Sprintf("/api/credits/proof?limit=%d", limit), nil, &p); err != nil {
				return err
			}
			b, _ := json.MarshalIndent(p, "", "  ")
			b = append(b, '\n')
			if out == "" || out == "-" {
				_, err := cmd.OutOrStdout().Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d receipts written to %s\n", len(p.Receipts), out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the proof to this file (default: standard output)")
	cmd.Flags().IntVar(&limit, "limit", 1000, "how many receipts at most, newest first (1 to 100000)")
	return cmd
}

func creditsCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Check a balance proof on its own, offline (- reads standard input)",
		Long: `Check a balance proof (as cairn credits proof writes it) without any node:
every receipt must be validly signed, name the prover as seeder, not be
signed by the prover itself and count once per receiver and chunk; no one
signer vouches for more than the 100 MiB welcome grant (keys made to sign
receipts for oneself add at most their grants). Prints the credit the proof
shows and why any receipt did not count.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			var p node.CreditProof
			if err := json.NewDecoder(io.LimitReader(r, 256<<20)).Decode(&p); err != nil {
				return fmt.Errorf("%s is not a balance proof (JSON with prover and receipts): %w", args[0], err)
			}
			if len(p.Prover) != 64 {
				return errors.New("the proof names no prover (a 64-hex-digit pubkey)")
			}
			for i, ev := range p.Receipts {
				if ev == nil {
					return fmt.Errorf("receipt %d is null", i)
				}
			}
			res := credit.VerifyProof(p.Prover, p.Receipts)
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "prover    %s\n", p.Prover)
			fmt.Fprintf(w, "credit    %s (%d bytes) from %d receipts by %d signers\n", formatBytes(float64(res.Credit)), res.Credit, res.Counted, len(res.BySigner))
			ids := make([]string, 0, len(res.Refused))
			for id := range res.Refused {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				fmt.Fprintf(w, "refused   %.16s: %v\n", id, res.Refused[id])
			}
			return nil
		},
	}
}
