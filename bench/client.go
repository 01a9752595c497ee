package main

// A plain blocking client for the few connections the coordinator itself
// makes (warm-up logins, the delivering session, LMTP).

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

type imapConn struct {
	c   net.Conn
	r   *bufio.Reader
	tag int
}

func dialIMAP(addr string, tlsCfg *tls.Config, user, password string) (*imapConn, error) {
	var c net.Conn
	var err error
	d := &net.Dialer{Timeout: 30 * time.Second}
	if tlsCfg != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, tlsCfg)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	ic := &imapConn{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	g, err := ic.line()
	if err != nil {
		c.Close()
		return nil, err
	}
	if !strings.HasPrefix(g, "* OK") {
		c.Close()
		return nil, fmt.Errorf("greeting %q", g)
	}
	if _, err := ic.cmd(fmt.Sprintf("LOGIN %s %s", user, password)); err != nil {
		c.Close()
		return nil, err
	}
	return ic, nil
}

func (ic *imapConn) line() (string, error) {
	l, err := ic.r.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// cmd runs one command without literals and returns its untagged lines.
func (ic *imapConn) cmd(s string) ([]string, error) {
	ic.tag++
	tag := fmt.Sprintf("k%d", ic.tag)
	if _, err := fmt.Fprintf(ic.c, "%s %s\r\n", tag, s); err != nil {
		return nil, err
	}
	return ic.wait(tag)
}

func (ic *imapConn) wait(tag string) ([]string, error) {
	var un []string
	for {
		l, err := ic.line()
		if err != nil {
			return un, err
		}
		if strings.HasPrefix(l, tag+" ") {
			if strings.HasPrefix(l[len(tag)+1:], "OK") {
				return un, nil
			}
			return un, errors.New(l)
		}
		un = append(un, l)
	}
}

// appendTimed appends msg (LITERAL+) and returns the monotonic time just
// before the command was written and when its tagged OK came back.
func (ic *imapConn) appendTimed(mbox string, msg []byte) (int64, int64, error) {
	ic.tag++
	tag := fmt.Sprintf("k%d", ic.tag)
	b := fmt.Appendf(nil, "%s APPEND %s {%d+}\r\n%s\r\n", tag, mbox, len(msg), msg)
	t0 := mono()
	if _, err := ic.c.Write(b); err != nil {
		return 0, 0, err
	}
	_, err := ic.wait(tag)
	return t0, mono(), err
}

func (ic *imapConn) logout() {
	ic.cmd("LOGOUT")
	ic.c.Close()
}

// lmtpDeliver sends msg to rcpt over LMTP; t0 is just before the final
// "." is written, done when the recipient's reply came back.
func lmtpDeliver(addr, rcpt string, msg []byte) (int64, int64, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReader(c)
	reply := func() (string, error) {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return l, err
			}
			if len(l) >= 4 && l[3] == '-' {
				continue
			}
			if len(l) < 1 || (l[0] != '2' && l[0] != '3') {
				return l, fmt.Errorf("lmtp: %q", strings.TrimSpace(l))
			}
			return l, nil
		}
	}
	if _, err := reply(); err != nil {
		return 0, 0, err
	}
	for _, s := range []string{"LHLO bench", "MAIL FROM:<bench@localhost>", "RCPT TO:<" + rcpt + ">", "DATA"} {
		fmt.Fprintf(c, "%s\r\n", s)
		if _, err := reply(); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", s, err)
		}
	}
	c.Write(msg)
	t0 := mono()
	c.Write([]byte(".\r\n"))
	if _, err := reply(); err != nil {
		return 0, 0, err
	}
	done := mono()
	fmt.Fprintf(c, "QUIT\r\n")
	return t0, done, nil
}
