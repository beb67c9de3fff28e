package media

import (
	"bytes"
	"errors"
	"testing"
)

// webmClusters are five 1-second clusters: keyframe after an audio block,
// non-keyframe, BlockGroup keyframe, BlockGroup with a ReferenceBlock,
// keyframe.
func webmClusters() [][]byte {
	return [][]byte{
		cluster(0, simpleBlock(2, 0, true, 100), simpleBlock(1, 0, true, 900), simpleBlock(1, 40, false, 300)),
		cluster(1000, simpleBlock(1, 0, false, 900), simpleBlock(2, 0, true, 100)),
		cluster(2000, blockGroup(1, 0, true, 900)),
		cluster(3000, simpleBlock(2, 0, true, 100), blockGroup(1, 0, false, 900)),
		cluster(4000, simpleBlock(1, 0, true, 900), simpleBlock(1, 960, false, 200)),
	}
}

var webmWantKeys = []bool{true, false, true, false, true}

func TestSplitWebM(t *testing.T) {
	cs := webmClusters()
	data := webmFile(5000, cs...)
	p, err := split(t, data, 100) // every cluster its own chunk
	if err != nil {
		t.Fatal(err)
	}
	if p.Container != WebM || p.MIME != `video/webm; codecs="vp9, opus"` {
		t.Errorf("plan %v %q", p.Container, p.MIME)
	}
	first := int64(bytes.Index(data, cs[0]))
	if p.Init.Length != first {
		t.Errorf("init length %d, want %d (the first cluster)", p.Init.Length, first)
	}
	if len(p.Chunks) != 1+len(cs) {
		t.Fatalf("%d chunks", len(p.Chunks))
	}
	for i, c := range p.Chunks[1:] {
		if want := int64(bytes.Index(data, cs[i])); c.Offset != want || c.Length != int64(len(cs[i])) {
			t.Errorf("chunk %d at %d+%d, want %d+%d", i+1, c.Offset, c.Length, want, len(cs[i]))
		}
		if c.Keyframe != webmWantKeys[i] || c.DurationMs != 1000 {
			t.Errorf("chunk %d key=%v %d ms, want key=%v 1000 ms", i+1, c.Keyframe, c.DurationMs, webmWantKeys[i])
		}
	}

	// With a larger target, keyframe clusters are grouped.
	p, err = split(t, data, 2500)
	if err != nil {
		t.Fatal(err)
	}
	var keys []bool
	for _, c := range p.Chunks[1:] {
		keys = append(keys, c.Keyframe)
	}
	if len(p.Chunks) >= 1+len(cs) || !keys[0] {
		t.Errorf("target 2500: %d chunks, keys %v", len(p.Chunks), keys)
	}
}

func TestWebMUnknownSizes(t *testing.T) {
	// A live stream: Segment and Clusters of unknown size, no Duration;
	// Cues after the last cluster end it.
	var body [][]byte
	body = append(body,
		el(idInfo, elUint(idTimecodeScale, 1000000)),
		el(idTracks,
			el(idTrackEntry, elUint(idTrackNumber, 1), elUint(idTrackType, 1), el(idCodecID, []byte("V_VP8"))),
		),
	)
	var offs []int
	for i, key := range []bool{true, false, true} {
		body = append(body, elUnknown(idCluster, elUint(idTimecode, uint64(i)*1000),
			simpleBlock(1, 0, key, 500), simpleBlock(1, 500, false, 500)))
	}
	body = append(body, el(idCues, el(0xBB, elUint(0xB3, 0))))
	data := append(webmHeader(), elUnknown(idSegment, body...)...)
	for i := range 3 {
		offs = append(offs, bytes.Index(data, body[2+i]))
	}
	p, err := split(t, data, 100)
	if err != nil {
		t.Fatal(err)
	}
	if p.MIME != `video/webm; codecs="vp8"` {
		t.Errorf("mime %q", p.MIME)
	}
	if len(p.Chunks) != 4 {
		t.Fatalf("%d chunks", len(p.Chunks))
	}
	for i, c := range p.Chunks[1:] {
		// The last cluster's end comes from its last block (2.5 s).
		wantMs := int64(1000)
		if i == 2 {
			wantMs = 500
		}
		if c.Offset != int64(offs[i]) || c.Keyframe != (i != 1) || c.DurationMs != wantMs {
			t.Errorf("chunk %d = %d key=%v %d ms, want %d key=%v %d ms", i+1, c.Offset, c.Keyframe, c.DurationMs, offs[i], i != 1, wantMs)
		}
	}
}

