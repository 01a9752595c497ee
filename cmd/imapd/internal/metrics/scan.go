package metrics

import "bytes"

// The session exposes no per-command hook, so commands are counted by
// reading the IMAP stream as it passes: each command's first line gives its
// tag and name, each tagged response its result. Only the start and the end
// of lines are looked at, and literals are skipped by their length, so the
// cost is a bytes.IndexByte per line. A Tracker is about 100 bytes and
// allocates only while more than one command is in flight.

// Command names (index 0 is "other").
var commandNames = []string{
	"other",
	"CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "AUTHENTICATE", "LOGIN",
	"ENABLE", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE",
	"UNSUBSCRIBE", "LIST", "LSUB", "NAMESPACE", "STATUS", "APPEND", "IDLE",
	"CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY",
	"MOVE", "ID", "GETQUOTA", "GETQUOTAROOT", "SETQUOTA", "GETACL", "MYRIGHTS",
	"UID FETCH", "UID STORE", "UID SEARCH", "UID COPY", "UID MOVE", "UID EXPUNGE",
}

// Results of a command.
const (
	ResultOK = iota
	ResultNO
	ResultBAD
	nResults
)

var resultNames = [nResults]string{"ok", "no", "bad"}

var commandIndex = func() map[string]uint8 {
	m := make(map[string]uint8, len(commandNames))
	for i, n := range commandNames {
		m[n] = uint8(i)
	}
	return m
}()

