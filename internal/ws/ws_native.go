//go:build !js

package ws

import "github.com/coder/websocket"

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

// Dial opens a websocket to url.
var Dial = websocket.Dial
