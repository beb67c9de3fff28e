package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/spf13/pflag"
)

// proxyHelp is --proxy's help: what goes through the proxy and what does
// not (docs/ARCHITECTURE.md, "Proxy").
const proxyHelp = "SOCKS5 proxy for the relay connections this process opens (websockets to other relays: resolving nevents, sync), e.g. socks5://127.0.0.1:9050 for Tor; host names are resolved by the proxy. libp2p, WebRTC, TURN and DNS bootstrap traffic is NOT proxied"

func registerProxy(fs *pflag.FlagSet, p *string) { fs.StringVar(p, "proxy", "", proxyHelp) }

// useProxy sends the process's outgoing HTTP and websocket connections
// (http.DefaultTransport, which the relay client dials with) through the
// SOCKS5 proxy raw names; "" leaves them direct.
func useProxy(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := parseProxy(raw)
	if err != nil {
		return err
	}
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return errors.New("the default HTTP transport was replaced: cannot set a proxy")
	}
	t.Proxy = http.ProxyURL(u)
	return nil
}

func parseProxy(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: want socks5://host:port", raw)
	}
	if u.Scheme != "socks5" && u.Scheme != "socks5h" {
		return nil, fmt.Errorf("%q: only SOCKS5 proxies are supported: want socks5://host:port", raw)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || port == "" || u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("%q: want socks5://host:port (optionally socks5://user:password@host:port)", raw)
	}
	return u, nil
}
