//go:build js

package rtc

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
)

// API makes PeerConnections; it has no settings in the browser.
type API struct{}

// NewAPI returns the browser's API.
func NewAPI() *API { return &API{} }

// Configuration is the part of RTCConfiguration cairn sets.
type Configuration struct {
	ICEServers         []ICEServer
	ICETransportPolicy ICETransportPolicy
}

// ICETransportPolicy is RTCIceTransportPolicy, numbered as pion numbers it.
type ICETransportPolicy int

// The policies: any candidate, or relay (TURN) candidates only.
const (
	ICETransportPolicyAll ICETransportPolicy = iota
	ICETransportPolicyRelay
)

// ICEServer is a STUN or TURN server (RTCIceServer).
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential any      `json:"credential,omitempty"`
}

// SDPType is a session description's type.
type SDPType int

// The session description types, numbered as pion numbers them.
const (
	SDPTypeOffer SDPType = iota + 1
	SDPTypePranswer
	SDPTypeAnswer
	SDPTypeRollback
)

var sdpTypeNames = [...]string{"", "offer", "pranswer", "answer", "rollback"}

// String is the type's name in the WebRTC API ("offer", "answer", ...).
func (t SDPType) String() string {
	if t > 0 && int(t) < len(sdpTypeNames) {
		return sdpTypeNames[t]
	}
	return "unknown"
}

func parseSDPType(s string) SDPType {
	for i, n := range sdpTypeNames {
		if i > 0 && n == s {
			return SDPType(i)
		}
	}
	return 0
}

// MarshalJSON writes the type's name.
func (t SDPType) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// UnmarshalJSON reads a type's name; any other value is an error.
func (t *SDPType) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if *t = parseSDPType(s); *t == 0 {
		return fmt.Errorf("unknown session description type %q", s)
	}
	return nil
}

// SessionDescription is an offer or an answer (RTCSessionDescription).
type SessionDescription struct {
	Type SDPType `json:"type"`
	SDP  string  `json:"sdp"`
}

// OfferOptions and AnswerOptions are accepted for pion's signatures; cairn
// passes nil.
type (
	OfferOptions  struct{}
	AnswerOptions struct{}
)

// ICECandidateInit is a candidate as signaled (RTCIceCandidateInit).
type ICECandidateInit struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex"`
	UsernameFragment *string `json:"usernameFragment"`
}

// ICECandidate is a gathered local candidate.
type ICECandidate struct{ init ICECandidateInit }

// ToJSON is the candidate as it is signaled.
func (c *ICECandidate) ToJSON() ICECandidateInit { return c.init }

// PeerConnectionState is RTCPeerConnectionState, numbered as pion numbers it.
type PeerConnectionState int

// The connection states.
const (
	PeerConnectionStateUnknown PeerConnectionState = iota
	PeerConnectionStateNew
	PeerConnectionStateConnecting
	PeerConnectionStateConnected
	PeerConnectionStateDisconnected
	PeerConnectionStateFailed
	PeerConnectionStateClosed
)

var stateNames = [...]string{"unknown", "new", "connecting", "connected", "disconnected", "failed", "closed"}

// String is the state's name in the WebRTC API.
func (s PeerConnectionState) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

func parseState(s string) PeerConnectionState {
	for i, n := range stateNames {
		if n == s {
			return PeerConnectionState(i)
		}
	}
	return PeerConnectionStateUnknown
}

// DataChannelInit is the part of RTCDataChannelInit cairn sets.
type DataChannelInit struct {
	Ordered *bool
}

// DataChannelMessage is one message: bytes, or text when IsString.
type DataChannelMessage struct {
	IsString bool
	Data     []byte
}

// handlers are the js.Funcs set as an object's on<event> properties, kept
// to be released.
type handlers struct {
	mu sync.Mutex
	v  js.Value
	fs map[string]js.Func
}

// set makes f the object's on<name> handler, releasing the one it replaces.
func (h *handlers) set(name string, f func(this js.Value, args []js.Value) any) {
	fn := js.FuncOf(f)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fs == nil {
		h.fs = map[string]js.Func{}
	}
	if old, ok := h.fs[name]; ok {
		defer old.Release()
	}
	h.fs[name] = fn
	h.v.Set("on"+name, fn)
}

// release clears and releases every handler.
func (h *handlers) release() {
	h.mu.Lock()
	fs := h.fs
	h.fs = nil
	h.mu.Unlock()
	for name, f := range fs {
		h.v.Set("on"+name, js.Null())
		f.Release()
	}
}

// catch turns a JavaScript exception thrown by a call into *err.
func catch(err *error) {
	if e := recover(); e != nil {
		if je, ok := e.(js.Error); ok {
			*err = errors.New(je.Error())
			return
		}
		*err = fmt.Errorf("%v", e)
	}
}

