package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cairn-nostr/cairn/node"
)

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cairn",
		Short: "cairn: a peer-to-peer layer for Nostr",
		Long: `cairn turns this machine into a node of a peer-to-peer layer for Nostr:
a Nostr relay with durable embedded storage, a web app on the same port, and
the tools to manage them.

Every flag can also be set with an environment variable (CAIRN_ and the flag's
name in capitals, dashes as underscores: --max-subscriptions is
CAIRN_MAX_SUBSCRIPTIONS) or in a JSON config file whose keys are the flag
names ({"listen": "0.0.0.0:7447", "auth": "writes"}). A flag on the command
line wins over the environment, which wins over the file.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(nodeCmd(), keygenCmd(), versionCmd(), syncCmd(), benchCmd(),
		shareCmd(), getCmd(), followCmd(), resolveCmd(), lsCmd(), pinCmd(true), pinCmd(false),
		roomCmd(), creditsCmd(), superpeerCmd())
	return root
}

// commonFlags are the flags every command that touches the data dir takes.
type commonFlags struct {
	dataDir   string
	config    string
	logLevel  string
	logFormat string
}

func (c *commonFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.dataDir, "data-dir", node.DefaultDataDir(), "directory for events, media chunks and the node key")
	fs.StringVar(&c.config, "config", "", "JSON config file with flag names as keys (default: DATA_DIR/config.json if it exists)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
}

func (c *commonFlags) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", c.logFormat)
}

// envName is the environment variable of a flag.
func envName(flag string) string {
	return "CAIRN_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyLayers fills every flag not given on the command line from the
// environment, then from the config file.
func applyLayers(flags *pflag.FlagSet, c *commonFlags) error {
	var envErr error
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed || envErr != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := flags.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	path, explicit := c.config, c.config != ""
	if !explicit {
		path = filepath.Join(c.dataDir, "config.json")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	var vals map[string]any
	if err := json.Unmarshal(b, &vals); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := flags.Lookup(k)
		if f == nil || k == "config" {
			return fmt.Errorf("config file %s: unknown setting %q (settings are the flag names of this command; see --help)", path, k)
		}
		if f.Changed {
			continue
		}
		v := fmt.Sprint(vals[k])
		if list, ok := vals[k].([]any); ok { // list flags: ["a", "b"]
			parts := make([]string, len(list))
			for i, x := range list {
				parts[i] = fmt.Sprint(x)
			}
			v = strings.Join(parts, ",")
		}
		if err := flags.Set(k, v); err != nil {
			return fmt.Errorf("config file %s: %s: %w", path, k, err)
		}
	}
	return nil
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "cairn", version)
		},
	}
}
