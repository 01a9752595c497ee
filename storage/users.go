package storage

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// The users file is Dovecot's passwd-file format: one user per line,
//
//	user:{SCHEME}hash[:uid:gid:gecos:home:shell:extra]
//
// with '#' comments. Schemes: PLAIN (alias CLEAR), BLF-CRYPT (bcrypt),
// ARGON2ID and SHA512-CRYPT; a hash without {SCHEME} is taken as CRYPT and
// recognised by its prefix ($2a$/$2b$/$2y$, $6$, $argon2id$).

// Password schemes that HashPassword produces.
const (
	SchemePlain       = "PLAIN"
	SchemeBcrypt      = "BLF-CRYPT"
	SchemeArgon2id    = "ARGON2ID"
	SchemeSHA512Crypt = "SHA512-CRYPT"
)

// Parameters of new hashes.
const (
	bcryptCost     = 10
	argon2Time     = 3
	argon2MemoryKi = 64 * 1024
	argon2Threads  = 1
	argon2KeyLen   = 32
)

// HashPassword returns the users-file password field ({SCHEME}hash) for
// password under scheme.
func HashPassword(scheme, password string) (string, error) {
	switch strings.ToUpper(scheme) {
	case SchemePlain, "CLEAR":
		if strings.ContainsAny(password, ":\n\r") {
			return "", errors.New("storage: PLAIN password cannot hold ':' or a line break")
		}
		return "{PLAIN}" + password, nil
	case SchemeBcrypt:
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
		if err != nil {
			return "", err
		}
		return "{BLF-CRYPT}" + string(h), nil
	case SchemeArgon2id:
		salt := make([]byte, 16)
		rand.Read(salt)
		key := argon2.IDKey([]byte(password), salt, argon2Time, argon2MemoryKi, argon2Threads, argon2KeyLen)
		return fmt.Sprintf("{ARGON2ID}$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argon2MemoryKi, argon2Time, argon2Threads,
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
	case SchemeSHA512Crypt:
		salt := make([]byte, 16)
		rand.Read(salt)
		for i := range salt {
			salt[i] = cryptB64[salt[i]&0x3f]
		}
		return "{SHA512-CRYPT}" + sha512Crypt(password, "$6$"+string(salt)), nil
	}
	return "", fmt.Errorf("storage: unknown password scheme %q", scheme)
}

// VerifyPassword checks password against a users-file password field.
func VerifyPassword(field, password string) bool {
	scheme, hash := "CRYPT", field
	if strings.HasPrefix(field, "{") {
		if i := strings.IndexByte(field, '}'); i > 0 {
			scheme, hash = strings.ToUpper(field[1:i]), field[i+1:]
		}
	}
	if scheme == "CRYPT" {
		switch {
		case strings.HasPrefix(hash, "$2"):
			scheme = SchemeBcrypt
		case strings.HasPrefix(hash, "$6$"):
			scheme = SchemeSHA512Crypt
		case strings.HasPrefix(hash, "$argon2id$"):
			scheme = SchemeArgon2id
		default:
			return false
		}
	}
	switch scheme {
	case SchemePlain, "CLEAR":
		return subtle.ConstantTimeCompare([]byte(hash), []byte(password)) == 1
	case SchemeBcrypt:
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	case SchemeSHA512Crypt:
		return sha512CryptVerify(password, hash)
	case SchemeArgon2id:
		return argon2idVerify(hash, password)
	}
	return false
}

// argon2idVerify checks a PHC string $argon2id$v=19$m=..,t=..,p=..$salt$hash.
func argon2idVerify(phc, password string) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		return false
	}
	var m, t uint32
	var p uint8
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return false
		}
		switch k {
		case "m":
			m = uint32(n)
		case "t":
			t = uint32(n)
		case "p":
			if n > 255 {
				return false
			}
			p = uint8(n)
		}
	}
	// Limits keep a hostile users file from exhausting memory.
	if m == 0 || m > 4<<20 || t == 0 || t > 100 || p == 0 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 1024 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// UserLine is one line of the users file.
type UserLine struct {
	User     string
	Password string // {SCHEME}hash
	Rest     string // the fields after the password, kept as they are
}

// ParseUsers parses a users file. Malformed lines are errors, with their
// line number.
func ParseUsers(data []byte) ([]UserLine, error) {
	var out []UserLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		user, rest, ok := strings.Cut(line, ":")
		if !ok || !validUserName(user) {
			return nil, fmt.Errorf("storage: users file line %d: malformed", n)
		}
		pw, more, _ := strings.Cut(rest, ":")
		out = append(out, UserLine{User: user, Password: pw, Rest: more})
	}
	return out, sc.Err()
}

