package certs

import (
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPollInterval is how often CertReloader and ClientAuth look at their files.
const DefaultPollInterval = 2 * time.Second

// Size limits for the files this package reads: every input is bounded.
const (
	maxPEMFile = 1 << 20  // certificates, keys and CA bundles
	maxCRLFile = 32 << 20 // CRLs of a private client CA are small; public CAs' can reach megabytes
)

// Option adjusts a CertReloader or a ClientAuth.
type Option func(*options)

type options struct {
	poll     time.Duration
	logger   *slog.Logger
	now      func() time.Time
	crlGrace time.Duration
}

func buildOptions(opts []Option) options {
	o := options{poll: DefaultPollInterval, now: time.Now, crlGrace: DefaultCRLGrace}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o
}

// WithPollInterval sets how often the files are checked for changes. Zero or less turns the
// background poll off; Reload then is the only way to pick up new files (tests use this).
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.poll = d } }

// WithLogger sets where failed reloads and stale CRLs are reported; the default is slog.Default.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock injects the clock used for certificate expiry and CRL freshness.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithCRLGrace sets how long after its nextUpdate a CRL is still trusted (ClientAuth only); see
// DefaultCRLGrace.
func WithCRLGrace(d time.Duration) Option { return func(o *options) { o.crlGrace = d } }

// readBounded reads a whole file, refusing one larger than limit.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// watcher notices when a set of files changes and hands their new contents to load.
//
// It polls rather than using inotify: editors, `kubectl` secret mounts and cert-manager replace
// a file by writing a new one and renaming it over the old (or swapping a symlinked directory),
// and an inotify watch on the old inode silently stops reporting after the first such swap.
// A stat every few seconds is cheap and cannot miss a rename.
type watcher struct {
	paths  []string
	limits []int64
	load   func(contents [][]byte) error
	logger *slog.Logger
	what   string // for log lines: "certificate", "client CA"

	mu      sync.Mutex // serialises checks; guards the fields below
	stats   []os.FileInfo
	sums    [][sha256.Size]byte
	lastErr string

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// start runs the background poll; interval <= 0 means no poll.
func (w *watcher) start(interval time.Duration) {
	w.stop = make(chan struct{})
	w.done = make(chan struct{})
	if interval <= 0 {
		close(w.done)
		return
	}
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.poll()
			}
		}
	}()
}

// close stops the poll and waits for it; safe to call more than once.
func (w *watcher) close() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// poll checks the files and logs a failure once per distinct failure, not every tick.
func (w *watcher) poll() {
	err := w.check(false)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.lastErr = ""
		return
	}
	if msg := err.Error(); msg != w.lastErr {
		w.lastErr = msg
		w.logger.Warn("certs: reload failed; still serving the previous "+w.what,
			slog.Any("files", w.paths), slog.String("error", msg))
	}
}

// check loads the files if they changed since the last check (or always, if force). Files that
// failed to load are remembered too, so a bad file is retried only once it changes again.
func (w *watcher) check(force bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	stats := make([]os.FileInfo, len(w.paths))
	changed := force || w.stats == nil
	for i, p := range w.paths {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		stats[i] = fi
		if !changed && !sameStat(w.stats[i], fi) {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	contents := make([][]byte, len(w.paths))
	sums := make([][sha256.Size]byte, len(w.paths))
	for i, p := range w.paths {
		b, err := readBounded(p, w.limits[i])
		if err != nil {
			return err
		}
		contents[i], sums[i] = b, sha256.Sum256(b)
	}
	same := w.sums != nil
	for i := range sums {
		same = same && sums[i] == w.sums[i]
	}
	w.stats = stats
	if same && !force {
		return nil // touched or rewritten with identical bytes
	}
	w.sums = sums
	return w.load(contents)
}

// sameStat reports whether a file looks unchanged: same inode (a rename over it changes
// that), size and modification time.
func sameStat(a, b os.FileInfo) bool {
	return a != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// CertReloader serves a certificate and key from files and picks up new files without a
// restart, so certificates can be renewed (by cert-manager, ACME clients, an operator) while
// connections keep flowing. Established connections are unaffected; new handshakes get the new
// pair. Create one with NewCertReloader and stop it with Close.
type CertReloader struct {
	current atomic.Pointer[tls.Certificate]
	w       *watcher
	now     func() time.Time
}

// NewCertReloader loads the PEM certificate chain in certFile and its private key in keyFile
// and starts polling them. The first load failing is an error: Tiaki does not start without a
// certificate. Later a bad pair (unparsable, mismatched, expired, or half-written) is logged and
// the previous pair keeps serving.
func NewCertReloader(certFile, keyFile string, opts ...Option) (*CertReloader, error) {
	o := buildOptions(opts)
	r := &CertReloader{now: o.now}
	r.w = &watcher{
		paths:  []string{certFile, keyFile},
		limits: []int64{maxPEMFile, maxPEMFile},
		load:   r.load,
		logger: o.logger,
		what:   "certificate",
	}
	if err := r.w.check(true); err != nil {
		return nil, err
	}
	r.w.start(o.poll)
	return r, nil
}

func (r *CertReloader) load(contents [][]byte) error {
	certFile, keyFile := r.w.paths[0], r.w.paths[1]
	cert, err := tls.X509KeyPair(contents[0], contents[1])
	if err != nil {
		// X509KeyPair's errors describe the PEM structure, never the key material.
		return fmt.Errorf("certs: %s and %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		return fmt.Errorf("certs: %s: no certificate", certFile)
	}
	if now := r.now(); now.After(cert.Leaf.NotAfter) {
		return fmt.Errorf("certs: %s: certificate expired at %s", certFile,
			cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	r.current.Store(&cert)
	return nil
}

// GetCertificate returns the current certificate; use it as tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.current.Load(), nil
}

// GetClientCertificate returns the current certificate; use it as
// tls.Config.GetClientCertificate to present a renewable certificate to a backend (MTLS-03).
func (r *CertReloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.current.Load(), nil
}

// Reload reads the files now, whether or not they look changed. On error the previous pair
// keeps serving.
func (r *CertReloader) Reload() error { return r.w.check(true) }

// Close stops the background poll. GetCertificate keeps serving the last pair.
func (r *CertReloader) Close() error {
	r.w.close()
	return nil
}
