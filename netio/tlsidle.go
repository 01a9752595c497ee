package netio

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Idle TLS 1.3 connections without their AES-GCM state.
//
// After a TLS 1.3 handshake with an AES-GCM suite, each direction of a
// tls.Conn holds an AEAD (crypto/tls's xorNonceAEAD around an AES-GCM with
// its expanded key schedule and GHASH table): about 900 bytes a direction,
// two thirds of what an idle connection costs once trimTLS has dropped the
// buffers. An idle connection needs none of it. Since crypto/tls keeps the
// direction's traffic secret (for KeyUpdate), the key can be derived again
// (RFC 8446 §7.3: key = HKDF-Expand-Label(secret, "key", "", key_length)),
// so when trimTLS runs, the inner AES-GCM is replaced by a lazyGCM that
// holds only the key and builds an equal AES-GCM on its first use (the
// next record in that direction); the next trim drops it again. The per-
// record nonce (sequence number XOR IV, RFC 8446 §5.3) stays with
// crypto/tls's xorNonceAEAD, which is kept: only the AES-GCM under it is
// swapped, and nonces reach it unchanged.
//
// The swap is checked before it is made: a tag sealed with the derived key
// must open with crypto/tls's own AEAD, which proves both hold the same key
// (AES-GCM is deterministic given key and nonce; Open does not advance any
// state). A direction that fails the check (ChaCha20-Poly1305, an unknown
// hash, a renamed field) is left as it is, and so is a TLS 1.2 connection
// (no traffic secret). A KeyUpdate installs a new xorNonceAEAD with a full
// AES-GCM; the next trim checks and swaps that one too.
//
// The fields are private; their offsets come from reflection, checked by
// type, as for trimTLS. If they do not match, nothing is swapped.

// lazyGCM is an AES-GCM built on first use from its key.
type lazyGCM struct {
	key []byte
	g   cipher.AEAD
}

func (z *lazyGCM) aead() cipher.AEAD {
	if z.g == nil {
		b, err := aes.NewCipher(z.key)
		if err != nil {
			panic("netio: " + err.Error()) // the key's length was checked
		}
		if z.g, err = cipher.NewGCM(b); err != nil {
			panic("netio: " + err.Error())
		}
	}
	return z.g
}

func (z *lazyGCM) NonceSize() int { return 12 }
func (z *lazyGCM) Overhead() int  { return 16 }
func (z *lazyGCM) Seal(dst, nonce, plaintext, ad []byte) []byte {
	return z.aead().Seal(dst, nonce, plaintext, ad)
}
func (z *lazyGCM) Open(dst, nonce, ciphertext, ad []byte) ([]byte, error) {
	return z.aead().Open(dst, nonce, ciphertext, ad)
}

// lazyCiphersEnabled lets tests measure the cost without the swap.
var lazyCiphersEnabled = true

// lazySwaps counts directions whose AES-GCM was swapped for a lazyGCM (the
// check passed); lazyDrops counts AES-GCMs a lazyGCM had rebuilt and a
// later trim dropped. For tests.
var lazySwaps, lazyDrops atomic.Int64

var tlsHalf = func() (o struct {
	ok             bool
	in, out        uintptr // tls.Conn.in, .out (halfConn)
	cipher, secret uintptr // halfConn.cipher (any), .trafficSecret ([]byte)
	mutex          uintptr // halfConn's embedded sync.Mutex
}) {
	ct := reflect.TypeOf(tls.Conn{})
	in, ok1 := ct.FieldByName("in")
	out, ok2 := ct.FieldByName("out")
	if !ok1 || !ok2 || in.Type != out.Type || in.Type.Kind() != reflect.Struct {
		return o
	}
	h := in.Type
	c, ok3 := h.FieldByName("cipher")
	s, ok4 := h.FieldByName("trafficSecret")
	m, ok5 := h.FieldByName("Mutex")
	if ok3 && ok4 && ok5 && c.Type == reflect.TypeFor[any]() && s.Type == reflect.TypeFor[[]byte]() &&
		m.Type == reflect.TypeFor[sync.Mutex]() {
		o.ok, o.in, o.out, o.cipher, o.secret, o.mutex = true, in.Offset, out.Offset, c.Offset, s.Offset, m.Offset
	}
	return o
}()

