package storage

import (
	"errors"
	"strings"
	"testing"

	"github.com/myriad-mail/myriad/statemachine"
)

// Known vectors: SHA-512 crypt from Drepper's specification and glibc
// crypt(3); bcrypt from crypt_blowfish's tests; Argon2id from the reference
// implementation's test.c (t=2, m=64 MiB, p=1, "password", "somesalt").
var passwordVectors = []struct {
	field, password string
}{
	{"{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", "Hello world!"},
	{"{SHA512-CRYPT}$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.", "Hello world!"},
	{"{SHA512-CRYPT}$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1", "a very much longer text to encrypt.  This one even stretches over morethan one line."},
	{"$6$x$QSmr1Bx2g4O6BzKvdkgOcyU6H91X6I/XBv5pSalMhSPkwdH6Beo3F455xZJg0v//bxVK5F4OE5k1.0xuR26MK0", ""},
	{"{BLF-CRYPT}$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
	{"{BLF-CRYPT}$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
	{"$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a", "U*U*U"},
	{"{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "password"},
	{"{PLAIN}secret", "secret"},
	{"{CLEAR}secret", "secret"},
}

func TestPasswordVectors(t *testing.T) {
	for _, v := range passwordVectors {
		if !VerifyPassword(v.field, v.password) {
			t.Errorf("VerifyPassword(%q, %q) = false", v.field, v.password)
		}
		if VerifyPassword(v.field, v.password+"x") {
			t.Errorf("VerifyPassword(%q, wrong) = true", v.field)
		}
	}
	if got := sha512Crypt("Hello world!", "$6$saltstring"); got != strings.TrimPrefix(passwordVectors[0].field, "{SHA512-CRYPT}") {
		t.Errorf("sha512Crypt = %q", got)
	}
	for _, bad := range []string{"{MD5}x", "{ARGON2ID}$argon2id$v=19$m=99999999,t=2,p=1$c29tZQ$c29tZQ", "{SHA512-CRYPT}$5$x$y", "nonsense", ""} {
		if VerifyPassword(bad, "x") {
			t.Errorf("VerifyPassword(%q) = true", bad)
		}
	}
}

func TestHashPasswordRoundTrip(t *testing.T) {
	for _, scheme := range []string{SchemePlain, SchemeBcrypt, SchemeArgon2id, SchemeSHA512Crypt} {
		f, err := HashPassword(scheme, "correct horse")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(f, "{"+scheme+"}") || !VerifyPassword(f, "correct horse") || VerifyPassword(f, "correct horsf") {
			t.Errorf("%s: %q does not verify", scheme, f)
		}
	}
}

func TestUsersFileAndCache(t *testing.T) {
	fsys := NewMemFS(MemFSOptions{})
	uf := UsersFile{FS: fsys, Path: "users"}
	if err := uf.Add("carol", SchemeBcrypt, "pw1"); err != nil {
		t.Fatal(err)
	}
	if err := uf.Add("carol", SchemePlain, "x"); err == nil {
		t.Fatal("duplicate add succeeded")
	}
	if err := uf.Add("bad:name", SchemePlain, "x"); err == nil {
		t.Fatal("bad name accepted")
	}
	s := newTestStore(t, fsys, nil)
	if _, err := s.Login("carol", "pw1"); err != nil {
		t.Fatal(err)
	}
	// A cached login does not run bcrypt again: measure it.
	if n := testing.AllocsPerRun(10, func() { s.Login("carol", "pw1") }); n > 50 {
		t.Errorf("cached login allocates %v", n)
	}
	if err := uf.SetPassword("carol", SchemeSHA512Crypt, "pw2"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReloadUsers(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login("carol", "pw1"); !errors.Is(err, statemachine.ErrAuthFailed) {
		t.Fatalf("old password after change: %v", err)
	}
	if _, err := s.Login("carol", "pw2"); err != nil {
		t.Fatal(err)
	}
	if err := uf.Delete("carol"); err != nil {
		t.Fatal(err)
	}
	s.ReloadUsers()
	if _, err := s.Login("carol", "pw2"); !errors.Is(err, statemachine.ErrAuthFailed) {
		t.Fatalf("deleted user: %v", err)
	}
	names, _ := uf.List()
	if len(names) != 0 {
		t.Fatalf("list: %v", names)
	}
	// Dovecot lines with extra fields and comments parse.
	lines, err := ParseUsers([]byte("# comment\n\ndave:{PLAIN}x:1000:1000::/home/dave::userdb_mail=maildir\n"))
	if err != nil || len(lines) != 1 || lines[0].User != "dave" || lines[0].Password != "{PLAIN}x" {
		t.Fatalf("parse: %+v %v", lines, err)
	}
}

func BenchmarkLoginCached(b *testing.B) {
	fsys := NewMemFS(MemFSOptions{})
	(UsersFile{FS: fsys, Path: "users"}).Add("carol", SchemeBcrypt, "pw")
	s := newTestStore(b, fsys, nil)
	s.Login("carol", "pw")
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Login("carol", "pw"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoginUncached(b *testing.B) {
	fsys := NewMemFS(MemFSOptions{})
	(UsersFile{FS: fsys, Path: "users"}).Add("carol", SchemeBcrypt, "pw")
	s := newTestStore(b, fsys, func(c *Config) { c.CredentialCacheSize = -1 })
	for b.Loop() {
		if _, err := s.Login("carol", "pw"); err != nil {
			b.Fatal(err)
		}
	}
}
