//go:build !js

package client

import "github.com/coder/websocket"

// waitIO: Close waits for the connection goroutines (they end as soon as
// the socket is closed).
const waitIO = true

// closeNow closes ws at once, without the close handshake.
func closeNow(ws *websocket.Conn) { ws.CloseNow() }
