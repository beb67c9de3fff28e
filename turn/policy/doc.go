// Package policy is the pure core of the node's TURN server: who may
// allocate a relay, to whom it may send, and how much. It mints and checks
// the short-lived credentials the node hands to tabs (the TURN REST API's
// form: username "<expiry-unix>:<user>", password
// base64(HMAC-SHA1(secret, username))), decides which peer addresses a
// relay may reach (never loopback, private or link-local ones unless the
// operator allows them, and the node's own relay address only at ports of
// live allocations), counts allocations per user, per client IP and in
// total, and keeps a token bucket per allocation. Times are passed in;
// nothing here reads a clock or a socket.
//
// The edge (package turn) calls it on every request:
//
//	user, pass, err := policy.Check(secret, username, now)   // auth
//	err = quota.Admit(user, clientIP)                         // Allocate
//	quota.Open(id, user, clientIP) ... quota.Close(id)        // lifecycle
//	err = rules.Peer(addr, isAllocation)                      // CreatePermission, each datagram
//	ok := bucket.Take(len(p), now)                            // each datagram
package policy
