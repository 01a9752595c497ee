package statemachine

import "unicode/utf8"

// Modified UTF-7, RFC 3501 §5.1.3: the encoding of international mailbox
// names for clients that did not enable UTF8=ACCEPT.
//
//   - printable US-ASCII (0x20..0x7e) stands for itself, except "&";
//   - "&-" stands for "&";
//   - "&" starts a run of UTF-16BE code units in modified base64 (RFC 2045
//     base64 with "," instead of "/", no padding) that "-" ends.
//
// The decoder is strict, so that every mailbox name has exactly one encoded
// form: printable ASCII inside a base64 run, a null shift ("-&" or "&" right
// after a run), non-zero padding bits, unpaired surrogates and bytes outside
// 0x20..0x7e are all rejected.

const mutf7Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

// mutf7Value maps a modified base64 character to its 6-bit value, or 0xff.
var mutf7Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(mutf7Alphabet); i++ {
		t[mutf7Alphabet[i]] = byte(i)
	}
	return t
}()

// DecodeMUTF7 appends the UTF-8 form of the modified UTF-7 name src to dst.
// It reports false, with dst in an unspecified state, when src is not valid
// modified UTF-7.
func DecodeMUTF7(dst, src []byte) ([]byte, bool) {
	afterRun := false // the previous byte ended a base64 run
	for i := 0; i < len(src); {
		c := src[i]
		if c < 0x20 || c > 0x7e {
			return dst, false
		}
		if c != '&' {
			dst = append(dst, c)
			i++
			afterRun = false
			continue
		}
		i++
		if i < len(src) && src[i] == '-' {
			dst = append(dst, '&')
			i++
			afterRun = false
			continue
		}
		if afterRun {
			return dst, false // null shift "-&"
		}
		// Base64 run up to "-".
		var bits uint32 // pending bits
		nbits := 0
		var hi rune // pending high surrogate, 0 if none
		units := 0
		for {
			if i >= len(src) {
				return dst, false // no implicit shift back
			}
			c = src[i]
			i++
			if c == '-' {
				break
			}
			v := mutf7Value[c]
			if v == 0xff {
				return dst, false
			}
			bits = bits<<6 | uint32(v)
			nbits += 6
			if nbits < 16 {
				continue
			}
			nbits -= 16
			u := rune(bits >> nbits & 0xffff)
			bits &= 1<<nbits - 1
			units++
			switch {
			case hi != 0:
				if u < 0xdc00 || u > 0xdfff {
					return dst, false
				}
				dst = utf8.AppendRune(dst, 0x10000+(hi-0xd800)<<10+(u-0xdc00))
				hi = 0
			case u >= 0xd800 && u <= 0xdbff:
				hi = u
			case u >= 0xdc00 && u <= 0xdfff:
				return dst, false
			case u >= 0x20 && u <= 0x7e:
				return dst, false // must stand for itself
			default:
				dst = utf8.AppendRune(dst, u)
			}
		}
		// Leftover bits are padding: fewer than 6 of them and all zero.
		if units == 0 || hi != 0 || nbits >= 6 || bits != 0 {
			return dst, false
		}
		afterRun = true
	}
	return dst, true
}

// AppendMUTF7 appends the modified UTF-7 form of the UTF-8 name s to dst.
// Invalid UTF-8 is encoded as U+FFFD.
func AppendMUTF7(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c <= 0x7e {
			if c == '&' {
				dst = append(dst, '&', '-')
			} else {
				dst = append(dst, c)
			}
			i++
			continue
		}
		// A run of characters outside printable ASCII.
		dst = append(dst, '&')
		var bits uint32
		nbits := 0
		put := func(u uint32) {
			bits = bits<<16 | u
			nbits += 16
			for nbits >= 6 {
				nbits -= 6
				dst = append(dst, mutf7Alphabet[bits>>nbits&0x3f])
			}
			bits &= 1<<nbits - 1
		}
		for i < len(s) && (s[i] < 0x20 || s[i] > 0x7e) {
			r, n := utf8.DecodeRuneInString(s[i:])
			i += n
			if r >= 0x10000 {
				r -= 0x10000
				put(uint32(0xd800 + r>>10))
				put(uint32(0xdc00 + r&0x3ff))
			} else {
				put(uint32(r))
			}
		}
		if nbits > 0 {
			dst = append(dst, mutf7Alphabet[bits<<(6-nbits)&0x3f])
		}
		dst = append(dst, '-')
	}
	return dst
}

// isPlainMailboxName reports whether s reads the same in modified UTF-7 and
// in UTF-8: every byte is printable US-ASCII and there is no "&".
func isPlainMailboxName(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c > 0x7e || c == '&' {
			return false
		}
	}
	return true
}