// FormatUsers writes a users file.
func FormatUsers(users []UserLine) []byte {
	var b bytes.Buffer
	for _, u := range users {
		b.WriteString(u.User)
		b.WriteByte(':')
		b.WriteString(u.Password)
		if u.Rest != "" {
			b.WriteByte(':')
			b.WriteString(u.Rest)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// userDB is the loaded users file and the verified-credentials cache.
type userDB struct {
	s   *Store
	key [32]byte // per-process HMAC key: the cache holds no reusable hash

	mu    sync.RWMutex
	users map[string]string // user → password field

	cacheMu sync.Mutex
	cache   map[[32]byte]struct{}
}

func newUserDB(s *Store) *userDB {
	d := &userDB{s: s, users: map[string]string{}}
	rand.Read(d.key[:])
	return d
}

func (d *userDB) reload() error {
	b, err := readFile(d.s.fs, d.s.cfg.UsersFile)
	if err != nil && !isNotExist(err) {
		return err
	}
	lines, err := ParseUsers(b)
	if err != nil {
		return err
	}
	users := make(map[string]string, len(lines))
	for _, l := range lines {
		users[l.User] = l.Password
	}
	d.mu.Lock()
	d.users = users
	d.mu.Unlock()
	d.cacheMu.Lock()
	d.cache = nil
	d.cacheMu.Unlock()
	return nil
}

func (d *userDB) exists(user string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	_, ok := d.users[user]
	return ok
}

func (d *userDB) cacheKey(user, field, password string) [32]byte {
	h := hmac.New(sha256.New, d.key[:])
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(field))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// verify checks a password, consulting and filling the cache of verified
// credentials (keyed by user, stored hash and password, through an HMAC).
func (d *userDB) verify(user, password string) bool {
	d.mu.RLock()
	field, ok := d.users[user]
	d.mu.RUnlock()
	if !ok {
		return false
	}
	size := d.s.cfg.CredentialCacheSize
	var k [32]byte
	if size > 0 {
		k = d.cacheKey(user, field, password)
		d.cacheMu.Lock()
		_, hit := d.cache[k]
		d.cacheMu.Unlock()
		if hit {
			return true
		}
	}
	if !VerifyPassword(field, password) {
		return false
	}
	if size > 0 {
		d.cacheMu.Lock()
		if d.cache == nil {
			d.cache = map[[32]byte]struct{}{}
		}
		if len(d.cache) >= size {
			for x := range d.cache { // evict about half, at random
				delete(d.cache, x)
				if len(d.cache) < size/2 {
					break
				}
			}
		}
		d.cache[k] = struct{}{}
		d.cacheMu.Unlock()
	}
	return true
}

// UsersFile edits a users file in place (for imapd user add|passwd|del|list).
// Every change rewrites the file atomically.
type UsersFile struct {
	FS   FS
	Path string // inside FS
}

func (u UsersFile) load() ([]UserLine, error) {
	b, err := readFile(u.FS, u.Path)
	if err != nil && !isNotExist(err) {
		return nil, err
	}
	return ParseUsers(b)
}

func (u UsersFile) save(lines []UserLine) error {
	dir, name := path.Split(u.Path)
	dir = strings.TrimSuffix(dir, "/")
	return writeFileAtomic(u.FS, dir, name, "", FormatUsers(lines))
}

// List returns the user names.
func (u UsersFile) List() ([]string, error) {
	lines, err := u.load()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range lines {
		out = append(out, l.User)
	}
	return out, nil
}

// Add adds a user; it fails if the user exists.
func (u UsersFile) Add(user, scheme, password string) error {
	if !validUserName(user) {
		return fmt.Errorf("storage: invalid user name %q", user)
	}
	lines, err := u.load()
	if err != nil {
		return err
	}
	if slices.ContainsFunc(lines, func(l UserLine) bool { return l.User == user }) {
		return fmt.Errorf("storage: user %q exists", user)
	}
	pw, err := HashPassword(scheme, password)
	if err != nil {
		return err
	}
	return u.save(append(lines, UserLine{User: user, Password: pw}))
}

// SetPassword changes a user's password.
func (u UsersFile) SetPassword(user, scheme, password string) error {
	lines, err := u.load()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(lines, func(l UserLine) bool { return l.User == user })
	if i < 0 {
		return fmt.Errorf("storage: no user %q", user)
	}
	if lines[i].Password, err = HashPassword(scheme, password); err != nil {
		return err
	}
	return u.save(lines)
}

// Delete removes a user from the file (their mail stays on disk).
func (u UsersFile) Delete(user string) error {
	lines, err := u.load()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(lines, func(l UserLine) bool { return l.User == user })
	if i < 0 {
		return fmt.Errorf("storage: no user %q", user)
	}
	return u.save(slices.Delete(lines, i, i+1))
}

// Users returns an editor of the store's users file; call ReloadUsers after
// a change so that logins see it.
func (s *Store) Users() UsersFile { return UsersFile{FS: s.fs, Path: s.cfg.UsersFile} }
