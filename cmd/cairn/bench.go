package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cairn-nostr/cairn/bench"
)

func benchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure this machine and build (see docs/BENCHMARKS.md)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(benchRelayCmd(), benchTransferCmd(), benchBlossomCmd())
	return cmd
}

func benchTransferCmd() *cobra.Command {
	cfg := bench.DefaultTransferConfig()
	var quick, asJSON bool
	var cpuProfile string
	var size int64
	cmd := &cobra.Command{
		Use:   "transfer",
		Short: "Benchmark node-to-node downloads on loopback against a plain HTTP GET",
		Long: `Benchmark node-to-node downloads on loopback (127.0.0.1) in one process:
seeders and a fetching node, each a real node (relay, stores, HTTP server,
libp2p over loopback TCP; no DHT, no WebRTC). The seeders share the same
file of random bytes; the fetching node is told what they published (as a
shared relay would tell it) and gets the file as ` + "`cairn get -o`" + ` does,
timed until the output file is written and checked.

The ceiling, measured just before and after every get, is an HTTP GET of the
same file from a seeder's /<sha256> through SHA-256. Every result is a ratio
of it. Progress goes to standard error; the report to standard output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			run := cfg
			if quick {
				run = bench.QuickTransferConfig()
				run.Dir, run.ChunkSize, run.GetProfiles = cfg.Dir, cfg.ChunkSize, cfg.GetProfiles
			}
			if size > 0 {
				run.Size = size << 20
			}
			if cmd.Flags().Changed("rounds") {
				run.Rounds = cfg.Rounds
			}
			if cmd.Flags().Changed("seeders") {
				run.Seeders = cfg.Seeders
			}
			run.Progress = cmd.ErrOrStderr()
			return runBench(cmd, cpuProfile, asJSON, func(ctx context.Context) (*bench.Report, error) { return bench.RunTransfer(ctx, run) })
		},
	}
	f := cmd.Flags()
	f.Int64Var(&size, "size", 0, "file size in MiB (default 256, or 64 with --quick)")
	f.Int64Var(&cfg.ChunkSize, "chunk-size", 0, "target chunk size in bytes (default 5 MiB)")
	f.IntSliceVar(&cfg.Seeders, "seeders", cfg.Seeders, "seeder counts to measure")
	f.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "gets per seeder count; the best ratio is reported")
	f.BoolVar(&quick, "quick", false, "64 MiB, one round: a smoke run for CI")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.StringVar(&cfg.Dir, "dir", "", "directory for the nodes and files (default: a temporary directory, removed afterwards)")
	f.StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run (seeders and fetcher) to this file")
	f.StringVar(&cfg.GetProfiles, "get-profiles", "", "write a CPU profile of each get alone (seeders and fetcher, from POST /api/get to the output written) into this directory, as get<seeders>-<round>.prof; not with --cpu-profile")
	return cmd
}

func benchBlossomCmd() *cobra.Command {
	cfg := bench.DefaultBlossomConfig()
	var quick, asJSON bool
	var cpuProfile string
	var size int64
	cmd := &cobra.Command{
		Use:   "blossom",
		Short: "Benchmark Blossom uploads, and how soon a second node serves them",
		Long: `Benchmark Blossom uploads on loopback (127.0.0.1) in one process: node A
takes PUT /upload of a blob of random bytes (streamed from a file, with a
signed kind 24242 token), which it hashes, cuts into chunks and shares
before answering 201. Node B, bootstrapped to A and holding nothing, then
resolves the descriptor's nevent and GETs the blob by sha256 through the
swarm.

Ceilings, measured in the same run: the same bytes copied to a file on the
same disk through SHA-256 and fsync'd, as the upload's chunks are (around
every upload), and an HTTP GET of the blob
from A through SHA-256. Progress goes to standard error; the report to
standard output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			run := cfg
			if quick {
				run = bench.QuickBlossomConfig()
				run.Dir = cfg.Dir
			}
			if size > 0 {
				run.Size = size << 20
			}
			if cmd.Flags().Changed("rounds") {
				run.Rounds = cfg.Rounds
			}
			run.Progress = cmd.ErrOrStderr()
			return runBench(cmd, cpuProfile, asJSON, func(ctx context.Context) (*bench.Report, error) { return bench.RunBlossom(ctx, run) })
		},
	}
	f := cmd.Flags()
	f.Int64Var(&size, "size", 0, "blob size in MiB (default 256, or 64 with --quick)")
	f.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "uploads measured, each of fresh bytes; the best ratio is reported")
	f.BoolVar(&quick, "quick", false, "64 MiB, one round: a smoke run")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.StringVar(&cfg.Dir, "dir", "", "directory for the nodes and files (default: a temporary directory, removed afterwards)")
	f.StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run to this file")
	return cmd
}

func benchRelayCmd() *cobra.Command {
	cfg := bench.DefaultConfig()
	var quick, asJSON bool
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Benchmark the relay on loopback: ingest, queries, fan-out",
		Long: `Benchmark the relay on loopback (127.0.0.1) in one run:

  ceilings  signature checks/s on every core, JSON decodes/s, durable store
            writes/s with no relay, a plain websocket server moving the same bytes
  ingest    signed events/s acknowledged with OK true (durable), 1 and 64 connections
  queries   REQ to EOSE latency on a store of --events events: latest 500 by one
            author, kind + #e tag; the same queries on the store directly
  fan-out   one event to 1,000 live subscriptions, until the last delivery

Every result is reported as a ratio of a ceiling measured in the same run, so
that figures from a busy machine can be compared. Progress goes to standard
error; the report to standard output.

Filling a 1,000,000-event store takes minutes: with --dir the store is kept
and reused by the next run of the same size and engine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			run := cfg
			if quick {
				run = bench.QuickConfig()
				run.Engine, run.Dir = cfg.Engine, cfg.Dir
				if cmd.Flags().Changed("events") {
					run.Events = cfg.Events
				}
				if cmd.Flags().Changed("ingest") {
					run.Ingest = cfg.Ingest
				}
			}
			run.Progress = cmd.ErrOrStderr()
			return runBench(cmd, cpuProfile, asJSON, func(ctx context.Context) (*bench.Report, error) { return bench.RunRelay(ctx, run) })
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Events, "events", cfg.Events, "events in the query store")
	f.IntVar(&cfg.Ingest, "ingest", cfg.Ingest, "events published per ingest run")
	f.BoolVar(&quick, "quick", false, "small sizes, for a smoke run in CI (--events and --ingest still apply)")
	f.StringVar(&cfg.Engine, "engine", "", "store engine: bbolt, pebble or lmdb (default: the store's default)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.StringVar(&cfg.Dir, "dir", "", "directory for the on-disk stores; the query store is kept there and reused (default: a temporary directory, removed afterwards)")
	f.StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run (relay and clients) to this file")
	return cmd
}

// runBench runs a benchmark until it ends or the user interrupts it,
// profiling the CPU when asked, and prints its report as a table or JSON.
func runBench(cmd *cobra.Command, cpuProfile string, asJSON bool, run func(context.Context) (*bench.Report, error)) error {
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return fmt.Errorf("creating the CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("starting the CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return rep.WriteJSON(cmd.OutOrStdout())
	}
	return rep.WriteTable(cmd.OutOrStdout())
}
