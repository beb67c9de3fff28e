package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Limits cap allocations; 0 means no cap of that kind.
type Limits struct {
	PerUser int // live allocations of one credential's user
	PerIP   int // live allocations from one client IP
	Total   int // live allocations on the node
}

// ErrQuota: an allocation cap is reached (TURN error 486).
var ErrQuota = errors.New("turn: allocation quota reached")

// Quota counts live allocations by user and client IP. It is not safe for
// concurrent use: the edge holds a lock around it.
type Quota struct {
	lim   Limits
	users map[string]int
	ips   map[netip.Addr]int
	open  map[string]held
}

type held struct {
	user string
	ip   netip.Addr
}

// NewQuota returns an empty count under lim.
func NewQuota(lim Limits) *Quota {
	return &Quota{lim: lim, users: map[string]int{}, ips: map[netip.Addr]int{}, open: map[string]held{}}
}

// Admit tells whether user, from ip, may open one more allocation.
func (q *Quota) Admit(user string, ip netip.Addr) error {
	ip = canonical(ip)
	switch {
	case q.lim.Total > 0 && len(q.open) >= q.lim.Total:
		return fmt.Errorf("%w: %d allocations on this node", ErrQuota, len(q.open))
	case q.lim.PerUser > 0 && q.users[user] >= q.lim.PerUser:
		return fmt.Errorf("%w: %d allocations for user %q", ErrQuota, q.users[user], short(user))
	case q.lim.PerIP > 0 && q.ips[ip] >= q.lim.PerIP:
		return fmt.Errorf("%w: %d allocations from %s", ErrQuota, q.ips[ip], ip)
	}
	return nil
}

// Open counts allocation id (the edge's key for it); opening an id twice
// counts it once.
func (q *Quota) Open(id, user string, ip netip.Addr) {
	if _, ok := q.open[id]; ok {
		return
	}
	ip = canonical(ip)
	q.open[id] = held{user, ip}
	q.users[user]++
	q.ips[ip]++
}

// Close forgets allocation id; an unknown id is ignored.
func (q *Quota) Close(id string) {
	h, ok := q.open[id]
	if !ok {
		return
	}
	delete(q.open, id)
	if q.users[h.user]--; q.users[h.user] <= 0 {
		delete(q.users, h.user)
	}
	if q.ips[h.ip]--; q.ips[h.ip] <= 0 {
		delete(q.ips, h.ip)
	}
}

// Live is the number of allocations open, and of users holding them.
func (q *Quota) Live() (allocations, users int) { return len(q.open), len(q.users) }

// Bucket is a token bucket of bytes: Rate bytes a second, at most Burst
// saved. The zero Rate means unlimited.
type Bucket struct {
	Rate, Burst int64
	tokens      float64
	last        time.Time
}

// NewBucket returns a full bucket.
func NewBucket(rate, burst int64, now time.Time) *Bucket {
	if burst < rate/4 {
		burst = rate / 4
	}
	return &Bucket{Rate: rate, Burst: burst, tokens: float64(burst), last: now}
}

// Take spends n bytes at now, or tells that the datagram must be dropped
// (it then spends nothing).
func (b *Bucket) Take(n int, now time.Time) bool {
	if b.Rate <= 0 {
		return true
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens += dt.Seconds() * float64(b.Rate)
		if b.tokens > float64(b.Burst) {
			b.tokens = float64(b.Burst)
		}
		b.last = now
	}
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}
