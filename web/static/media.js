// Pure helpers for the player: the codecs string of an init segment (MP4
// or WebM), the MediaSource type to use, and mapping play time to chunks.
// No DOM, no network: they take bytes and numbers and return values.

const MP4_CONTAINERS = new Set(["moov", "trak", "mdia", "minf", "stbl", "edts", "dinf"]);
const VISUAL = new Set(["avc1", "avc3", "hvc1", "hev1", "vp08", "vp09", "av01"]);
const AUDIO = new Set(["mp4a", "Opus", "fLaC", "ac-3", "ec-3"]);
const MAX_BOXES = 10000;

function fourcc(b, o) { return String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]); }
function u32(b, o) { return ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3]; }
function hex2(n) { return n.toString(16).toUpperCase().padStart(2, "0"); }
function dec2(n) { return String(n).padStart(2, "0"); }

// boxes lists the boxes of b[start:end] as {type, start, body, end}; it stops at a malformed size.
function boxes(b, start, end) {
  const out = [];
  let o = start;
  while (o + 8 <= end && out.length < MAX_BOXES) {
    let size = u32(b, o);
    let body = o + 8;
    if (size === 1) {
      if (o + 16 > end) break;
      size = u32(b, o + 8) * 2 ** 32 + u32(b, o + 12);
      body = o + 16;
    } else if (size === 0) size = end - o;
    if (size < body - o || o + size > end) break;
    out.push({ type: fourcc(b, o + 4), start: o, body, end: o + size });
    o += size;
  }
  return out;
}

// esdsCodec reads the audio object type out of an esds box body: "mp4a.40.2" for AAC-LC.
function esdsCodec(b, start, end) {
  let o = start + 4; // version and flags
  const readLen = () => {
    let n = 0;
    for (let i = 0; i < 4 && o < end; i++) {
      const c = b[o++];
      n = (n << 7) | (c & 0x7f);
      if (!(c & 0x80)) break;
    }
    return n;
  };
  let oti = 0;
  while (o < end) {
    const tag = b[o++];
    const len = readLen();
    if (tag === 0x03) { o += 3; continue; } // ES_Descriptor: ES_ID, flags; assume no optional fields
    if (tag === 0x04) { oti = b[o]; o += 13; continue; } // DecoderConfigDescriptor
    if (tag === 0x05 && oti && o < end) {
      let aot = b[o] >> 3;
      if (aot === 31 && o + 1 < end) aot = 32 + (((b[o] & 7) << 3) | (b[o + 1] >> 5));
      return `mp4a.${hex2(oti).toLowerCase()}.${aot}`;
    }
    o += len;
  }
  return oti ? `mp4a.${hex2(oti).toLowerCase()}` : "mp4a.40.2";
}

function sampleEntryCodec(b, box) {
  const t = box.type;
  const childStart = box.body + (VISUAL.has(t) ? 78 : 28);
  const kids = childStart < box.end ? boxes(b, childStart, box.end) : [];
  const kid = (name) => kids.find((k) => k.type === name);
  if (t === "avc1" || t === "avc3") {
    const c = kid("avcC");
    if (c && c.body + 4 <= c.end) return `${t}.${hex2(b[c.body + 1])}${hex2(b[c.body + 2])}${hex2(b[c.body + 3])}`;
    return "avc1.42E01E";
  }
  if (t === "vp09") {
    const c = kid("vpcC");
    if (c && c.body + 7 <= c.end) return `vp09.${dec2(b[c.body + 4])}.${dec2(b[c.body + 5])}.${dec2(b[c.body + 6] >> 4)}`;
    return "vp09.00.10.08";
  }
  if (t === "vp08") return "vp8";
  if (t === "av01") {
    const c = kid("av1C");
    if (c && c.body + 3 <= c.end) {
      const profile = b[c.body + 1] >> 5, level = b[c.body + 1] & 31, tier = b[c.body + 2] >> 7 ? "H" : "M";
      const high = (b[c.body + 2] >> 6) & 1, twelve = (b[c.body + 2] >> 5) & 1;
      const depth = high ? (twelve ? 12 : 10) : 8;
      return `av01.${profile}.${dec2(level)}${tier}.${dec2(depth)}`;
    }
    return "av01.0.04M.08";
  }
  if (t === "mp4a") {
    const c = kid("esds");
    return c ? esdsCodec(b, c.body, c.end) : "mp4a.40.2";
  }
  if (t === "Opus") return "opus";
  if (t === "fLaC") return "flac";
  return t; // hvc1, hev1, ac-3, ec-3: named as is; the browser decides
}

