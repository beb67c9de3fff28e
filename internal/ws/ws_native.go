//go:build !js

package ws

import (
	"context"
	"net/http"

	"github.com/coder/websocket"
)

// The names are coder/websocket's.
type (
	Conn        = websocket.Conn
	MessageType = websocket.MessageType
	StatusCode  = websocket.StatusCode
	DialOptions = websocket.DialOptions
)

const (
	MessageText         = websocket.MessageText
	MessageBinary       = websocket.MessageBinary
	StatusNormalClosure = websocket.StatusNormalClosure
)

// dialClient is the HTTP client of every handshake whose options name
// none. A websocket's connection is taken over by the websocket and never
// reused, so keep-alives buy nothing; without them, a connection whose
// dial finishes after its handshake was given up (a relay that accepts and
// never answers) is closed instead of kept idle in the pool for 90 s.
var dialClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableKeepAlives = true
	return &http.Client{Transport: t}
}()

// Dial opens a websocket to url.
func Dial(ctx context.Context, url string, opts *DialOptions) (*Conn, *http.Response, error) {
	o := DialOptions{}
	if opts != nil {
		o = *opts
	}
	if o.HTTPClient == nil {
		o.HTTPClient = dialClient
	}
	return websocket.Dial(ctx, url, &o)
}
