package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cairn-nostr/cairn/node"
)

// client is the thin HTTP client of a running node that share, get, ls and
// pin are: the node does the work, on its own machine.
type client struct {
	base string
	http *http.Client
}

// registerNode adds --node, which CAIRN_NODE also sets.
func registerNode(fs *pflag.FlagSet, url *string) {
	fs.StringVar(url, "node", "http://"+node.DefaultListen, "URL of the running node to use (or CAIRN_NODE)")
}

func newClient(cmd *cobra.Command, url string) *client {
	if !cmd.Flags().Changed("node") {
		if v, ok := os.LookupEnv(envName("node")); ok && v != "" {
			url = v
		}
	}
	return &client{base: strings.TrimSuffix(url, "/"), http: &http.Client{Timeout: 10 * time.Minute}}
}

// call sends a JSON request (GET when body is nil) and decodes the answer
// into out; an error answer becomes an error carrying its message.
func (c *client) call(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("no node answers at %s (start one with `cairn node`, or pass --node): %w", c.base, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
	}
	return nil
}
