package imapmime

import (
	"time"
)

// SentDate parses the message's Date: field (RFC 5322 §3.3, with the
// obsolete forms of §4.3: optional day name and seconds, two- and
// three-digit years, alphabetic zones). It returns the instant as Unix
// seconds; ok is false when there is no Date field or it cannot be parsed.
// SENTBEFORE/SENTON/SENTSINCE compare calendar dates "disregarding time and
// timezone" (RFC 3501 §6.4.4): use SentDay for that.
func SentDate(raw []byte, p *Part) (unix int64, ok bool) {
	t, ok := sentTime(raw, p)
	if !ok {
		return 0, false
	}
	return t.Unix(), true
}

// SentDay returns the date of the Date: field in the field's own time zone,
// as the Unix time of 00:00 UTC on that calendar day.
func SentDay(raw []byte, p *Part) (unixDay int64, ok bool) {
	t, ok := sentTime(raw, p)
	if !ok {
		return 0, false
	}
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix(), true
}

func sentTime(raw []byte, p *Part) (time.Time, bool) {
	v, ok := lastOrFirstField(raw[p.Start:p.Body], "date", false)
	if !ok {
		return time.Time{}, false
	}
	return parseDate(unfold(v))
}

var months = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// parseDate parses an RFC 5322 date-time (obsolete forms included); the
// words are read with comments, white space and ',' skipped.
func parseDate(v []byte) (time.Time, bool) {
	l := &lexer{b: v}
	next := func() []byte {
		for {
			l.skipCFWS()
			if l.i < len(v) && (v[l.i] == ',') {
				l.i++
				continue
			}
			break
		}
		s := l.i
		if l.i < len(v) && (v[l.i] == '+' || v[l.i] == '-') {
			l.i++
		}
		for l.i < len(v) {
			c := v[l.i]
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == '(' || c == ':' {
				break
			}
			l.i++
		}
		return v[s:l.i]
	}
	num := func(b []byte) (int, bool) {
		if len(b) == 0 || len(b) > 4 {
			return 0, false
		}
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	w := next()
	if len(w) > 0 && (w[0] < '0' || w[0] > '9') { // day name
		w = next()
	}
	day, ok := num(w)
	if !ok || day < 1 || day > 31 {
		return time.Time{}, false
	}
	mw := next()
	mon := -1
	if len(mw) >= 3 {
		for i, m := range months {
			if asciiEqualFold(mw[:3], m) {
				mon = i + 1
			}
		}
	}
	if mon < 0 {
		return time.Time{}, false
	}
	year, ok := num(next())
	if !ok {
		return time.Time{}, false
	}
	switch {
	case year < 50:
		year += 2000
	case year < 1000:
		year += 1900
	}
	hour, ok1 := num(next())
	if l.i < len(v) && v[l.i] == ':' {
		l.i++
	}
	min, ok2 := num(next())
	sec := 0
	if l.i < len(v) && v[l.i] == ':' {
		l.i++
		sec, _ = num(next())
	}
	if !ok1 || !ok2 || hour > 23 || min > 59 || sec > 60 {
		return time.Time{}, false
	}
	zone := 0
	if z := next(); len(z) > 0 {
		if (z[0] == '+' || z[0] == '-') && len(z) == 5 {
			if n, ok := num(z[1:]); ok {
				zone = (n/100)*3600 + (n%100)*60
				if z[0] == '-' {
					zone = -zone
				}
			}
		} else {
			switch string(bytesToUpper(z)) {
			case "EDT":
				zone = -4 * 3600
			case "EST", "CDT":
				zone = -5 * 3600
			case "CST", "MDT":
				zone = -6 * 3600
			case "MST", "PDT":
				zone = -7 * 3600
			case "PST":
				zone = -8 * 3600
			}
		}
	}
	t := time.Date(year, time.Month(mon), day, hour, min, sec, 0, time.FixedZone("", zone))
	return t, true
}

func bytesToUpper(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return out
}
