package main

import (
	"strings"
	"testing"
)

func TestParseProxy(t *testing.T) {
	for _, ok := range []string{"socks5://127.0.0.1:9050", "socks5h://tor:9050", "socks5://u:p@[::1]:1080"} {
		if _, err := parseProxy(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"127.0.0.1:9050", "http://127.0.0.1:8080", "socks4://h:1", "socks5://h", "socks5://:1080", "socks5://h:1/x", "::"} {
		if _, err := parseProxy(bad); err == nil || !strings.Contains(err.Error(), "socks5://host:port") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
