// Package blossom is the pure part of cairn's Blossom server (the BUD
// specs: blobs addressed by sha256, writes authorized by a signed kind
// 24242 event): the authorization token's checks, the upload policy, the
// owners of each blob, and the blob descriptor. It does no I/O and reads
// no clock; the HTTP edge (node/blossom.go) streams the bytes, turns an
// upload into a swarm share and writes the records to disk.
//
// Every refusal is a *Refusal carrying the HTTP status the BUDs name and a
// reason for the X-Reason header:
//
//	ev, err := blossom.ParseHeader(r.Header.Get("Authorization"))
//	auth, err := blossom.CheckAuth(ev, blossom.Request{Verb: blossom.VerbUpload, SHA256: sha, Host: host}, now)
//	err = policy.CheckUpload(blossom.Upload{PubKey: auth.PubKey, Size: n, Type: t, Used: recs.Used(auth.PubKey)})
//	recs.Add(auth.PubKey, blossom.Record{SHA256: sha, Size: n, Type: t, Uploaded: now.Unix()})
//	d := blossom.NewDescriptor(baseURL, rec, fileEventTags)
package blossom

import "fmt"

// HTTP statuses the BUDs name for refusals.
const (
	StatusBadRequest      = 400
	StatusUnauthorized    = 401
	StatusForbidden       = 403
	StatusNotFound        = 404
	StatusConflict        = 409
	StatusLengthRequired  = 411
	StatusTooLarge        = 413
	StatusUnsupportedType = 415
	StatusTooManyRequests = 429
	StatusBadGateway      = 502
	StatusUnavailable     = 503
)

// Refusal is a request refused: Status is the HTTP status, Reason the
// human-readable X-Reason.
type Refusal struct {
	Status int
	Reason string
}

func (r *Refusal) Error() string { return fmt.Sprintf("%d: %s", r.Status, r.Reason) }

func refuse(status int, format string, args ...any) *Refusal {
	return &Refusal{Status: status, Reason: fmt.Sprintf(format, args...)}
}
