//go:build js

package client

import websocket "github.com/cairn-nostr/cairn/internal/ws"

// waitIO: under js, a connection's goroutines end only when the browser
// fires the socket's close event; waiting for that from a callback of the
// page's event loop would deadlock it, so Close does not.
const waitIO = false

// closeNow starts closing ws and returns at once (package ws's js CloseNow
// does not wait for the browser's close event either).
func closeNow(ws *websocket.Conn) { go ws.CloseNow() }