function mp4Codecs(b) {
  const found = [];
  const walk = (start, end, depth) => {
    if (depth > 8) return;
    for (const box of boxes(b, start, end)) {
      if (MP4_CONTAINERS.has(box.type)) walk(box.body, box.end, depth + 1);
      else if (box.type === "stsd" && box.body + 8 <= box.end) {
        for (const e of boxes(b, box.body + 8, box.end)) {
          if (VISUAL.has(e.type) || AUDIO.has(e.type)) found.push(sampleEntryCodec(b, e));
        }
      }
    }
  };
  walk(0, b.length, 0);
  return found;
}

const WEBM_CODECS = [
  ["V_VP9", "vp9"], ["V_VP8", "vp8"], ["V_AV1", "av01.0.04M.08"], ["V_MPEG4/ISO/AVC", "avc1.42E01E"],
  ["A_OPUS", "opus"], ["A_VORBIS", "vorbis"], ["A_AAC", "mp4a.40.2"],
];

function webmCodecs(b) {
  // CodecID is element 0x86 with a short ASCII value; the header is small, so a scan is enough.
  const found = [];
  for (let o = 0; o + 2 < b.length; o++) {
    if (b[o] !== 0x86 || (b[o + 1] & 0x80) === 0) continue;
    const len = b[o + 1] & 0x7f;
    if (len < 5 || len > 32 || o + 2 + len > b.length) continue;
    const id = String.fromCharCode(...b.subarray(o + 2, o + 2 + len));
    const hit = WEBM_CODECS.find(([k]) => id === k);
    if (hit && !found.includes(hit[1])) found.push(hit[1]);
  }
  return found;
}

/** containerOf gives "mp4", "webm" or "" from a MIME type. */
export function containerOf(mime) {
  const m = String(mime || "").toLowerCase().split(";")[0].trim();
  if (m === "video/mp4" || m === "audio/mp4" || m === "video/quicktime") return "mp4";
  if (m === "video/webm" || m === "audio/webm" || m === "video/x-matroska") return "webm";
  return "";
}

/** initCodecs reads the codecs of an init segment (Uint8Array): ["avc1.64001F", "mp4a.40.2"]; [] if it cannot tell. */
export function initCodecs(bytes, mime) {
  if (!(bytes instanceof Uint8Array) || bytes.length < 8) return [];
  try {
    return containerOf(mime) === "webm" ? webmCodecs(bytes) : mp4Codecs(bytes);
  } catch {
    return [];
  }
}

const PROBES = {
  mp4: ["avc1.42E01E,mp4a.40.2", "avc1.64001F,mp4a.40.2", "avc1.42E01E", "mp4a.40.2"],
  webm: ["vp9,opus", "vp8,vorbis", "vp9", "vp8", "opus", "vorbis"],
};

/**
 * sourceType picks the MediaSource type for a file: the codecs read from
 * its init segment when supported, else the first supported probe; null when
 * nothing plays. isSupported is MediaSource.isTypeSupported (passed in, so
 * this stays pure).
 */
export function sourceType(mime, init, isSupported) {
  const container = containerOf(mime);
  if (!container) return null;
  const base = String(mime).split(";")[0].trim().toLowerCase().replace("video/quicktime", "video/mp4").replace("video/x-matroska", "video/webm");
  const found = initCodecs(init, mime);
  const tries = [];
  if (found.length) tries.push(found.join(","));
  const given = /codecs\s*=\s*"?([^";]+)"?/i.exec(String(mime));
  if (given) tries.push(given[1].split(",").map((c) => c.trim()).join(","));
  tries.push(...PROBES[container]);
  for (const c of tries) {
    const type = `${base}; codecs="${c}"`;
    if (isSupported(type)) return type;
  }
  return null;
}

/** chunkSeconds gives a chunk's play time in seconds (durationMs, or duration in seconds); 0 if unknown. */
export function chunkSeconds(c) {
  if (Number.isFinite(c?.durationMs)) return Math.max(0, c.durationMs / 1000);
  if (Number.isFinite(c?.duration)) return Math.max(0, c.duration);
  return 0;
}

/**
 * timeline gives each chunk's start time from the chunk durations (chunk 0,
 * the init segment, plays for 0 s); known is false when a media chunk has no
 * duration, and then times cannot be mapped to chunks.
 */
export function timeline(chunks) {
  const starts = [];
  let t = 0, known = chunks.length > 1;
  chunks.forEach((c, i) => {
    starts.push(t);
    const d = chunkSeconds(c);
    if (i > 0 && d <= 0) known = false;
    t += i > 0 ? d : 0;
  });
  return { starts, total: t, known };
}

/** chunkAt gives the media chunk (1..n-1) playing at time t, for a known timeline. */
export function chunkAt(tl, t) {
  const n = tl.starts.length;
  if (n < 2) return 0;
  let lo = 1, hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (tl.starts[mid] <= t) lo = mid; else hi = mid - 1;
  }
  return lo;
}
