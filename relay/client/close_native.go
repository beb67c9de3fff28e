//go:build !js

package client

import websocket "github.com/cairn-nostr/cairn/internal/ws"

// waitIO: Close waits for the connection goroutines (they end as soon as
// the socket is closed).
const waitIO = true

// closeNow closes ws at once, without the close handshake.
func closeNow(ws *websocket.Conn) { ws.CloseNow() }
