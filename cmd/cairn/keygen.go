package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cairn-nostr/cairn/identity"
	"github.com/cairn-nostr/cairn/node"
)

func keygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create a new Nostr key and save it (mode 0600)",
		Long: `Create a new Nostr key pair, save the secret to a file only you can read,
and print the public key (npub) and the secret key (nsec).

The nsec is the whole of your identity: anyone who has it can post as you.
Keep the file private and back it up. keygen never overwrites a key file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k := identity.Generate()
			if err := k.Save(out); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "key saved to %s\n", out)
			fmt.Fprintf(w, "npub: %s\n", k.Npub())
			fmt.Fprintf(w, "nsec: %s\n", k.Nsec())
			fmt.Fprintf(w, "pubkey (hex): %s\n", k.Public)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", filepath.Join(node.DefaultDataDir(), "key"), "file to write the key to")
	return cmd
}
