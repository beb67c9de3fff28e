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

// dialClient is the HTTP client of a handshake whose options name none:
// http.DefaultTransport as it is now (a proxy set at start-up applies), and
// without keep-alives. A websocket's connection is taken over by the
// websocket and never reused, so keep-alives buy nothing; without them, a
// connection whose dial finishes after its handshake was given up (a relay
// that accepts and never answers) is closed instead of kept idle in the
// pool for 90 s.
func dialClient() *http.Client {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultClient
	}
	t = t.Clone()
	t.DisableKeepAlives = true
	return &http.Client{Transport: t}
}

// Dial opens a websocket to url.
func Dial(ctx context.Context, url string, opts *DialOptions) (*Conn, *http.Response, error) {
	o := DialOptions{}
	if opts != nil {
		o = *opts
	}
	if o.HTTPClient == nil {
		o.HTTPClient = dialClient()
	}
	return websocket.Dial(ctx, url, &o)
}