// await waits for the promise p; call it from a goroutine, not a callback.
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, args []js.Value) any {
		r := result{v: js.Undefined()}
		if len(args) > 0 {
			r.v = args[0]
		}
		ch <- r
		return nil
	})
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "rejected"
		if len(args) > 0 {
			msg = args[0].Call("toString").String()
		}
		ch <- result{err: errors.New(msg)}
		return nil
	})
	p.Call("then", ok, fail)
	r := <-ch
	ok.Release()
	fail.Release()
	return r.v, r.err
}

// PeerConnection is an RTCPeerConnection.
type PeerConnection struct {
	v js.Value
	h handlers
}

// NewPeerConnection makes an RTCPeerConnection.
func (*API) NewPeerConnection(cfg Configuration) (pc *PeerConnection, err error) {
	defer catch(&err)
	servers := make([]any, 0, len(cfg.ICEServers))
	for _, s := range cfg.ICEServers {
		urls := make([]any, len(s.URLs))
		for i, u := range s.URLs {
			urls[i] = u
		}
		o := map[string]any{"urls": urls}
		if s.Username != "" {
			o["username"] = s.Username
		}
		if c, ok := s.Credential.(string); ok && c != "" {
			o["credential"] = c
		}
		servers = append(servers, o)
	}
	ctor := js.Global().Get("RTCPeerConnection")
	if ctor.IsUndefined() {
		return nil, errors.New("this browser has no RTCPeerConnection (WebRTC)")
	}
	conf := map[string]any{"iceServers": servers}
	if cfg.ICETransportPolicy == ICETransportPolicyRelay {
		conf["iceTransportPolicy"] = "relay"
	}
	v := ctor.New(conf)
	return &PeerConnection{v: v, h: handlers{v: v}}, nil
}

func (pc *PeerConnection) describe(method string) (sd SessionDescription, err error) {
	defer catch(&err)
	v, err := await(pc.v.Call(method))
	if err != nil {
		return sd, err
	}
	return SessionDescription{Type: parseSDPType(v.Get("type").String()), SDP: v.Get("sdp").String()}, nil
}

// CreateOffer creates an offer.
func (pc *PeerConnection) CreateOffer(*OfferOptions) (SessionDescription, error) {
	return pc.describe("createOffer")
}

// CreateAnswer creates an answer to the remote offer.
func (pc *PeerConnection) CreateAnswer(*AnswerOptions) (SessionDescription, error) {
	return pc.describe("createAnswer")
}

func (pc *PeerConnection) setDescription(method string, sd SessionDescription) (err error) {
	defer catch(&err)
	_, err = await(pc.v.Call(method, map[string]any{"type": sd.Type.String(), "sdp": sd.SDP}))
	return err
}

// SetLocalDescription sets this side's description.
func (pc *PeerConnection) SetLocalDescription(sd SessionDescription) error {
	return pc.setDescription("setLocalDescription", sd)
}

// SetRemoteDescription sets the other side's description.
func (pc *PeerConnection) SetRemoteDescription(sd SessionDescription) error {
	return pc.setDescription("setRemoteDescription", sd)
}

func description(v js.Value) *SessionDescription {
	if v.IsNull() || v.IsUndefined() {
		return nil
	}
	return &SessionDescription{Type: parseSDPType(v.Get("type").String()), SDP: v.Get("sdp").String()}
}

// LocalDescription is this side's description, with the candidates
// gathered so far, or nil.
func (pc *PeerConnection) LocalDescription() *SessionDescription {
	return description(pc.v.Get("localDescription"))
}

// RemoteDescription is the other side's description, or nil.
func (pc *PeerConnection) RemoteDescription() *SessionDescription {
	return description(pc.v.Get("remoteDescription"))
}

// AddICECandidate adds a candidate the other side trickled.
func (pc *PeerConnection) AddICECandidate(c ICECandidateInit) (err error) {
	defer catch(&err)
	o := map[string]any{"candidate": c.Candidate}
	if c.SDPMid != nil {
		o["sdpMid"] = *c.SDPMid
	}
	if c.SDPMLineIndex != nil {
		o["sdpMLineIndex"] = int(*c.SDPMLineIndex)
	}
	if c.UsernameFragment != nil {
		o["usernameFragment"] = *c.UsernameFragment
	}
	_, err = await(pc.v.Call("addIceCandidate", o))
	return err
}

// OnICECandidate calls f with each gathered candidate, then with nil when
// gathering is complete.
func (pc *PeerConnection) OnICECandidate(f func(*ICECandidate)) {
	pc.h.set("icecandidate", func(_ js.Value, args []js.Value) any {
		c := args[0].Get("candidate")
		if c.IsNull() || c.IsUndefined() {
			go f(nil)
			return nil
		}
		init := ICECandidateInit{Candidate: c.Get("candidate").String()}
		if init.Candidate == "" { // Firefox's end-of-candidates marker; null follows
			return nil
		}
		if m := c.Get("sdpMid"); m.Type() == js.TypeString {
			s := m.String()
			init.SDPMid = &s
		}
		if i := c.Get("sdpMLineIndex"); i.Type() == js.TypeNumber {
			n := uint16(i.Int())
			init.SDPMLineIndex = &n
		}
		if u := c.Get("usernameFragment"); u.Type() == js.TypeString {
			s := u.String()
			init.UsernameFragment = &s
		}
		go f(&ICECandidate{init: init})
		return nil
	})
}

