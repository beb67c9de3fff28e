// Package ws is the websocket the relay client dials: coder/websocket
// natively (aliases), and in the browser build (GOOS=js) a thin layer of
// the same names over the page's own WebSocket. coder/websocket's js build
// does the same job but imports net/http, which links Go's TLS and X.509
// code into the wasm core.
//
// Only what package relay/client uses is here: Dial, Conn's Read, Write,
// SetReadLimit, Close and CloseNow, and the text message type. As in
// coder/websocket, a Read or Write whose context ends closes the
// connection.
package ws
