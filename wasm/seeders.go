//go:build js && wasm

package main

import (
	"net/url"
	"syscall/js"
)

// nodeSeeders asks the node behind the relay (GET /api/seeders/{root} on
// the relay's host) which pubkeys it heard announcing root. Kind 20002 is
// ephemeral: announcements sent before this tab subscribed reach it only
// this way. Any failure (another kind of relay, an older node) gives none.
func (c *core) nodeSeeders(root string) []string {
	base := httpBase(c.relayURL)
	if base == "" {
		return nil
	}
	res, err := awaitPromise(js.Global().Call("fetch", base+"/api/seeders/"+root))
	if err != nil || !res.Get("ok").Bool() {
		return nil
	}
	body, err := awaitPromise(res.Call("json"))
	if err != nil {
		return nil
	}
	list := body.Get("seeders")
	if list.Type() != js.TypeObject {
		return nil
	}
	var out []string
	for i := 0; i < list.Length(); i++ {
		if pk := list.Index(i).Get("pubkey"); pk.Type() == js.TypeString {
			out = append(out, pk.String())
		}
	}
	return out
}

// httpBase turns a relay's ws:// or wss:// URL into the http:// or https://
// base URL of the same host, or "" for anything else.
func httpBase(relay string) string {
	u, err := url.Parse(relay)
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return ""
	}
	return u.Scheme + "://" + u.Host
}
