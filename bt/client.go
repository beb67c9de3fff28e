package bt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/dht/v2"
	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"golang.org/x/time/rate"
)

// ClientConfig is a BitTorrent client (anacrolix/torrent).
type ClientConfig struct {
	// Listen is the TCP host:port for peers ("127.0.0.1:0" in tests).
	Listen string
	// Public joins the public Mainline DHT (the engine's built-in
	// routers), announces torrents there, exchanges peers (PEX) and
	// forwards its port with UPnP. Off (--public-bootstrap=false,
	// CAIRN_PUBLIC_BOOTSTRAP=false, every test) the client contacts only
	// the peers, trackers and web seeds a torrent or magnet names.
	Public bool
	// Logger receives the engine's warnings (nil: discarded).
	Logger *slog.Logger
}

// Client is one BitTorrent client: it seeds cairn's shares and fetches
// torrents. Torrents are v1 only (BitTorrent v2 and hybrids are not usable
// in this engine version), over TCP (no uTP).
type Client struct {
	c    *torrent.Client
	port int

	mu     sync.Mutex
	seeded map[metainfo.Hash]seededFile
}

// seededFile is what Seed was given for a torrent.
type seededFile struct {
	mi     *metainfo.MetaInfo
	name   string
	data   io.ReaderAt
	length int64
}

// NewClient listens and starts a client.
func NewClient(cfg ClientConfig) (*Client, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("bittorrent listen address %q: want host:port", cfg.Listen)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("bittorrent listen address %q: bad port", cfg.Listen)
	}
	tc := torrent.NewDefaultClientConfig()
	tc.ListenHost = func(network string) string { return host }
	tc.ListenPort = port
	if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
		tc.DisableIPv6 = true // an IPv4 address has no tcp6 socket
	}
	tc.Seed = true
	tc.DisableUTP = true
	tc.DisableWebtorrent = true
	tc.Bep20 = "-CA0001-"
	tc.ExtendedHandshakeClientVersion = "cairn"
	tc.HTTPUserAgent = "cairn"
	tc.DefaultStorage = noDefault{}
	if cfg.Logger != nil {
		tc.Slogger = cfg.Logger
	} else {
		tc.Slogger = slog.New(slog.DiscardHandler)
	}
	if !cfg.Public {
		tc.NoDHT = true
		tc.PeriodicallyAnnounceTorrentsToDht = false
		tc.DhtStartingNodes = func(string) dht.StartingNodesGetter {
			return func() ([]dht.Addr, error) { return nil, nil }
		}
		tc.DisablePEX = true
		tc.NoDefaultPortForwarding = true
		tc.DisableIPv6 = true
		// Peers on loopback: no dial pacing, and dial at once.
		tc.DialRateLimiter = rate.NewLimiter(rate.Inf, 0)
		tc.NominalDialTimeout = 5 * time.Second
	}
	c, err := torrent.NewClient(tc)
	if err != nil {
		return nil, fmt.Errorf("bittorrent client on %s: %w (is another program using the port? pass another --bt-listen)", cfg.Listen, err)
	}
	cl := &Client{c: c, seeded: map[metainfo.Hash]seededFile{}}
	for _, a := range c.ListenAddrs() {
		if ta, ok := a.(*net.TCPAddr); ok {
			cl.port = ta.Port
		}
	}
	return cl, nil
}

// Port is the TCP port peers reach the client on.
func (c *Client) Port() int { return c.port }

// Close stops the client and every torrent.
func (c *Client) Close() { c.c.Close() }

// Seed seeds the single-file torrent mi whose bytes data reads, at offset 0
// to the file's length. data is read in place (the node's chunk store); the
// client never writes to it and hashes nothing at start: data must already
// be verified (chunks are, against their sha256, as they are stored).
func (c *Client) Seed(mi *metainfo.MetaInfo, data io.ReaderAt) (*torrent.Torrent, error) {
	info, err := SingleFile(mi)
	if err != nil {
		return nil, err
	}
	spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTorrent, err)
	}
	spec.Storage = readOnly{data: data, length: info.Length}
	t, _, err := c.c.AddTorrentSpec(spec)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.seeded[t.InfoHash()] = seededFile{mi: mi, name: info.Name, data: data, length: info.Length}
	c.mu.Unlock()
	return t, nil
}

// Unseed stops seeding the torrent ih (one Seed added).
func (c *Client) Unseed(ih [20]byte) {
	if t, ok := c.c.Torrent(metainfo.Hash(ih)); ok {
		t.Drop()
	}
	c.mu.Lock()
	delete(c.seeded, metainfo.Hash(ih))
	c.mu.Unlock()
}

