package bt

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// ErrTorrent: a torrent or magnet that cairn cannot use.
var ErrTorrent = errors.New("bt: unusable torrent")

// MaxTorrentBytes bounds a .torrent file read from disk or the network.
const MaxTorrentBytes = 16 << 20

// MakeTorrent builds the v1 metainfo of one file of size bytes read from
// r (read once, in order: wrap r in an io.TeeReader to hash it too), named
// name, with webSeeds as its BEP-19 url-list. The piece length is
// anacrolix's choice for the size (a power of two from 16 KiB, about
// 1,024 to 2,048 pieces), so the same bytes, name and size always give the
// same infohash.
func MakeTorrent(r io.Reader, size int64, name string, webSeeds ...string) (*metainfo.MetaInfo, error) {
	if size <= 0 {
		return nil, fmt.Errorf("%w: a torrent of %d bytes (an empty file has no pieces)", ErrTorrent, size)
	}
	if name == "" || name == "." || name == ".." {
		return nil, fmt.Errorf("%w: file name %q", ErrTorrent, name)
	}
	info := metainfo.Info{Name: name, Length: size, PieceLength: metainfo.ChoosePieceLength(size)}
	var err error
	cr := &countReader{r: r}
	info.Pieces, err = metainfo.GeneratePieces(io.LimitReader(cr, size), info.PieceLength, nil)
	if err != nil {
		return nil, fmt.Errorf("hashing pieces: %w", err)
	}
	if cr.n != size {
		return nil, fmt.Errorf("%w: read %d bytes of a file of %d", ErrTorrent, cr.n, size)
	}
	ib, err := bencode.Marshal(&info)
	if err != nil {
		return nil, err
	}
	mi := &metainfo.MetaInfo{InfoBytes: ib, UrlList: webSeeds, CreatedBy: "cairn"}
	return mi, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

// SingleFile is the info of a v1 single-file torrent, checked: cairn
// shares and fetches one file per torrent.
func SingleFile(mi *metainfo.MetaInfo) (metainfo.Info, error) {
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return info, fmt.Errorf("%w: its info dictionary does not decode: %v", ErrTorrent, err)
	}
	switch {
	case !info.HasV1():
		return info, fmt.Errorf("%w: not a BitTorrent v1 torrent (v2-only torrents are not supported)", ErrTorrent)
	case len(info.Files) > 0:
		return info, fmt.Errorf("%w: %d files; cairn fetches single-file torrents", ErrTorrent, len(info.Files))
	case info.Length <= 0:
		return info, fmt.Errorf("%w: length %d", ErrTorrent, info.Length)
	case info.PieceLength <= 0 || len(info.Pieces)%20 != 0 || int64(len(info.Pieces)/20) != (info.Length+info.PieceLength-1)/info.PieceLength:
		return info, fmt.Errorf("%w: %d piece hashes for %d bytes in pieces of %d", ErrTorrent, len(info.Pieces)/20, info.Length, info.PieceLength)
	}
	return info, nil
}

// Magnet is the BEP-9 magnet of mi: xt (the v1 infohash), dn (the file
// name), xl (its length), ws (its web seeds, BEP-19), xs (where its
// .torrent is served, when torrentURL is given) and x.pe (peers, host:port).
func Magnet(mi *metainfo.MetaInfo, torrentURL string, peers ...string) (string, error) {
	info, err := SingleFile(mi)
	if err != nil {
		return "", err
	}
	m := metainfo.Magnet{InfoHash: mi.HashInfoBytes(), DisplayName: info.Name, Params: url.Values{}}
	m.Params.Set("xl", strconv.FormatInt(info.Length, 10))
	for _, ws := range mi.UrlList {
		m.Params.Add("ws", ws)
	}
	if torrentURL != "" {
		m.Params.Set("xs", torrentURL)
	}
	for _, p := range peers {
		m.Params.Add("x.pe", p)
	}
	return m.String(), nil
}

// LoadTorrent decodes a .torrent (at most MaxTorrentBytes) and checks it
// is a v1 single-file torrent.
func LoadTorrent(r io.Reader) (*metainfo.MetaInfo, metainfo.Info, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxTorrentBytes+1))
	if err != nil {
		return nil, metainfo.Info{}, err
	}
	if len(b) > MaxTorrentBytes {
		return nil, metainfo.Info{}, fmt.Errorf("%w: a .torrent over %d bytes", ErrTorrent, MaxTorrentBytes)
	}
	var mi metainfo.MetaInfo
	if err := bencode.Unmarshal(b, &mi); err != nil {
		return nil, metainfo.Info{}, fmt.Errorf("%w: not a bencoded .torrent: %v", ErrTorrent, err)
	}
	info, err := SingleFile(&mi)
	return &mi, info, err
}

// VerifyPieces checks that data holds the single file info describes:
// its length and every piece's SHA-1.
func VerifyPieces(info metainfo.Info, data io.ReaderAt) error {
	if info.PieceLength <= 0 || len(info.Pieces)%20 != 0 {
		return fmt.Errorf("%w: bad piece length or piece hashes", ErrTorrent)
	}
	buf := make([]byte, info.PieceLength)
	n := len(info.Pieces) / 20
	for i := range n {
		size := min(info.PieceLength, info.Length-int64(i)*info.PieceLength)
		if size <= 0 {
			return fmt.Errorf("%w: %d pieces for %d bytes", ErrTorrent, n, info.Length)
		}
		if _, err := data.ReadAt(buf[:size], int64(i)*info.PieceLength); err != nil {
			return fmt.Errorf("piece %d: %w", i, err)
		}
		if sha1.Sum(buf[:size]) != [20]byte(info.Pieces[i*20:i*20+20]) {
			return fmt.Errorf("%w: piece %d does not match its hash", ErrTorrent, i)
		}
	}
	if int64(n)*info.PieceLength < info.Length {
		return fmt.Errorf("%w: %d pieces for %d bytes", ErrTorrent, n, info.Length)
	}
	return nil
}
