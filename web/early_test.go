package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairn-nostr/cairn/media/chunkmap"
	"github.com/cairn-nostr/cairn/nostr"
	"github.com/cairn-nostr/cairn/nostr/nip19"
)

// TestEarlyJS runs the watch page's head start (static/early.js) under
// Node against vectors made by the Go code: nevent and note references
// from nip19 (and the nevent's relay hint), the event id the page computes
// for a relay's answer, the page's inline events (only for its own ref), a signed kind 7001 map from chunkmap (its Merkle root, its
// chunk spans), and maps the page must refuse (a duplicate chunk index,
// lengths that do not add up to the size, another root); begin and take
// (one earlyOpen, one GET per chunk); and prepareMedia making nothing for
// a file MediaSource cannot take.
func TestEarlyJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CAIRN_E2E") != "" {
			t.Fatal("node (Node.js) is not installed: `make deps` installs it")
		}
		t.Skip("node (Node.js) is not installed")
	}
	var hashes [][32]byte
	for i := range 5 {
		hashes = append(hashes, sha256.Sum256([]byte{byte(i)}))
	}
	m := chunkmap.New(hashes, 1000+300+300+300+50)
	m.MIME, m.Title, m.ChunkSize = "video/mp4", "clip", 300
	m.Init = &chunkmap.ByteRange{Offset: 0, Length: 1000}
	m.ChunkInfo = []chunkmap.ChunkInfo{{Offset: 0, Length: 1000, DurationMs: 0}, {Offset: 1000, Length: 300, DurationMs: 2000}, {Offset: 1300, Length: 300, DurationMs: 2000}, {Offset: 1600, Length: 300, DurationMs: 2000}, {Offset: 1900, Length: 50, DurationMs: 500}}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	ev := m.Event()
	ev.CreatedAt = 1700000000
	if err := ev.Sign(nostr.GeneratePrivateKey()); err != nil {
		t.Fatal(err)
	}
	nevent, err := nip19.EncodeEvent(ev.ID, []string{"ws://127.0.0.1:7777"}, ev.PubKey)
	if err != nil {
		t.Fatal(err)
	}
	note, err := nip19.EncodeNote(ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	script := `
import { refId, readMap, merkleRoot, refHints, eventId, inline, begin, take, prepareMedia } from "./early.js";
import { hexBytes } from "./util.js";
const [ev, id, nevent, note] = JSON.parse(process.argv[1]);
const out = { nevent: refId(nevent), note: refId(note), hex: refId(id), bad: refId(nevent.slice(0, -1) + (nevent.endsWith("q") ? "p" : "q")), npub: refId("npub1") };
out.hints = [refHints(nevent), refHints(note), refHints(id)];
out.id = await eventId(ev);
const doc = (text) => ({ getElementById: (k) => k === "cairn-early" ? { textContent: text } : null });
out.inline = [
  inline(nevent, doc(JSON.stringify({ ref: nevent, events: [ev, { id: "not an event" }] }))).map((e) => e.id),
  inline(note, doc(JSON.stringify({ ref: nevent, events: [ev] }))).length,
  inline(nevent, doc("{")).length,
  inline(nevent, { getElementById: () => null }).length,
];
const f = readMap(ev);
out.file = f;
out.root = Buffer.from(await merkleRoot(f.hashes.map(hexBytes))).toString("hex");
const bad = (edit) => { const e = structuredClone(ev); edit(e.tags); return readMap(e); };
out.refused = [
  bad((t) => t.push(["chunk", t.find((x) => x[0] === "chunk")[1], "1"])),
  bad((t) => { t.find((x) => x[0] === "size")[1] = "1949"; }),
  bad((t) => t.push(["x-hash", "00".repeat(32)])),
  bad((t) => { t.find((x) => x[0] === "size")[1] = "01950"; }),
  readMap({ ...ev, kind: 1 }),
];
// begin (from the HTML) and take (the player): one earlyOpen, one GET per chunk.
out.fetches = [];
globalThis.fetch = async (u) => { out.fetches.push(String(u)); throw new Error("no network here"); };
const page = doc(JSON.stringify({ ref: nevent, events: [ev] }));
globalThis.document = page;
const loc = (p) => ({ pathname: p, protocol: "http:", host: "127.0.0.1:1" });
const begun = () => performance.getEntriesByName("cairn:early-begin").length;
begin(page, loc("/watch/" + note)); // the path names another ref than the page's element
begin(doc("{"), loc("/watch/" + nevent));
out.begun = [begun()];
begin(page, loc("/watch/" + nevent));
begin(page, loc("/watch/" + nevent + "/"));
out.begun.push(begun());
const h = await take(nevent, "ws://127.0.0.1:1", new AbortController().signal);
out.taken = [h?.file?.root, out.fetches.length];
await Promise.allSettled(h.chunks.values());
const h2 = await take(nevent, "ws://127.0.0.1:1", new AbortController().signal); // taken once: a new earlyOpen
out.taken.push(h2?.file?.root === h.file.root, out.fetches.length);
// prepareMedia makes nothing for a file MediaSource cannot take (even where it exists).
const vid = { mime: "video/mp4", fragmented: true };
out.media = [prepareMedia(vid, Promise.resolve(new Uint8Array(8)))];
globalThis.MediaSource = class {};
out.media.push(prepareMedia({ ...vid, fragmented: false }, Promise.resolve(new Uint8Array(8))), prepareMedia({ ...vid, mime: "text/plain" }, Promise.resolve(new Uint8Array(8))),
  prepareMedia({ ...vid, mime: "image/png" }, Promise.resolve(new Uint8Array(8))), prepareMedia(vid, null), prepareMedia(null, Promise.resolve(new Uint8Array(8))));
console.log(JSON.stringify(out));
`
	dir, err := filepath.Abs("static")
	if err != nil {
		t.Fatal(err)
	}
	args, _ := json.Marshal([]any{ev, ev.ID, nevent, note})
	cmd := exec.Command(node, "--input-type=module", "-e", script, string(args))
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, b)
	}
	var got struct {
		Nevent, Note, Hex, Bad, Npub string
		Root                         string
		File                         struct {
			Root, MIME, Name string
			Size             int64
			Fragmented       bool
			Chunks           []struct {
				Index          int
				Offset, Length int64
				Duration       float64
			}
		}
		Refused []any
		Hints   [][]string
		ID      string
		Inline  []any
		Begun   []int
		Taken   []any
		Fetches []string
		Media   []any
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if got.Nevent != ev.ID || got.Note != ev.ID || got.Hex != ev.ID || got.Bad != "" || got.Npub != "" {
		t.Errorf("references: %+v", got)
	}
	if len(got.Hints) != 3 || len(got.Hints[0]) != 1 || got.Hints[0][0] != "ws://127.0.0.1:7777" || len(got.Hints[1])+len(got.Hints[2]) != 0 {
		t.Errorf("relay hints: %v", got.Hints)
	}
	if got.ID != ev.ID {
		t.Errorf("event id computed by the page %s, want %s", got.ID, ev.ID)
	}
	if fmt.Sprint(got.Inline) != fmt.Sprintf("[[%s] 0 0 0]", ev.ID) {
		t.Errorf("inline events (this ref's valid one; another ref's, bad JSON, no element: none): %v", got.Inline)
	}
	if fmt.Sprint(got.Begun) != "[0 1]" {
		t.Errorf("head starts begun (another ref's path, bad element: none; this ref's, twice: one): %v", got.Begun)
	}
	if want := fmt.Sprintf("[%x 2 true 4]", m.Root); fmt.Sprint(got.Taken) != want || fmt.Sprint(got.Fetches) != fmt.Sprintf("[/%x /%x /%x /%x]", hashes[0], hashes[1], hashes[0], hashes[1]) {
		t.Errorf("taken (root, GETs so far, a second take's root, GETs): %v, want %s; GETs %v", got.Taken, want, got.Fetches)
	}
	if fmt.Sprint(got.Media) != "[<nil> <nil> <nil> <nil> <nil> <nil>]" {
		t.Errorf("media prepared (no MediaSource, not fragmented, not audio or video, no init segment, no file: none): %v", got.Media)
	}
	root := strings.ToLower(got.File.Root)
	if want := m.Root; root != hex.EncodeToString(want[:]) || got.Root != root {
		t.Errorf("root: map %s, computed %s, want %x", root, got.Root, want)
	}
	if got.File.MIME != "video/mp4" || got.File.Name != "clip" || got.File.Size != m.Size || !got.File.Fragmented || len(got.File.Chunks) != 5 {
		t.Errorf("file: %+v", got.File)
	}
	for i, c := range got.File.Chunks {
		w := m.ChunkInfo[i]
		if c.Index != i || c.Offset != w.Offset || c.Length != w.Length || c.Duration != float64(w.DurationMs)/1000 {
			t.Errorf("chunk %d: %+v, want %+v", i, c, w)
		}
	}
	for i, r := range got.Refused {
		if r != nil {
			t.Errorf("bad map %d was read: %v", i, r)
		}
	}
}
