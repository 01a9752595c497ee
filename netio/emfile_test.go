package netio

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAcceptEMFILE runs a server in a child process limited to 40 file
// descriptors and connects 60 clients: accept fails with EMFILE, the
// listener pauses instead of spinning, and as clients leave every waiting
// one is accepted and greeted.
func TestAcceptEMFILE(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperEMFILE$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MYRIAD_NETIO_EMFILE=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	sc := bufio.NewScanner(stdout)
	var addr string
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatal("helper did not start")
	}
	const n = 60
	var cs []net.Conn
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
	}
	for i, c := range cs {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		l, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "* OK fake") {
			t.Fatalf("client %d: %q %v", i, l, err)
		}
		c.Close()
	}
	stdin.Close()
	var stats string
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "STATS "); ok {
			stats = s
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	var errs, accepted int
	if _, err := fmt.Sscanf(stats, "accept_errors=%d accepted=%d", &errs, &accepted); err != nil {
		t.Fatalf("stats %q: %v", stats, err)
	}
	if errs == 0 || accepted != n {
		t.Fatalf("accept errors %d, accepted %d; want > 0 and %d", errs, accepted, n)
	}
	t.Logf("%d EMFILE pauses, %d accepted", errs, accepted)
}

// TestHelperEMFILE is the server side of TestAcceptEMFILE.
func TestHelperEMFILE(t *testing.T) {
	if os.Getenv("MYRIAD_NETIO_EMFILE") == "" {
		t.Skip("helper process only")
	}
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	rl.Cur = 40
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{Loops: 1, Workers: 1}, newHub().factory)
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ADDR", a)
	io.Copy(io.Discard, os.Stdin)
	st := srv.Stats()
	fmt.Printf("STATS accept_errors=%d accepted=%d\n", st.AcceptErrors, st.Accepted)
	srv.Shutdown(t.Context())
}
