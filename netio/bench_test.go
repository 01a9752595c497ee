package netio

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"testing"
)

// BenchmarkEcho measures one command round trip (write a line, read its
// echo) over loopback, one connection per parallel client.
func BenchmarkEcho(b *testing.B) {
	benchEcho(b, false)
}

// BenchmarkEchoTLS is BenchmarkEcho over implicit TLS.
func BenchmarkEchoTLS(b *testing.B) {
	benchEcho(b, true)
}

func benchEcho(b *testing.B, tlsOn bool) {
	ts := startServer(b, nil)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var c net.Conn
		var err error
		if tlsOn {
			c, err = tls.Dial("tcp", ts.tlsAddr, ts.clientTLS)
		} else {
			c, err = net.Dial("tcp", ts.addr)
		}
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		if _, err := r.ReadString('\n'); err != nil {
			b.Error(err)
			return
		}
		line := []byte("a1 NOOP\r\n")
		want := len("ECHO a1 NOOP\r\n")
		if tlsOn {
			want += len(" tls")
		}
		buf := make([]byte, want)
		for pb.Next() {
			if _, err := c.Write(line); err != nil {
				b.Error(err)
				return
			}
			if _, err := io.ReadFull(r, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
