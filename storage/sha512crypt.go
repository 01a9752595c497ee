package storage

import (
	"crypto/sha512"
	"crypto/subtle"
	"strconv"
	"strings"
)

// SHA-512 crypt ("$6$"), as specified by Ulrich Drepper, "Unix crypt using
// SHA-256 and SHA-512" (https://www.akkadia.org/drepper/SHA-crypt.txt),
// which golang.org/x/crypto does not provide. Dovecot's SHA512-CRYPT scheme
// stores exactly this string.

const (
	sha512CryptRoundsDefault = 5000
	sha512CryptRoundsMin     = 1000
	sha512CryptRoundsMax     = 999999999
	sha512CryptSaltMax       = 16
	cryptB64                 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// sha512Crypt hashes password with setting ("$6$salt" or
// "$6$rounds=N$salt", anything after the salt ignored) and returns the full
// crypt string, or "" if setting is not a $6$ setting.
func sha512Crypt(password, setting string) string {
	if !strings.HasPrefix(setting, "$6$") {
		return ""
	}
	rest := setting[3:]
	rounds, custom := sha512CryptRoundsDefault, false
	if strings.HasPrefix(rest, "rounds=") {
		end := strings.IndexByte(rest, '$')
		if end < 0 {
			return ""
		}
		n, err := strconv.ParseUint(rest[7:end], 10, 64)
		if err != nil {
			return ""
		}
		rounds = int(min(max(n, sha512CryptRoundsMin), sha512CryptRoundsMax))
		custom = true
		rest = rest[end+1:]
	}
	salt := rest
	if i := strings.IndexByte(salt, '$'); i >= 0 {
		salt = salt[:i]
	}
	if len(salt) > sha512CryptSaltMax {
		salt = salt[:sha512CryptSaltMax]
	}
	p, s := []byte(password), []byte(salt)

	b := sha512.New()
	b.Write(p)
	b.Write(s)
	b.Write(p)
	bsum := b.Sum(nil)

	a := sha512.New()
	a.Write(p)
	a.Write(s)
	cnt := len(p)
	for ; cnt > 64; cnt -= 64 {
		a.Write(bsum)
	}
	a.Write(bsum[:cnt])
	for cnt = len(p); cnt > 0; cnt >>= 1 {
		if cnt&1 != 0 {
			a.Write(bsum)
		} else {
			a.Write(p)
		}
	}
	asum := a.Sum(nil)

	dp := sha512.New()
	for range len(p) {
		dp.Write(p)
	}
	dpsum := dp.Sum(nil)
	pseq := make([]byte, 0, len(p))
	for len(pseq)+64 <= len(p) {
		pseq = append(pseq, dpsum...)
	}
	pseq = append(pseq, dpsum[:len(p)-len(pseq)]...)

	ds := sha512.New()
	for range 16 + int(asum[0]) {
		ds.Write(s)
	}
	dssum := ds.Sum(nil)
	sseq := make([]byte, 0, len(s))
	for len(sseq)+64 <= len(s) {
		sseq = append(sseq, dssum...)
	}
	sseq = append(sseq, dssum[:len(s)-len(sseq)]...)

	c := sha512.New()
	sum := asum
	for i := range rounds {
		c.Reset()
		if i&1 != 0 {
			c.Write(pseq)
		} else {
			c.Write(sum)
		}
		if i%3 != 0 {
			c.Write(sseq)
		}
		if i%7 != 0 {
			c.Write(pseq)
		}
		if i&1 != 0 {
			c.Write(sum)
		} else {
			c.Write(pseq)
		}
		sum = c.Sum(sum[:0])
	}

	out := make([]byte, 0, 120)
	out = append(out, "$6$"...)
	if custom {
		out = append(out, "rounds="...)
		out = strconv.AppendInt(out, int64(rounds), 10)
		out = append(out, '$')
	}
	out = append(out, salt...)
	out = append(out, '$')
	enc := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for range n {
			out = append(out, cryptB64[w&0x3f])
			w >>= 6
		}
	}
	for i := range 21 {
		switch i % 3 {
		case 0:
			enc(sum[i], sum[i+21], sum[i+42], 4)
		case 1:
			enc(sum[i+21], sum[i+42], sum[i], 4)
		case 2:
			enc(sum[i+42], sum[i], sum[i+21], 4)
		}
	}
	enc(0, 0, sum[63], 2)
	return string(out)
}

// sha512CryptVerify reports whether password matches the crypt string hash.
func sha512CryptVerify(password, hash string) bool {
	got := sha512Crypt(password, hash)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}
