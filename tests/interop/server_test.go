package interop_test

// The imapd under test: built once by TestMain, started per test on ports
// free at test time, killed by its PID when the test ends (and at the latest
// after its lifetime, so that a hung server fails a test instead of hanging
// it).

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
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

var (
	binDir    string // holds the binaries built by TestMain
	imapdPath string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "interop-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	imapdPath = filepath.Join(dir, "imapd")
	if err := goBuild(imapdPath, "github.com/myriad-mail/myriad/cmd/imapd"); err != nil {
		fmt.Fprintln(os.Stderr, "building imapd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goBuild(out, pkg string) error {
	build := exec.Command("go", "build", "-o", out, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	return build.Run()
}

// freeAddr returns 127.0.0.1:PORT with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
// It keeps at most the last limit bytes (0: everything).
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	limit int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	if s.limit > 0 && s.b.Len() > 2*s.limit {
		rest := append([]byte(nil), s.b.Bytes()[s.b.Len()-s.limit:]...)
		s.b.Reset()
		s.b.Write(rest)
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const (
	testUser = "alice"
	testPass = "correct horse"
)

type server struct {
	t                 *testing.T
	dir, data, config string
	imap, imaps       string
	cert              string // PEM file of the self-signed certificate
	certPool          *x509.CertPool
	cmd               *exec.Cmd
	stderr            *syncBuffer
	exited            chan struct{}
	lifetime          time.Duration
}

// newServer writes a data directory, a self-signed certificate and a config
// file (plus extra, TOML appended at the end), and adds testUser.
func newServer(t *testing.T, extra string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, dir: dir, data: filepath.Join(dir, "data"), config: filepath.Join(dir, "imapd.toml"),
		imap: freeAddr(t), imaps: freeAddr(t), cert: filepath.Join(dir, "cert.pem"), lifetime: 3 * time.Minute}
	if err := os.MkdirAll(s.data, 0o700); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "key.pem")
	s.certPool = writeSelfSigned(t, s.cert, key)
	cfg := fmt.Sprintf(`data_dir = %q
hostname = "localhost"
shutdown_timeout = "5s"

[listen]
imap = %q
imaps = %q
lmtp = ""
metrics = ""

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
`, s.data, s.imap, s.imaps, s.cert, key)
	if err := os.WriteFile(s.config, []byte(cfg+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	s.admin(testPass+"\n", "user", "add", "-config", s.config, testUser)
	return s
}

// writeSelfSigned writes an ECDSA P-256 certificate for localhost and
// 127.0.0.1 and its key, and returns a pool that trusts it.
func writeSelfSigned(t *testing.T, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
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
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return pool
}

// admin runs an imapd subcommand (not the server) and requires exit code 0.
func (s *server) admin(stdin string, args ...string) string {
	s.t.Helper()
	out, code, err := runBounded(60*time.Second, nil, stdin, imapdPath, args...)
	if err != nil || code != 0 {
		s.t.Fatalf("imapd %v: exit code %d, %v\n%s", args, code, err, out)
	}
	return out
}

// runBounded runs a command with stdin, kills it (by its PID) after limit,
// and returns its combined output and exit code; err is set when it could
// not start or was killed.
func runBounded(limit time.Duration, env []string, stdin, name string, args ...string) (string, int, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", -1, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return out.String(), cmd.ProcessState.ExitCode(), nil
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		return out.String(), -1, fmt.Errorf("%s killed after %v", name, limit)
	}
}

// start starts `imapd serve` and waits until it listens.
func (s *server) start() {
	t := s.t
	t.Helper()
	s.stderr = &syncBuffer{limit: 1 << 20}
	s.exited = make(chan struct{})
	s.cmd = exec.Command(imapdPath, "serve", "-config", s.config)
	s.cmd.Stdout, s.cmd.Stderr = s.stderr, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proc, cmd, exited := s.cmd.Process, s.cmd, s.exited
	go func() {
		cmd.Wait()
		close(exited)
	}()
	kill := time.AfterFunc(s.lifetime, func() { proc.Kill() })
	t.Cleanup(func() {
		kill.Stop()
		select {
		case <-exited:
		default:
			proc.Kill()
			<-exited
		}
		if t.Failed() || os.Getenv("INTEROP_TEST_LOG") != "" {
			t.Logf("server log (last MiB):\n%s", s.stderr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.stderr.String(), "imapd started") {
		select {
		case <-s.exited:
			t.Fatalf("imapd exited at start:\n%s", s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("imapd did not start:\n%s", s.stderr.String())
		}
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop sends sig and waits up to limit for the exit; it returns the exit
// code and how long the exit took.
func (s *server) stop(sig syscall.Signal, limit time.Duration) (int, time.Duration) {
	s.t.Helper()
	start := time.Now()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(limit):
		s.t.Fatalf("imapd did not exit within %v of %v", limit, sig)
	}
	return s.cmd.ProcessState.ExitCode(), time.Since(start)
}

// rssKiB reads VmRSS of a process from /proc (kB as the kernel counts).
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// dial opens a go-imap v2 client over plaintext (tls false) or implicit TLS.
func (s *server) dial(useTLS bool, opts *imapclient.Options) (*imapclient.Client, error) {
	if opts == nil {
		opts = &imapclient.Options{}
	}
	opts.TLSConfig = &tls.Config{RootCAs: s.certPool, ServerName: "localhost"}
	opts.Dialer = &net.Dialer{Timeout: 10 * time.Second}
	if useTLS {
		return imapclient.DialTLS(s.imaps, opts)
	}
	return imapclient.DialInsecure(s.imap, opts)
}

// login dials and logs in as testUser; the client is closed at cleanup.
func (s *server) login(useTLS bool) *imapclient.Client {
	s.t.Helper()
	var opts imapclient.Options
	if os.Getenv("INTEROP_TEST_LOG") != "" {
		opts.DebugWriter = os.Stderr
	}
	c, err := s.dial(useTLS, &opts)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	if err := c.Login(testUser, testPass).Wait(); err != nil {
		s.t.Fatalf("login: %v", err)
	}
	return c
}
