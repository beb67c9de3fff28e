package main

import (
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
	cmd.AddCommand(benchRelayCmd())
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
			rep, err := bench.RunRelay(ctx, run)
			if err != nil {
				return err
			}
			if asJSON {
				return rep.WriteJSON(cmd.OutOrStdout())
			}
			return rep.WriteTable(cmd.OutOrStdout())
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
