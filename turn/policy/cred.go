package policy

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API's MAC; TURN itself still uses MD5 keys
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MinSecret is the fewest bytes a credential secret may have.
const MinSecret = 16

// MaxUser is the longest user part of a username.
const MaxUser = 128

// Credential is what a tab passes to RTCPeerConnection as one ICE server's
// username and credential.
type Credential struct {
	Username string
	Password string
	Expires  time.Time
}

var (
	// ErrExpired: the credential's expiry has passed.
	ErrExpired = errors.New("turn credential expired: fetch new ones from GET /api/ice")
	// ErrForged: the password is not the node's MAC of the username.
	ErrForged = errors.New("turn credential not issued by this node (wrong password)")
)

// Mint issues a credential for user, valid until expires.
func Mint(secret []byte, user string, expires time.Time) (Credential, error) {
	if len(secret) < MinSecret {
		return Credential{}, fmt.Errorf("turn secret has %d bytes, want at least %d", len(secret), MinSecret)
	}
	if err := checkUser(user); err != nil {
		return Credential{}, err
	}
	name := strconv.FormatInt(expires.Unix(), 10) + ":" + user
	return Credential{Username: name, Password: Password(secret, name), Expires: time.Unix(expires.Unix(), 0)}, nil
}

// Password is base64(HMAC-SHA1(secret, username)), the TURN REST API's
// password of username.
func Password(secret []byte, username string) string {
	m := hmac.New(sha1.New, secret)
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func checkUser(user string) error {
	switch {
	case user == "":
		return errors.New("turn user is empty")
	case len(user) > MaxUser:
		return fmt.Errorf("turn user has %d bytes, at most %d", len(user), MaxUser)
	case strings.ContainsAny(user, ":\x00\r\n"):
		return errors.New("turn user must not contain ':' or control characters")
	}
	return nil
}

// Parse splits a username into its expiry and user, refusing what Mint
// would not have made.
func Parse(username string) (expires time.Time, user string, err error) {
	ts, user, ok := strings.Cut(username, ":")
	if !ok {
		return time.Time{}, "", fmt.Errorf("turn username %q: want <expiry-unix>:<user>", short(username))
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 || ts[0] == '+' || ts[0] == '0' {
		return time.Time{}, "", fmt.Errorf("turn username %q: the expiry is not a unix time", short(username))
	}
	if err := checkUser(user); err != nil {
		return time.Time{}, "", err
	}
	return time.Unix(sec, 0), user, nil
}

// Check verifies that username is well formed and unexpired at now, and
// returns its user and the password the client must have used (TURN
// proves knowledge of it by the message integrity, which the edge checks
// with the key made from it). A forged username (one the node never
// minted) is caught there: its password is the node's MAC, which the
// client does not know.
func Check(secret []byte, username string, now time.Time) (user, password string, err error) {
	expires, user, err := Parse(username)
	if err != nil {
		return "", "", err
	}
	if !now.Before(expires) {
		return "", "", fmt.Errorf("%w (at %s)", ErrExpired, expires.UTC().Format(time.RFC3339))
	}
	return user, Password(secret, username), nil
}

// Verify checks a username and password pair directly (for callers that
// see the password, such as tests and an HTTP check).
func Verify(secret []byte, username, password string, now time.Time) (string, error) {
	user, want, err := Check(secret, username, now)
	if err != nil {
		return "", err
	}
	if !hmac.Equal([]byte(want), []byte(password)) {
		return "", ErrForged
	}
	return user, nil
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