func lookupCommand(name []byte) uint8 {
	var up [16]byte
	if len(name) > len(up) {
		return 0
	}
	for i, c := range name {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	return commandIndex[string(up[:len(name)])] // no allocation: map index by string conversion
}

const (
	headMax = 32 // bytes of a command's first line kept to read tag and name
	tailMax = 16 // bytes of a line's end kept to find a literal "{n+}" (up to 11 digits)
)

type pending struct {
	start int64 // nanoseconds, the caller's clock
	hash  uint32
	name  uint8
}

// Tracker follows one connection's commands.
type Tracker struct {
	lit     int64 // literal bytes of input still to skip
	p0      pending
	more    *[]pending // commands in flight past p0; nil when none
	Count   uint32     // commands seen
	first   bool       // not inside a command: the next line starts one
	started bool
	has0    bool
	nh, nt  uint8
	head    [headMax]byte
	tail    [tailMax]byte
}

// Reset forgets partial input (after STARTTLS the stream starts anew).
func (t *Tracker) Reset() {
	t.lit, t.first, t.nh, t.nt = 0, true, 0, 0
}

// Input reads bytes the client sent; now is the caller's clock in ns.
func (t *Tracker) Input(in []byte, now int64) {
	if !t.started {
		t.started, t.first = true, true
	}
	for len(in) > 0 {
		if t.lit > 0 {
			k := int64(len(in))
			if k > t.lit {
				k = t.lit
			}
			in = in[k:]
			t.lit -= k
			continue
		}
		i := bytes.IndexByte(in, '\n')
		line := in
		if i >= 0 {
			line = in[:i+1]
		}
		in = in[len(line):]
		if t.first && int(t.nh) < headMax {
			t.nh += uint8(copy(t.head[t.nh:], line))
		}
		if len(line) >= tailMax {
			t.nt = uint8(copy(t.tail[:], line[len(line)-tailMax:]))
		} else {
			if int(t.nt)+len(line) > tailMax {
				drop := int(t.nt) + len(line) - tailMax
				copy(t.tail[:], t.tail[drop:t.nt])
				t.nt -= uint8(drop)
			}
			t.nt += uint8(copy(t.tail[t.nt:], line))
		}
		if i < 0 {
			return
		}
		if t.first {
			t.command(now)
			t.first = false
		}
		n := literalLen(t.tail[:t.nt])
		t.nt = 0
		if n >= 0 {
			t.lit = n
		} else {
			t.first, t.nh = true, 0
		}
	}
}

// command registers the command whose first line is in head.
func (t *Tracker) command(now int64) {
	h := t.head[:t.nh]
	sp := bytes.IndexByte(h, ' ')
	if sp <= 0 {
		return // DONE, an AUTHENTICATE continuation, or a blank line
	}
	tag, rest := h[:sp], h[sp+1:]
	name := token(rest)
	idx := lookupCommand(name)
	if len(name) == 3 && (name[0]|0x20) == 'u' && (name[1]|0x20) == 'i' && (name[2]|0x20) == 'd' {
		if len(rest) > len(name) {
			sub := token(rest[len(name)+1:])
			var buf [16]byte
			if 4+len(sub) <= len(buf) {
				copy(buf[:], "UID ")
				copy(buf[4:], sub)
				idx = lookupCommand(buf[:4+len(sub)])
			} else {
				idx = 0
			}
		}
	}
	t.Count++
	p := pending{start: now, hash: hashTag(tag), name: idx}
	switch {
	case !t.has0:
		t.p0, t.has0 = p, true
	case t.more == nil:
		t.more = &[]pending{p}
	case len(*t.more) < 64:
		*t.more = append(*t.more, p)
	}
}

func token(b []byte) []byte {
	for i, c := range b {
		if c == ' ' || c == '\r' || c == '\n' {
			return b[:i]
		}
	}
	return b
}

func hashTag(tag []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range tag {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// literalLen returns n if line ends with "{n}" or "{n+}" (and CRLF or LF),
// else -1.
func literalLen(line []byte) int64 {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(line) < 3 || line[len(line)-1] != '}' {
		return -1
	}
	line = line[:len(line)-1]
	if line[len(line)-1] == '+' || line[len(line)-1] == '-' {
		line = line[:len(line)-1]
	}
	var n int64
	i := len(line) - 1
	for ; i >= 0 && '0' <= line[i] && line[i] <= '9'; i-- {
	}
	if i < 0 || line[i] != '{' || i == len(line)-1 || len(line)-1-i > 18 {
		return -1
	}
	for _, c := range line[i+1:] {
		n = n*10 + int64(c-'0')
	}
	return n
}

// Output reads one step's output (whole responses) and calls done for each
// tagged response that answers a tracked command.
func (t *Tracker) Output(out []byte, now int64, done func(name uint8, result int, dur int64)) {
	if !t.has0 {
		return
	}
	cont := false // the next line continues a response (after a literal)
	for len(out) > 0 && t.has0 {
		i := bytes.IndexByte(out, '\n')
		if i < 0 {
			return
		}
		line := out[:i+1]
		out = out[i+1:]
		if !cont && line[0] != '*' && line[0] != '+' {
			t.tagged(line, now, done)
		}
		cont = false
		if n := literalLen(line[max(0, len(line)-tailMax):]); n >= 0 {
			if n > int64(len(out)) {
				return
			}
			out = out[n:]
			cont = true
		}
	}
}

func (t *Tracker) tagged(line []byte, now int64, done func(uint8, int, int64)) {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return
	}
	st := token(line[sp+1:])
	var res int
	switch string(st) {
	case "OK":
		res = ResultOK
	case "NO":
		res = ResultNO
	case "BAD":
		res = ResultBAD
	default:
		return
	}
	h := hashTag(line[:sp])
	if t.has0 && t.p0.hash == h {
		done(t.p0.name, res, now-t.p0.start)
		t.has0 = false
		if t.more != nil {
			m := *t.more
			t.p0, t.has0 = m[0], true
			t.drop(m, 0)
		}
		return
	}
	if t.more == nil {
		return
	}
	for j, p := range *t.more {
		if p.hash == h {
			done(p.name, res, now-p.start)
			t.drop(*t.more, j)
			return
		}
	}
}

func (t *Tracker) drop(m []pending, j int) {
	m = append(m[:j], m[j+1:]...)
	if len(m) == 0 {
		t.more = nil
	} else {
		*t.more = m
	}
}