func TestWebMLayout(t *testing.T) {
	cs := webmClusters()[:2]
	seek := el(0x114D9B74, el(0x4DBB, el(0x53AB, []byte{0x15, 0x49, 0xA9, 0x66})))
	void := el(idVoid, make([]byte, 30))
	cues := el(idCues, el(0xBB, elUint(0xB3, 0)))
	tags := el(idTags)
	seg := el(idSegment, seek, void, webmInit(2000), cs[0], void, cs[1], cues, tags)
	data := append(webmHeader(), seg...)
	p, err := split(t, data, 100)
	if err != nil {
		t.Fatal(err)
	}
	// SeekHead and Void before the first cluster are init; the Void between
	// clusters joins the first; Cues and Tags join the last.
	c1, c2 := int64(bytes.Index(data, cs[0])), int64(bytes.Index(data, cs[1]))
	if p.Init.Length != c1 || len(p.Chunks) != 3 || p.Chunks[1].Length != c2-c1 || p.Chunks[2].Offset != c2 {
		t.Errorf("plan %+v", p.Chunks)
	}
}

func TestWebMMatroska(t *testing.T) {
	data := append(el(idEBML, el(idDocType, []byte("matroska"))), el(idSegment, webmInit(1000), cluster(0, simpleBlock(1, 0, true, 10)))...)
	p, err := split(t, data, 100)
	if err != nil {
		t.Fatal(err)
	}
	if p.MIME != "video/x-matroska" {
		t.Errorf("mime %q", p.MIME)
	}
}

func TestWebMErrors(t *testing.T) {
	good := webmFile(2000, webmClusters()[:2]...)
	seg := func(parts ...[]byte) []byte { return append(webmHeader(), el(idSegment, parts...)...) }
	ini := webmInit(1000)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"truncated", good[:len(good)-7], ErrTruncated},
		{"truncated in the header", good[:10], ErrTruncated},
		{"element past the end", seg(ini, cluster(0, simpleBlock(1, 0, true, 1)), []byte{0xEC, 0x88}), ErrTruncated},
		{"id starting with a zero byte", seg(ini, []byte{0x00, 0x81, 0x00}), ErrMalformed},
		{"id longer than 4 bytes", seg(ini, []byte{0x08, 0, 0, 0, 0, 0x80}), ErrMalformed},
		{"size vint of zero length", seg(ini, []byte{0xEC, 0x00, 0x00}), ErrMalformed},
		{"doctype", append(el(idEBML, el(idDocType, []byte("mkvx"))), el(idSegment, ini)...), ErrUnsupported},
		{"no segment", append(webmHeader(), cluster(0)...), ErrMalformed},
		{"EBML header of unknown size", append(elUnknown(idEBML), el(idSegment)...), ErrMalformed},
		{"cluster before tracks", seg(cluster(0, simpleBlock(1, 0, true, 1))), ErrUnsupported},
		{"cluster without timecode", seg(ini, el(idCluster, simpleBlock(1, 0, true, 1))), ErrMalformed},
		{"block before timecode", seg(ini, el(idCluster, simpleBlock(1, 0, true, 1), elUint(idTimecode, 0))), ErrMalformed},
		{"empty block", seg(ini, el(idCluster, elUint(idTimecode, 0), el(idSimpleBlock))), ErrMalformed},
		{"short block", seg(ini, el(idCluster, elUint(idTimecode, 0), el(idSimpleBlock, []byte{0x81, 0}))), ErrMalformed},
		{"block group without block", seg(ini, el(idCluster, elUint(idTimecode, 0), el(idBlockGroup, elUint(idReferenceBlock, 1)))), ErrMalformed},
		{"absurd timecode", seg(ini, cluster(1<<62, simpleBlock(1, 0, true, 1))), ErrMalformed},
		{"timecode scale 0", seg(el(idInfo, elUint(idTimecodeScale, 0)), ini), ErrMalformed},
		{"track without number", seg(el(idInfo), el(idTracks, el(idTrackEntry, elUint(idTrackType, 1)))), ErrMalformed},
		{"unknown-size info", seg(elUnknown(idInfo)), ErrMalformed},
		{"unknown-size element in a cluster", seg(ini, el(idCluster, elUint(idTimecode, 0), elUnknown(idBlockGroup))), ErrMalformed},
		{"data after the segment", append(good, el(idVoid)...), ErrUnsupported},
		{"9-byte uint", seg(el(idInfo, el(idTimecodeScale, make([]byte, 9)))), ErrMalformed},
		{"6-byte float", seg(el(idInfo, el(idDuration, make([]byte, 6)))), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := split(t, tt.data, 100); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}