// OnConnectionStateChange calls f with each new connection state.
func (pc *PeerConnection) OnConnectionStateChange(f func(PeerConnectionState)) {
	pc.h.set("connectionstatechange", func(js.Value, []js.Value) any {
		go f(parseState(pc.v.Get("connectionState").String()))
		return nil
	})
}

// OnDataChannel calls f with each channel the other side opens.
func (pc *PeerConnection) OnDataChannel(f func(*DataChannel)) {
	pc.h.set("datachannel", func(_ js.Value, args []js.Value) any {
		go f(newDataChannel(args[0].Get("channel")))
		return nil
	})
}

// CreateDataChannel opens a channel named label.
func (pc *PeerConnection) CreateDataChannel(label string, init *DataChannelInit) (dc *DataChannel, err error) {
	defer catch(&err)
	o := map[string]any{}
	if init != nil && init.Ordered != nil {
		o["ordered"] = *init.Ordered
	}
	return newDataChannel(pc.v.Call("createDataChannel", label, o)), nil
}

// Close closes the connection and releases its handlers.
func (pc *PeerConnection) Close() (err error) {
	defer catch(&err)
	pc.v.Call("close")
	pc.h.release()
	return nil
}

// DataChannel is an RTCDataChannel; binary messages arrive as ArrayBuffers.
type DataChannel struct {
	v js.Value
	h handlers
}

func newDataChannel(v js.Value) *DataChannel {
	// ArrayBuffers are read synchronously, so messages stay in order (a
	// Blob is read asynchronously).
	v.Set("binaryType", "arraybuffer")
	return &DataChannel{v: v, h: handlers{v: v}}
}

// JSValue is the RTCDataChannel.
func (dc *DataChannel) JSValue() js.Value { return dc.v }

// Label is the channel's name.
func (dc *DataChannel) Label() string { return dc.v.Get("label").String() }

// Send queues b on the channel.
func (dc *DataChannel) Send(b []byte) (err error) {
	defer catch(&err)
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	dc.v.Call("send", a)
	return nil
}

// SendText queues s on the channel as a text message.
func (dc *DataChannel) SendText(s string) (err error) {
	defer catch(&err)
	dc.v.Call("send", s)
	return nil
}

// BufferedAmount is the number of bytes queued and not yet sent.
func (dc *DataChannel) BufferedAmount() uint64 { return uint64(dc.v.Get("bufferedAmount").Float()) }

// SetBufferedAmountLowThreshold sets the level under which
// OnBufferedAmountLow's handler is called.
func (dc *DataChannel) SetBufferedAmountLowThreshold(n uint64) {
	dc.v.Set("bufferedAmountLowThreshold", float64(n))
}

// OnBufferedAmountLow calls f when the queue falls under the threshold.
func (dc *DataChannel) OnBufferedAmountLow(f func()) {
	dc.h.set("bufferedamountlow", func(js.Value, []js.Value) any {
		go f()
		return nil
	})
}

// OnOpen calls f once when the channel opens, or at once if it is open
// already (as pion does): a channel handed over by ondatachannel may have
// opened before its handler is set, and f runs at most once whatever
// the browser dispatches.
func (dc *DataChannel) OnOpen(f func()) {
	var once sync.Once
	fire := func() { once.Do(func() { go f() }) }
	dc.h.set("open", func(js.Value, []js.Value) any {
		fire()
		return nil
	})
	if dc.v.Get("readyState").String() == "open" {
		fire()
	}
}

// OnClose calls f when the channel has closed, then releases the
// channel's handlers.
func (dc *DataChannel) OnClose(f func()) {
	dc.h.set("close", func(js.Value, []js.Value) any {
		go f()
		dc.h.release()
		return nil
	})
}

// OnMessage calls f with each message, in the order they arrived.
func (dc *DataChannel) OnMessage(f func(DataChannelMessage)) {
	dc.h.set("message", func(_ js.Value, args []js.Value) any {
		d := args[0].Get("data")
		var m DataChannelMessage
		if d.Type() == js.TypeString {
			m = DataChannelMessage{IsString: true, Data: []byte(d.String())}
		} else {
			u := js.Global().Get("Uint8Array").New(d)
			m.Data = make([]byte, u.Length())
			js.CopyBytesToGo(m.Data, u)
		}
		go f(m)
		return nil
	})
}

// Close closes the channel.
func (dc *DataChannel) Close() (err error) {
	defer catch(&err)
	dc.v.Call("close")
	return nil
}
