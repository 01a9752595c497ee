// Command imapbench is Myriad's load generator for the scale benchmarks of
// docs/BENCHMARKS.md: idle sessions and their memory, fan-out of a new
// message to IDLE sessions, session setup rate, and a checked mixed
// workload, against Myriad or Dovecot alike.
//
//	imapbench users -n 1000 [-scheme PLAIN|BLF-CRYPT] [-password PW] > users
//	imapbench idle -pid PID -addr 127.0.0.1:143 -n 19000 [-users 200] [-tls] [-lmtp ADDR]
//	imapbench throughput -addr 127.0.0.1:143 -clients 100 -duration 20s
//	imapbench mem -pid PID
//
// It holds no goroutine per connection: each worker process runs one epoll
// loop for all of its sessions, and a small fixed pool of dialer
// goroutines connects (and does TLS handshakes) before handing sockets to
// the loop. Idle runs spawn worker processes ("imapbench worker ...") so
// that no process holds more than ~9,500 sockets.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "imapbench: "+format+"\n", a...)
	os.Exit(1)
}

const usage = `usage: imapbench users|idle|throughput|mem [flags]   ("imapbench CMD -h" lists flags)`

func main() {
	if len(os.Args) < 2 {
		die("%s", usage)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "users":
		cmdUsers(args)
	case "idle":
		cmdIdle(args)
	case "worker":
		cmdWorker(args)
	case "throughput":
		cmdThroughput(args)
	case "mem":
		cmdMem(args)
	default:
		die("%s", usage)
	}
}

// cmdUsers writes a passwd-file (Dovecot's format, which Myriad reads
// too): user:{SCHEME}hash.
func cmdUsers(args []string) {
	fs := flag.NewFlagSet("users", flag.ExitOnError)
	n := fs.Int("n", 1000, "users")
	userFmt := fs.String("user-fmt", "bench%d", "user name format")
	password := fs.String("password", "benchpw", "every user's password")
	scheme := fs.String("scheme", "PLAIN", "PLAIN or BLF-CRYPT (bcrypt, cost 10)")
	fs.Parse(args)
	// One hash serves every user: each login still pays one bcrypt
	// verification, and writing 1,000 hashes would take a minute.
	var field string
	switch strings.ToUpper(*scheme) {
	case "PLAIN":
		field = "{PLAIN}" + *password
	case "BLF-CRYPT":
		h, err := bcrypt.GenerateFromPassword([]byte(*password), 10)
		if err != nil {
			die("%v", err)
		}
		field = "{BLF-CRYPT}" + string(h)
	default:
		die("users: unknown scheme %q", *scheme)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for i := range *n {
		fmt.Fprintf(w, "%s:%s\n", fmt.Sprintf(*userFmt, i), field)
	}
}

func cmdMem(args []string) {
	fs := flag.NewFlagSet("mem", flag.ExitOnError)
	pid := fs.Int("pid", 0, "root process id")
	fs.Parse(args)
	pss, n := treePSS(*pid)
	k := readKernel()
	fmt.Printf("pss=%d procs=%d slab=%d kstack=%d pagetables=%d tcp_mem=%d tcp_inuse=%d\n", pss, n, k.Slab, k.KernelStack, k.PageTables, k.TCPMem, k.TCPInuse)
}
