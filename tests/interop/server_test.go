package interop_test

// The imapd under test comes from internal/testserver (built once by
// TestMain, started per test on ports free at test time, killed by its PID
// when the test ends); what is here is only what these tests add.

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/myriad-mail/myriad/internal/testserver"
)

func TestMain(m *testing.M) { testserver.Main(m) }

const (
	testUser = testserver.User
	testPass = testserver.Password
)

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// mode is the client connection for useTLS: implicit TLS or plaintext.
func mode(useTLS bool) testserver.Mode {
	if useTLS {
		return testserver.TLS
	}
	return testserver.Plain
}

// runBounded is testserver.RunBounded with stdout and stderr together.
func runBounded(limit time.Duration, env []string, stdin, name string, args ...string) (string, int, error) {
	out, errs, code, err := testserver.RunBounded(limit, env, stdin, name, args...)
	return out + errs, code, err
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