// Local returns the file of a torrent this client seeds (its bytes, read
// in place, and metainfo), when it is at most limit bytes: a fetch of it
// would be refused, the torrent being in the client already.
func (c *Client) Local(ih [20]byte, limit int64) (File, bool, error) {
	c.mu.Lock()
	sf, ok := c.seeded[metainfo.Hash(ih)]
	c.mu.Unlock()
	if !ok {
		return File{}, false, nil
	}
	if sf.length > limit {
		return File{}, true, fmt.Errorf("%s is %d bytes, more than %d", sf.name, sf.length, limit)
	}
	b := make([]byte, sf.length)
	if _, err := sf.data.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && sf.length == 0) {
		return File{}, true, fmt.Errorf("reading %s, seeded here: %w", sf.name, err)
	}
	return File{Name: sf.name, Data: b, MI: sf.mi}, true, nil
}

// Seeding is how many torrents Seed added.
func (c *Client) Seeding() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seeded)
}

// Stats are the client's byte counters, data only (not protocol overhead).
type Stats struct {
	Torrents     int   `json:"torrents"`
	Seeding      int   `json:"seeding"`
	Port         int   `json:"port"`
	BytesRead    int64 `json:"bytes_read"`
	BytesWritten int64 `json:"bytes_written"`
}

// Stats reports the client's counters.
func (c *Client) Stats() Stats {
	s := c.c.Stats()
	return Stats{
		Torrents:     len(c.c.Torrents()),
		Seeding:      c.Seeding(),
		Port:         c.port,
		BytesRead:    s.BytesReadData.Int64(),
		BytesWritten: s.BytesWrittenData.Int64(),
	}
}

// Progress is a fetch's state.
type Progress struct {
	Name      string `json:"name"`
	Length    int64  `json:"length"`
	Completed int64  `json:"completed"`
	Peers     int    `json:"peers"`
	GotInfo   bool   `json:"got_info"`
}

// FetchOptions name where a fetch looks and what it reports.
type FetchOptions struct {
	// Peers are host:port of peers to dial besides those the magnet
	// (x.pe), trackers and web seeds give.
	Peers []string
	// Progress is called about every Every while the fetch runs.
	Progress func(Progress)
	Every    time.Duration
}

// Fetch downloads the single-file torrent that spec names (a magnet, or a
// .torrent's metainfo) into path (the file is created or resumed there;
// every piece is checked against its SHA-1 by the engine before it counts)
// and returns its info once every piece is complete. The torrent is dropped
// from the client afterwards.
//
// An attempt that has verified nothing and made no progress (metadata,
// verified bytes) for startStall is dropped and begun again, until ctx
// ends: anacrolix/torrent v1.61.0 sometimes leaves a fetch from a live
// seeder idle for a minute at its start (seen in about one small fetch in
// 100 on loopback), and a fresh attempt completes at once. Once bytes are
// verified an attempt is never dropped (a fetch starts from nothing).
func (c *Client) Fetch(ctx context.Context, spec *torrent.TorrentSpec, path string, opt FetchOptions) (metainfo.Info, error) {
	_, info, err := c.FetchMeta(ctx, spec, path, opt)
	return info, err
}

// FetchMeta is Fetch, also returning the torrent's metainfo (its info
// bytes as the swarm gave them: the same infohash), so a fetched file can
// be seeded again.
func (c *Client) FetchMeta(ctx context.Context, spec *torrent.TorrentSpec, path string, opt FetchOptions) (*metainfo.MetaInfo, metainfo.Info, error) {
	for {
		actx, cancel := context.WithCancel(ctx)
		var last Progress
		lastAt := time.Now()
		stalled := false
		o := opt
		o.Progress = func(p Progress) { // called on this goroutine, by fetch
			if opt.Progress != nil {
				opt.Progress(p)
			}
			switch {
			case p.GotInfo != last.GotInfo || p.Completed != last.Completed:
				last, lastAt = p, time.Now()
			case p.Completed == 0 && time.Since(lastAt) > startStall:
				stalled = true
				cancel()
			}
		}
		mi, info, err := c.fetch(actx, spec, path, o)
		cancel()
		if err == nil || !stalled || ctx.Err() != nil {
			return mi, info, err
		}
	}
}

// startStall is how long a fetch that has verified nothing may go without
// progress before Fetch begins it again.
const startStall = 10 * time.Second