// xorAEAD is crypto/tls's xorNonceAEAD type and the offset of its inner
// cipher.AEAD, learned from the first connection that has one.
type xorAEAD struct {
	t    reflect.Type
	aead uintptr
}

var xorType atomic.Pointer[xorAEAD]

func xorNonceType(v any) *xorAEAD {
	t := reflect.TypeOf(v)
	if x := xorType.Load(); x != nil {
		if x.t == t {
			return x
		}
		return nil
	}
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct ||
		t.Elem().Name() != "xorNonceAEAD" || t.Elem().PkgPath() != "crypto/tls" {
		return nil
	}
	f, ok := t.Elem().FieldByName("aead")
	if !ok || f.Type != reflect.TypeFor[cipher.AEAD]() {
		return nil
	}
	x := &xorAEAD{t: t, aead: f.Offset}
	xorType.CompareAndSwap(nil, x)
	return xorType.Load()
}

// lazyCiphers swaps both directions' AES-GCM of an idle tls.Conn for
// lazyGCMs (or drops what a lazyGCM built since the last trim). It reports
// whether every direction holds a lazyGCM now. Only the loop calls it, on a
// connection with no step in flight: nothing else uses tc meanwhile.
func lazyCiphers(tc *tls.Conn) bool {
	if !tlsHalf.ok || !lazyCiphersEnabled {
		return false
	}
	p := unsafe.Pointer(tc)
	a := lazyHalf(unsafe.Add(p, tlsHalf.in))
	b := lazyHalf(unsafe.Add(p, tlsHalf.out))
	return a && b
}

func lazyHalf(h unsafe.Pointer) bool {
	mu := (*sync.Mutex)(unsafe.Add(h, tlsHalf.mutex))
	mu.Lock()
	defer mu.Unlock()
	c := *(*any)(unsafe.Add(h, tlsHalf.cipher))
	x := xorNonceType(c)
	if x == nil {
		return false
	}
	slot := (*cipher.AEAD)(unsafe.Add(reflect.ValueOf(c).UnsafePointer(), x.aead))
	if z, ok := (*slot).(*lazyGCM); ok {
		if z.g != nil {
			z.g = nil
			lazyDrops.Add(1)
		}
		return true
	}
	secret := *(*[]byte)(unsafe.Add(h, tlsHalf.secret))
	var key []byte
	var err error
	switch len(secret) {
	case sha256.Size: // TLS_AES_128_GCM_SHA256 (or ChaCha20: the check fails)
		key, err = hkdf.Expand(sha256.New, secret, expandLabelInfo("key", 16), 16)
	case sha512.Size384: // TLS_AES_256_GCM_SHA384
		key, err = hkdf.Expand(sha512.New384, secret, expandLabelInfo("key", 32), 32)
	default:
		return false
	}
	if err != nil {
		return false
	}
	z := &lazyGCM{key: key}
	var nonce [12]byte
	tag := z.aead().Seal(nil, nonce[:], nil, nil)
	if _, err := (*slot).Open(nil, nonce[:], tag, nil); err != nil {
		return false
	}
	z.g = nil
	*slot = z
	lazySwaps.Add(1)
	return true
}

// expandLabelInfo is the HkdfLabel of RFC 8446 §7.1 with an empty context:
// uint16 length, then "tls13 "+label and the context, each with a one-byte
// length.
func expandLabelInfo(label string, length int) string {
	b := make([]byte, 0, 10+len(label))
	b = append(b, byte(length>>8), byte(length), byte(6+len(label)))
	b = append(b, "tls13 "...)
	b = append(b, label...)
	b = append(b, 0)
	return string(b)
}
