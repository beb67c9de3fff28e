package blossom

import "strings"

// Descriptor is a blob descriptor (BUD-02) with its NIP-94 tags (BUD-08).
type Descriptor struct {
	URL      string `json:"url"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	Type     string `json:"type"`
	Uploaded int64  `json:"uploaded"`
	// NIP94 are the tags of the kind 1063 event the node published for
	// the blob; absent when there is none.
	NIP94 [][]string `json:"nip94,omitempty"`
	// Nevent points at that kind 1063 event (with the node's relay as
	// hint): another cairn node resolves it and serves the blob from the
	// swarm.
	Nevent string `json:"nevent,omitempty"`
}

// NewDescriptor describes rec served under base (the node's public HTTP
// URL, no trailing slash): its url carries the type's extension.
func NewDescriptor(base string, rec Record, nip94 [][]string) Descriptor {
	t := rec.Type
	if t == "" {
		t = "application/octet-stream"
	}
	return Descriptor{
		URL:      strings.TrimSuffix(base, "/") + "/" + rec.SHA256 + Ext(t),
		SHA256:   rec.SHA256,
		Size:     rec.Size,
		Type:     t,
		Uploaded: rec.Uploaded,
		NIP94:    nip94,
	}
}

// extensions are the file extensions of common blob types; BUD-02 wants
// one in every descriptor's url.
var extensions = map[string]string{
	"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
	"image/avif": ".avif", "image/svg+xml": ".svg", "image/heic": ".heic", "image/bmp": ".bmp",
	"video/mp4": ".mp4", "video/webm": ".webm", "video/quicktime": ".mov", "video/x-matroska": ".mkv",
	"video/mpeg": ".mpeg", "video/ogg": ".ogv", "audio/mpeg": ".mp3", "audio/mp4": ".m4a",
	"audio/ogg": ".ogg", "audio/webm": ".weba", "audio/wav": ".wav", "audio/flac": ".flac",
	"audio/aac": ".aac", "application/pdf": ".pdf", "application/json": ".json",
	"application/zip": ".zip", "application/gzip": ".gz", "text/plain": ".txt", "text/html": ".html",
	"text/markdown": ".md", "text/css": ".css", "text/javascript": ".js",
}

// Ext is the file extension of MIME type t, ".bin" when unknown.
func Ext(t string) string {
	if e, ok := extensions[BaseType(t)]; ok {
		return e
	}
	return ".bin"
}
