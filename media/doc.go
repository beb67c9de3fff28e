// Package media cuts media files into keyframe-aligned chunks for peer to
// peer streaming and describes them as a kind 7001 chunk map (package
// media/chunkmap).
//
// # Cutting
//
// Split detects the container by its magic bytes and returns a Plan: the
// chunks' byte ranges, play times, keyframe flags and SHA-256 hashes, and
// their Merkle root (package merkle).
//
//   - Fragmented MP4 (ftyp+moov with mvex, then moof+mdat fragments) and
//     WebM/Matroska (EBML header, Segment, Clusters): chunk 0 is the init
//     segment on its own (ftyp+moov; EBML header and Segment header up to
//     the first Cluster, with Info and Tracks). Every later chunk is a run of
//     whole fragments or clusters. A chunk ends at the first fragment or
//     cluster that starts with a keyframe once it holds 0.8 x the target
//     size; it is cut anyway ("forced") before the fragment or cluster that
//     would take it past 1.2 x the target. A forced cut before a keyframe
//     unit is still keyframe-aligned; a forced cut before any other unit
//     starts the next chunk mid-GOP and marks it Keyframe false, so a
//     player knows it cannot start decoding there. A fragment starts with a
//     keyframe when the first sample of every video track in its moof is a
//     sync sample (sample_is_non_sync_sample clear in the trun, tfhd or
//     trex flags); a cluster when its first video block is a keyframe
//     (SimpleBlock flag, or a BlockGroup without ReferenceBlock). Without
//     video, audio samples and blocks decide the same way. Durations come
//     from the reference track's sample durations (MP4: first video track)
//     or cluster timecodes (WebM).
//   - Progressive MP4 (samples described in the moov): Split refuses it with
//     ErrNeedsRemux. Remux rewrites it as a fragmented MP4 (one fragment per
//     GOP, audio interleaved by time) that the caller stores and splits. An
//     MP4 whose moov describes samples and is followed by fragments
//     (ffmpeg's -movflags frag_keyframe without empty_moov) is
//     ErrUnsupported by both; SplitFixed still shares it.
//   - Anything else: chunks of exactly the target size, the last shorter
//     (SplitFixed does this for any file).
//
// # Reading
//
// The cut-point finder (cutMedia) is pure: it takes the fragments or
// clusters a container scan found (offset, length, keyframe, time) and
// returns chunk spans. The scans read only box and element headers and the
// moov and moof boxes, through a 64 KiB read-ahead window; the hashing pass
// then reads every byte once, in order, through one 512 KiB buffer. Memory
// does not grow with the file beyond one small record per fragment or
// cluster.
//
// # Hostile input
//
// Every size is checked against its parent and the file before it is used;
// truncated boxes, sizes past the end, sizes smaller than their header,
// unknown sizes where they are not allowed, absurd tables and too many
// fragments are errors wrapping ErrTruncated, ErrMalformed, ErrUnsupported
// or ErrTooLarge. Walks always advance, so work is linear in the file's
// size. Panics inside mp4ff on hostile input become ErrMalformed.
//
// # Caller's loop
//
//	f, _ := os.Open(path)
//	st, _ := f.Stat()
//	plan, err := media.Split(f, st.Size(), media.Chunker{})
//	if errors.Is(err, media.ErrNeedsRemux) {
//		// write media.Remux(f, st.Size(), tmp) to a file, keep that
//		// file instead of the original, and Split it
//	}
//	m := plan.Map() // add Title, Description, Gatekeepers
//	ev := m.Event() // set CreatedAt, sign, publish
package media
