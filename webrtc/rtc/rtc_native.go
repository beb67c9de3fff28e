//go:build !js

package rtc

import "github.com/pion/webrtc/v4"

// The types and constants are pion's.
type (
	API                 = webrtc.API
	Configuration       = webrtc.Configuration
	ICEServer           = webrtc.ICEServer
	ICETransportPolicy  = webrtc.ICETransportPolicy
	PeerConnection      = webrtc.PeerConnection
	PeerConnectionState = webrtc.PeerConnectionState
	SessionDescription  = webrtc.SessionDescription
	SDPType             = webrtc.SDPType
	ICECandidate        = webrtc.ICECandidate
	ICECandidateInit    = webrtc.ICECandidateInit
	DataChannel         = webrtc.DataChannel
	DataChannelInit     = webrtc.DataChannelInit
	DataChannelMessage  = webrtc.DataChannelMessage
)

const (
	ICETransportPolicyAll        = webrtc.ICETransportPolicyAll
	ICETransportPolicyRelay      = webrtc.ICETransportPolicyRelay
	SDPTypeOffer                 = webrtc.SDPTypeOffer
	SDPTypeAnswer                = webrtc.SDPTypeAnswer
	PeerConnectionStateFailed    = webrtc.PeerConnectionStateFailed
	PeerConnectionStateClosed    = webrtc.PeerConnectionStateClosed
	PeerConnectionStateNew       = webrtc.PeerConnectionStateNew
	PeerConnectionStateConnected = webrtc.PeerConnectionStateConnected
)
