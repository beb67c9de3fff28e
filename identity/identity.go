// Package identity holds a user's Nostr key: generating it, storing it in a
// file only its owner can read, and showing it as npub/nsec (NIP-19).
//
// The Nostr secret key is the root of every other key a node uses; keys for
// other schemes are derived from it, never the raw secret reused.
package identity

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nbd-wtf/go-nostr"
	"github.com/nbd-wtf/go-nostr/nip19"
)

// Key is a Nostr key pair, hex encoded as go-nostr expects.
type Key struct {
	Secret string // 64 hex
	Public string // 64 hex, x-only
}

// Generate makes a new random key.
func Generate() Key {
	sk := nostr.GeneratePrivateKey()
	pk, _ := nostr.GetPublicKey(sk)
	return Key{Secret: sk, Public: pk}
}

// FromSecret builds a key from a hex or nsec secret.
func FromSecret(s string) (Key, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "nsec1") {
		_, v, err := nip19.Decode(s)
		if err != nil {
			return Key{}, fmt.Errorf("decoding nsec: %w", err)
		}
		s = v.(string)
	}
	if len(s) != 64 {
		return Key{}, errors.New("a secret key is 64 hex characters or an nsec1... string")
	}
	pk, err := nostr.GetPublicKey(s)
	if err != nil {
		return Key{}, fmt.Errorf("invalid secret key: %w", err)
	}
	return Key{Secret: s, Public: pk}, nil
}

// Npub is the public key in NIP-19 form.
func (k Key) Npub() string { s, _ := nip19.EncodePublicKey(k.Public); return s }

// Nsec is the secret key in NIP-19 form.
func (k Key) Nsec() string { s, _ := nip19.EncodePrivateKey(k.Secret); return s }

// Save writes the key to path as an nsec line, readable only by its owner.
// It refuses to overwrite an existing file.
func (k Key) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists: refusing to overwrite a key (move it away first)", path)
	}
	if err != nil {
		return fmt.Errorf("writing key: %w", err)
	}
	if _, err := f.WriteString(k.Nsec() + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("writing key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing key: %w", err)
	}
	return f.Close()
}

// Load reads a key file written by Save. It refuses a file others can read.
func Load(path string) (Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Key{}, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return Key{}, fmt.Errorf("%s is readable by others (mode %o): run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, err
	}
	k, err := FromSecret(string(b))
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreate loads the key at path, creating one if the file does not exist.
func LoadOrCreate(path string) (k Key, created bool, err error) {
	k, err = Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		k = Generate()
		return k, true, k.Save(path)
	}
	return k, false, err
}