func (c *Client) fetch(ctx context.Context, spec *torrent.TorrentSpec, path string, opt FetchOptions) (*metainfo.MetaInfo, metainfo.Info, error) {
	dir, name := filepath.Split(path)
	st := storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir: dir,
		FilePathMaker: func(storage.FilePathMakerOpts) string { return name },
		TorrentDirMaker: func(baseDir string, _ *metainfo.Info, _ metainfo.Hash) string {
			return baseDir
		},
		PieceCompletion: freshCompletion{storage.NewMapPieceCompletion()},
		UsePartFiles:    g.Some(false),
	})
	defer st.Close()
	s := *spec
	s.Storage = st
	resolveSources(ctx, &s)
	t, isNew, err := c.c.AddTorrentSpec(&s)
	if err != nil {
		return nil, metainfo.Info{}, fmt.Errorf("%w: %v", ErrTorrent, err)
	}
	if !isNew {
		return nil, metainfo.Info{}, fmt.Errorf("%w: torrent %s is already in this client (seeded or being fetched)", ErrTorrent, t.InfoHash().HexString())
	}
	defer t.Drop()
	var peers []torrent.PeerInfo
	for _, p := range opt.Peers {
		a, err := resolveTCP(p)
		if err != nil {
			return nil, metainfo.Info{}, fmt.Errorf("peer %q: want host:port: %w", p, err)
		}
		peers = append(peers, torrent.PeerInfo{Addr: a, Source: torrent.PeerSourceDirect, Trusted: true})
	}
	if len(peers) > 0 {
		t.AddPeers(peers)
	}
	every := opt.Every
	if every <= 0 {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	report := func() {
		if opt.Progress == nil {
			return
		}
		p := Progress{Peers: len(t.PeerConns())}
		if t.Info() != nil {
			p.GotInfo, p.Name, p.Length, p.Completed = true, t.Info().Name, t.Length(), verified(t)
		}
		opt.Progress(p)
	}
	for t.Info() == nil {
		select {
		case <-t.GotInfo():
		case <-tick.C:
			report()
		case <-ctx.Done():
			return nil, metainfo.Info{}, fmt.Errorf("no peer or web seed gave the torrent's metadata: %w", ctx.Err())
		}
	}
	mi := t.Metainfo()
	info, err := SingleFile(&mi)
	if err != nil {
		return nil, info, err
	}
	t.DownloadAll()
	for !t.Complete().Bool() {
		select {
		case <-t.Complete().On():
		case <-tick.C:
			report()
		case <-ctx.Done():
			report()
			return nil, info, fmt.Errorf("fetching %s: %d of %d bytes verified: %w", info.Name, verified(t), info.Length, ctx.Err())
		}
	}
	report()
	return &mi, info, nil
}

// freshCompletion is the piece completion of a fetch: a piece not yet
// verified in this fetch is known incomplete, so the engine requests it at
// once instead of hashing what the file holds first (a fetch starts from
// nothing; with that initial check, pieces of a torrent added by magnet
// sometimes stayed unrequested in anacrolix/torrent v1.61.0).
type freshCompletion struct{ storage.PieceCompletion }

func (f freshCompletion) Get(pk metainfo.PieceKey) (storage.Completion, error) {
	c, err := f.PieceCompletion.Get(pk)
	if err != nil || !c.Ok {
		return storage.Completion{Ok: true, Complete: false}, nil
	}
	return c, nil
}

// verified is the bytes of t's pieces that passed their hash check.
func verified(t *torrent.Torrent) int64 {
	info := t.Info()
	if info == nil {
		return 0
	}
	var n int64
	for i := 0; i < info.NumPieces(); i++ {
		if t.PieceState(i).Complete {
			n += info.Piece(i).Length()
		}
	}
	return n
}

// ErrMagnet: a magnet cairn cannot fetch.
var ErrMagnet = errors.New("bt: bad magnet")

// MagnetSpec parses a magnet into what Fetch takes: a v1 infohash is
// required.
func MagnetSpec(uri string) (*torrent.TorrentSpec, error) {
	m, err := metainfo.ParseMagnetUri(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: %v (want magnet:?xt=urn:btih:<40 hex digits>…)", ErrMagnet, err)
	}
	spec, err := torrent.TorrentSpecFromMagnetUri(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMagnet, err)
	}
	spec.InfoHash = m.InfoHash
	return spec, nil
}

// resolveSources fetches the .torrent a magnet's xs names (at most
// MaxTorrentBytes, 10 s each) and takes its info when its infohash is the
// magnet's; the engine is not given the sources itself (fetching them
// races its web seeds' setup in anacrolix/torrent v1.61.0). A source that
// fails or does not match is skipped: peers give the metadata then.
func resolveSources(ctx context.Context, spec *torrent.TorrentSpec) {
	srcs := spec.Sources
	spec.Sources = nil
	if len(spec.InfoBytes) > 0 {
		return
	}
	for _, u := range srcs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
		if err != nil {
			cancel()
			continue
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			continue
		}
		mi, _, err := LoadTorrent(res.Body)
		res.Body.Close()
		cancel()
		if err == nil && mi.HashInfoBytes() == spec.InfoHash {
			spec.InfoBytes = mi.InfoBytes
			return
		}
	}
}

// MetaInfoSpec is what Fetch takes for a loaded .torrent.
func MetaInfoSpec(mi *metainfo.MetaInfo) (*torrent.TorrentSpec, error) {
	if _, err := SingleFile(mi); err != nil {
		return nil, err
	}
	spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTorrent, err)
	}
	return spec, nil
}

func resolveTCP(hostport string) (*net.TCPAddr, error) { return net.ResolveTCPAddr("tcp", hostport) }
