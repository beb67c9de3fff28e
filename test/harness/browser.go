package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// Browser is one headless Chromium with a profile of its own (a separate
// user data dir: its own IndexedDB, localStorage and keys) and one tab.
// Everything the page writes to its console is kept; ConsoleErrors returns
// the errors and uncaught exceptions.
//
//	b := harness.NewBrowser(t)
//	b.Open(n.HTTPURL + "/?loopback=1")
//	var v string
//	b.Eval(`cairn.version()`, &v)
//
// WebRTC on loopback (see docs/ARCHITECTURE.md, "The browser core"):
// Chromium offers 127.0.0.1 candidates only with
// --allow-loopback-in-peer-connection and camera/microphone permission
// granted to the page's origin; Open grants both. No flag lets the browser
// resolve or reach anything off this machine.
type Browser struct {
	t      testing.TB
	ctx    context.Context // the tab
	cancel context.CancelFunc
	Dir    string // the profile directory

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// browserTimeout bounds one Eval or Open.
const browserTimeout = 60 * time.Second

// ChromiumPath returns the Chromium executable, or "" if none is installed
// (`make deps` installs Debian's chromium).
func ChromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// NeedChromium skips the test when Chromium is missing, or fails it when
// CAIRN_E2E=1 says every prerequisite must be present.
func NeedChromium(t testing.TB) string {
	t.Helper()
	p := ChromiumPath()
	if p == "" {
		if os.Getenv("CAIRN_E2E") == "1" {
			t.Fatal("chromium not found: install it (`make deps` does: apt-get install chromium)")
		}
		t.Skip("chromium not installed (`make deps` installs it)")
	}
	return p
}

// NewBrowser starts a headless Chromium; t.Cleanup stops it.
func NewBrowser(t testing.TB) *Browser {
	t.Helper()
	return NewBrowserExec(t, NeedChromium(t), nil)
}

// NewBrowserExec is NewBrowser with Chromium started through exe: a
// wrapper that runs it elsewhere, such as `ip netns exec NS chromium "$@"`
// in a network namespace of the NAT lab (the DevTools protocol runs over
// a pipe, which crosses namespaces); flags replace or add to the command
// line switches NewBrowser sets (name without dashes: value, or true).
func NewBrowserExec(t testing.TB, exe string, flags map[string]any) *Browser {
	t.Helper()
	dir := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Env("XDG_CONFIG_HOME="+filepath.Join(dir, "xdg-config"), "XDG_CACHE_HOME="+filepath.Join(dir, "xdg-cache")),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
	}
	for k, v := range flags {
		opts = append(opts, chromedp.Flag(k, v))
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{t: t, ctx: ctx, Dir: dir}
	b.cancel = func() { cancel(); acancel() }
	t.Cleanup(b.Close)
	// Start the browser and the tab now, under the tab's own context (the
	// browser lives as long as the context of its first action), so a
	// launch failure is reported here with its cause.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// Close stops the browser (idempotent).
func (b *Browser) Close() {
	if b.cancel != nil {
		b.cancel()
	}
}

// Context is the tab's chromedp context, for actions the harness does not
// wrap.
func (b *Browser) Context() context.Context { return b.ctx }

// Open grants the page's origin camera and microphone (which is what makes
// Chromium offer loopback ICE candidates) and navigates to u.
func (b *Browser) Open(u string) {
	b.t.Helper()
	if err := b.OpenErr(u); err != nil {
		b.t.Fatalf("open %s: %v", u, err)
	}
}

// OpenErr is Open returning its error.
func (b *Browser) OpenErr(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	origin := pu.Scheme + "://" + pu.Host
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	for _, name := range []string{"camera", "microphone"} {
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name},
			Setting:    browser.PermissionSettingGranted,
			Origin:     origin,
		})
		if err != nil {
			return fmt.Errorf("granting %s: %w", name, err)
		}
	}
	return chromedp.Do(ctx, chromedp.Navigate(u))
}

// Eval evaluates a JavaScript expression in the page, awaiting it if it is
// a Promise, and decodes its JSON value into out (nil discards it).
func (b *Browser) Eval(expr string, out any) {
	b.t.Helper()
	if err := b.EvalErr(expr, out); err != nil {
		b.t.Fatalf("eval %s: %v\nconsole:\n%s", short(expr), err, b.ConsoleText())
	}
}

// EvalErr is Eval returning its error (a thrown exception or rejection
// included).
func (b *Browser) EvalErr(expr string, out any) error {
	return b.EvalTimeout(browserTimeout, expr, out)
}

// EvalTimeout is EvalErr with its own bound.
func (b *Browser) EvalTimeout(d time.Duration, expr string, out any) error {
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		if errors.Is(err, chromedp.ErrJSUndefined) && out == nil {
			return nil
		}
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// WaitFor evaluates expr until it is true, or fails the test after d.
func (b *Browser) WaitFor(d time.Duration, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		var ok bool
		last = b.EvalTimeout(10*time.Second, expr, &ok)
		if last == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("waited %v for %s (last error: %v)\nconsole:\n%s", d, short(expr), last, b.ConsoleText())
}

// Screenshot saves a PNG of the viewport at width x height (CSS pixels).
func (b *Browser) Screenshot(path string, width, height int64) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height)); err != nil {
		b.t.Fatalf("viewport: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // let the layout settle
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// Console returns every console message so far.
func (b *Browser) Console() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), b.console...)
}

// ConsoleText is the console so far, one message per line (for failures).
func (b *Browser) ConsoleText() string {
	var sb strings.Builder
	for _, m := range b.Console() {
		sb.WriteString(m.String())
		sb.WriteByte('\n')
	}
	return sb.String()
}

// ConsoleErrors returns the console errors, warnings and uncaught
// exceptions so far.
func (b *Browser) ConsoleErrors() []string {
	var out []string
	for _, m := range b.Console() {
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleException, chromedp.ConsoleWarning:
			out = append(out, m.String())
		}
	}
	return out
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
