//go:build js

package client

import "github.com/coder/websocket"

// waitIO: under js, a connection's goroutines end only when the browser
// fires the socket's close event; waiting for that from a callback of the
// page's event loop would deadlock it, so Close does not.
const waitIO = false

// closeNow starts closing ws and returns at once: coder/websocket's js
// CloseNow is a Close that waits for the browser's close event.
func closeNow(ws *websocket.Conn) { go ws.CloseNow() }
