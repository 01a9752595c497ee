// Package testserver starts the real imapd binary for end-to-end tests
// (cmd/imapd's and tests/interop's): Main builds it once per test binary;
// New prepares a data directory, a self-signed certificate, a config file
// and a user; Start runs `imapd serve` on ports free at test time on
// 127.0.0.1. Every server is killed by its PID when the test that started
// it ends, and at the latest after Lifetime, so that a hung server fails a
// test instead of hanging it.
package testserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// The user every server is created with.
const (
	User     = "alice"
	Password = "correct horse"
)

var (
	binDir     string
	binary     string
	buildFlags []string // -race under the race detector (race.go)
)

// Main builds imapd into a temporary directory, runs the tests and removes
// it; call it from TestMain. Under the race detector the server is built
// with it too.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "imapd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir, binary = dir, filepath.Join(dir, "imapd")
	if err := GoBuild(binary, "github.com/myriad-mail/myriad/cmd/imapd", buildFlags...); err != nil {
		fmt.Fprintln(os.Stderr, "building imapd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Binary is the path of the imapd that Main built.
func Binary() string { return binary }

// BinDir is the directory Main built imapd into, removed when the tests end
// (for other binaries a test builds).
func BinDir() string { return binDir }

// GoBuild runs `go build -o out [flags] pkg`.
func GoBuild(out, pkg string, flags ...string) error {
	args := append(append([]string{"build", "-o", out}, flags...), pkg)
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	return build.Run()
}

// FreeAddr returns 127.0.0.1:PORT with a port free right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// SyncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
// It keeps at most about the last Limit bytes (0: everything).
type SyncBuffer struct {
	Limit int
	mu    sync.Mutex
	b     bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	if s.Limit > 0 && s.b.Len() > 2*s.Limit {
		rest := append([]byte(nil), s.b.Bytes()[s.b.Len()-s.Limit:]...)
		s.b.Reset()
		s.b.Write(rest)
	}
	return len(p), nil
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Server is one imapd data directory and, once started, its process.
type Server struct {
	t                          *testing.T
	Dir, Data, Config          string
	IMAP, IMAPS, LMTP, Metrics string         // listen addresses
	Cert, Key                  string         // PEM files of the self-signed certificate
	CertPool                   *x509.CertPool // trusts Cert
	Cmd                        *exec.Cmd      // the running `imapd serve`
	Log                        *SyncBuffer    // its stdout and stderr (the last MiB)
	Lifetime                   time.Duration  // killed after this (default 3 minutes)

	exited  chan struct{}
	waitErr error
}

// New writes a data directory, a self-signed certificate for localhost and
// 127.0.0.1, and a config file with every listener on a free port,
// insecure_auth on and PLAIN passwords, and adds User. Edit changes the
// file before Start.
func New(t *testing.T) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{t: t, Dir: dir, Data: filepath.Join(dir, "data"), Config: filepath.Join(dir, "imapd.toml"),
		IMAP: FreeAddr(t), IMAPS: FreeAddr(t), LMTP: FreeAddr(t), Metrics: FreeAddr(t),
		Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem"), Lifetime: 3 * time.Minute}
	if err := os.MkdirAll(s.Data, 0o700); err != nil {
		t.Fatal(err)
	}
	pool, err := WriteSelfSigned(s.Cert, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	s.CertPool = pool
	cfg := fmt.Sprintf(`data_dir = %q
hostname = "localhost"
shutdown_timeout = "10s"

[listen]
imap = %q
imaps = %q
lmtp = %q
metrics = %q

[tls]
cert = %q
key = %q

[auth]
insecure_auth = true
password_scheme = "PLAIN"

[storage]
fsync = "always"

[log]
level = "info"
`, s.Data, s.IMAP, s.IMAPS, s.LMTP, s.Metrics, s.Cert, s.Key)
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Run(t, Password+"\n", 0, "user", "add", "-config", s.Config, User)
	return s
}

// Edit replaces the first old in the config file by new; old must be there.
func (s *Server) Edit(old, new string) {
	s.t.Helper()
	b, err := os.ReadFile(s.Config)
	if err != nil {
		s.t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		s.t.Fatalf("config has no %q:\n%s", old, b)
	}
	if err := os.WriteFile(s.Config, bytes.Replace(b, []byte(old), []byte(new), 1), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// WriteSelfSigned writes an ECDSA P-256 certificate for localhost and
// 127.0.0.1 and its key, and returns a pool that trusts it.
func WriteSelfSigned(certFile, keyFile string) (*x509.CertPool, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return pool, nil
}

// RunBounded runs a command with stdin (and env, nil: the test's), kills
// it (by its PID) after limit, and returns its stdout, its stderr and its
// exit code; err is set when it could not start or was killed.
func RunBounded(limit time.Duration, env []string, stdin, name string, args ...string) (stdout, stderr string, code int, err error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return "", "", -1, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return out.String(), errb.String(), cmd.ProcessState.ExitCode(), nil
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		return out.String(), errb.String(), -1, fmt.Errorf("%s killed after %v", name, limit)
	}
}

// Run runs an imapd subcommand (not the server) with stdin, requires exit
// code want, and returns its standard output.
func (s *Server) Run(t testing.TB, stdin string, want int, args ...string) string {
	t.Helper()
	out, errs, code, err := RunBounded(60*time.Second, nil, stdin, binary, args...)
	if err != nil || code != want {
		t.Fatalf("imapd %v: exit code %d, want %d (%v)\nstdout: %s\nstderr: %s", args, code, want, err, out, errs)
	}
	return out
}

// Start starts `imapd serve` and waits until it listens.
func (s *Server) Start() {
	t := s.t
	t.Helper()
	s.Log = &SyncBuffer{Limit: 1 << 20}
	s.exited = make(chan struct{})
	s.Cmd = exec.Command(binary, "serve", "-config", s.Config)
	s.Cmd.Stdout, s.Cmd.Stderr = s.Log, s.Log
	if err := s.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proc, cmd, exited, log := s.Cmd.Process, s.Cmd, s.exited, s.Log
	go func() {
		s.waitErr = cmd.Wait()
		close(exited)
	}()
	kill := time.AfterFunc(s.Lifetime, func() { proc.Kill() })
	t.Cleanup(func() {
		kill.Stop()
		select {
		case <-exited:
		default:
			proc.Kill()
			<-exited
		}
		if strings.Contains(log.String(), "DATA RACE") {
			t.Errorf("the server reported a data race")
		}
		if t.Failed() || os.Getenv("IMAPD_TEST_LOG") != "" || os.Getenv("INTEROP_TEST_LOG") != "" {
			t.Logf("server log (the last MiB):\n%s", log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.Log.String(), "imapd started") {
		select {
		case <-s.exited:
			t.Fatalf("imapd exited at start: %v\n%s", s.waitErr, s.Log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("imapd did not start:\n%s", s.Log.String())
		}
	}
}

// PID is the running server's process id.
func (s *Server) PID() int { return s.Cmd.Process.Pid }

// Stop sends sig and waits up to limit for the exit; it returns the exit
// code and how long the exit took.
func (s *Server) Stop(sig syscall.Signal, limit time.Duration) (int, time.Duration) {
	s.t.Helper()
	start := time.Now()
	if err := s.Cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(limit):
		s.t.Fatalf("imapd did not exit within %v of %v", limit, sig)
	}
	return s.Cmd.ProcessState.ExitCode(), time.Since(start)
}

// Mode is how a client connects.
type Mode int

const (
	Plain    Mode = iota // IMAP port, no TLS (LOGIN allowed by insecure_auth)
	StartTLS             // IMAP port, then STARTTLS
	TLS                  // implicit TLS port
)

func (m Mode) String() string { return [...]string{"plain", "starttls", "tls"}[m] }

// Modes lists every Mode.
var Modes = []Mode{Plain, StartTLS, TLS}

// Dial opens a go-imap v2 client; the caller closes it.
func (s *Server) Dial(mode Mode, opts *imapclient.Options) (*imapclient.Client, error) {
	if opts == nil {
		opts = &imapclient.Options{}
	}
	opts.TLSConfig = &tls.Config{RootCAs: s.CertPool, ServerName: "localhost"}
	opts.Dialer = &net.Dialer{Timeout: 10 * time.Second}
	if opts.DebugWriter == nil && os.Getenv("IMAPD_TEST_TRACE") != "" {
		opts.DebugWriter = os.Stderr
	}
	switch mode {
	case StartTLS:
		return imapclient.DialStartTLS(s.IMAP, opts)
	case TLS:
		return imapclient.DialTLS(s.IMAPS, opts)
	}
	return imapclient.DialInsecure(s.IMAP, opts)
}

// MustDial is Dial that fails t on error and closes the client when t ends.
func (s *Server) MustDial(t testing.TB, mode Mode, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := s.Dial(mode, opts)
	if err != nil {
		t.Fatalf("dial %v: %v", mode, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Login is MustDial, then LOGIN as User.
func (s *Server) Login(t testing.TB, mode Mode, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c := s.MustDial(t, mode, opts)
	if err := c.Login(User, Password).Wait(); err != nil {
		t.Fatalf("login over %v: %v", mode, err)
	}
	return c
}

// Scrape returns the server's metrics page.
func (s *Server) Scrape(t testing.TB) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + s.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// WaitMetric waits until the metrics hold line (name and value).
func (s *Server) WaitMetric(t testing.TB, line string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		body := s.Scrape(t)
		if strings.Contains(body, "\n"+line+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %q:\n%s", line, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitLog waits until the server's log holds what at least n times.
func (s *Server) WaitLog(t testing.TB, what string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(s.Log.String(), what) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q (x%d) in the log:\n%s", what, n, s.Log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
