// Package config is imapd's configuration: a TOML file (every key is
// documented, with its default, in README.md, "Configuration") and the
// command-line flags that override it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration. The TOML keys are the toml tags.
type Config struct {
	// DataDir holds the mail store, and by default the users file.
	DataDir string `toml:"data_dir"`
	// Hostname is announced in the IMAP greeting and the LMTP banner.
	Hostname string `toml:"hostname"`

	Listen  Listen  `toml:"listen"`
	TLS     TLS     `toml:"tls"`
	Auth    Auth    `toml:"auth"`
	Storage Storage `toml:"storage"`
	Limits  Limits  `toml:"limits"`
	Network Network `toml:"network"`
	Log     Log     `toml:"log"`

	// ShutdownTimeout bounds a graceful stop (SIGTERM): sessions still open
	// after it are closed at once.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
}

// Listen holds the listening addresses; "" disables a listener.
type Listen struct {
	IMAP    string `toml:"imap"`
	IMAPS   string `toml:"imaps"`
	LMTP    string `toml:"lmtp"`
	Metrics string `toml:"metrics"`
}

// TLS names the certificate and key files (PEM), reread on SIGHUP.
type TLS struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// Auth configures logins.
type Auth struct {
	// UsersFile is the passwd-file of users; relative paths are relative
	// to DataDir. Default: DataDir/users.
	UsersFile string `toml:"users_file"`
	// InsecureAuth allows LOGIN and AUTHENTICATE on a connection without TLS.
	InsecureAuth bool `toml:"insecure_auth"`
	// PasswordScheme is the hash `imapd user add|passwd` writes.
	PasswordScheme string `toml:"password_scheme"`
	// FailureDelay is how long a failed login waits before its NO.
	FailureDelay Duration `toml:"failure_delay"`
	// MaxFailuresPerAddr and MaxFailuresPerUser: after this many failures
	// within FailureWindow, logins from that address (for that user) are
	// refused without checking the password until the window passes.
	MaxFailuresPerAddr int      `toml:"max_failures_per_addr"`
	MaxFailuresPerUser int      `toml:"max_failures_per_user"`
	FailureWindow      Duration `toml:"failure_window"`
}

// Storage configures the mail store.
type Storage struct {
	// Fsync is "always", "batch" or "never".
	Fsync          string   `toml:"fsync"`
	BatchInterval  Duration `toml:"batch_interval"`
	LogRotateBytes int64    `toml:"log_rotate_bytes"`
}

// Limits bound what clients may do.
type Limits struct {
	// MaxMessageBytes is the largest message accepted (APPEND, LMTP,
	// deliver); it is the advertised APPENDLIMIT.
	MaxMessageBytes int64 `toml:"max_message_bytes"`
	// MaxLineBytes is the longest command line, literals excluded.
	MaxLineBytes int `toml:"max_line_bytes"`
	// UnauthTimeout, AutoLogout and IdleTimeout are the inactivity limits
	// before login, after login, and in IDLE.
	UnauthTimeout Duration `toml:"unauth_timeout"`
	AutoLogout    Duration `toml:"autologout"`
	IdleTimeout   Duration `toml:"idle_timeout"`
	// MaxOutputBytes: a client that lets more unsent output pile up is
	// disconnected.
	MaxOutputBytes int `toml:"max_output_bytes"`
	// LMTPMaxRecipients bounds RCPT TO per LMTP transaction.
	LMTPMaxRecipients int `toml:"lmtp_max_recipients"`
	// MaxLiteralBufferBytes bounds, server-wide, the bytes of literals
	// (APPEND bodies) held in memory while their commands arrive; a client
	// whose literal does not fit waits for its continuation. APPENDLIMIT is
	// at most this.
	MaxLiteralBufferBytes int64 `toml:"max_literal_buffer_bytes"`
}

// Network tunes the event loops.
type Network struct {
	// Loops is the number of epoll loops (0: one per CPU).
	Loops int `toml:"loops"`
	// Workers is the number of goroutines running storage steps (0: 32 per loop).
	Workers int `toml:"workers"`
	// MaxHandshakes is how many TLS handshakes a loop runs at once (0: 256).
	MaxHandshakes int `toml:"max_handshakes"`
	// HandshakeTimeout bounds a TLS handshake, waiting included.
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	// ReleaseAfter: after this many new connections, the first second
	// without one returns free heap memory to the OS (negative: never).
	ReleaseAfter int `toml:"release_after"`
}

// Log configures log/slog.
type Log struct {
	// Level is "debug", "info", "warn" or "error".
	Level string `toml:"level"`
	// Format is "text" or "json".
	Format string `toml:"format"`
}

// Duration is a time.Duration written as a string in TOML ("30s", "5m").
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Default returns the configuration used for every key the file leaves out.
func Default() Config {
	return Config{
		DataDir:  "/var/lib/myriad",
		Hostname: "",
		Listen: Listen{
			IMAP:    ":143",
			IMAPS:   ":993",
			LMTP:    "127.0.0.1:24",
			Metrics: "127.0.0.1:9143",
		},
		Auth: Auth{
			UsersFile:          "users",
			PasswordScheme:     "BLF-CRYPT",
			FailureDelay:       Duration{2 * time.Second},
			MaxFailuresPerAddr: 10,
			MaxFailuresPerUser: 10,
			FailureWindow:      Duration{5 * time.Minute},
		},
		Storage: Storage{
			Fsync:          "always",
			BatchInterval:  Duration{10 * time.Millisecond},
			LogRotateBytes: 4 << 20,
		},
		Limits: Limits{
			MaxMessageBytes:   64 << 20,
			MaxLineBytes:      64 << 10,
			UnauthTimeout:     Duration{60 * time.Second},
			AutoLogout:        Duration{30 * time.Minute},
			IdleTimeout:       Duration{30 * time.Minute},
			MaxOutputBytes:    4 << 20,
			LMTPMaxRecipients: 100,

			MaxLiteralBufferBytes: 1 << 30,
		},
		Network:         Network{HandshakeTimeout: Duration{30 * time.Second}, ReleaseAfter: 1000},
		Log:             Log{Level: "info", Format: "text"},
		ShutdownTimeout: Duration{30 * time.Second},
	}
}

// Load reads a TOML file over the defaults; unknown keys are errors. An
// empty path gives the defaults.
func Load(path string) (Config, error) {
	c := Default()
	if path == "" {
		return c, nil
	}
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return c, fmt.Errorf("config %s: unknown key %q", path, und[0].String())
	}
	return c, nil
}

// Flags are the command-line overrides of `imapd serve`.
type Flags struct {
	Config                                  string
	Data, IMAP, IMAPS, LMTP, Metrics, Users string
	Cert, Key                               string
	InsecureAuth                            bool
	set                                     map[string]bool
}

// Register defines the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Config, "config", "", "configuration `file` (TOML)")
	fs.StringVar(&f.Data, "data", "", "data `dir`ectory (data_dir)")
	fs.StringVar(&f.IMAP, "imap", "", "IMAP+STARTTLS listen `addr`ess, \"off\" to disable (listen.imap)")
	fs.StringVar(&f.IMAPS, "imaps", "", "IMAP over TLS listen `addr`ess, \"off\" to disable (listen.imaps)")
	fs.StringVar(&f.LMTP, "lmtp", "", "LMTP listen `addr`ess, \"off\" to disable (listen.lmtp)")
	fs.StringVar(&f.Metrics, "metrics", "", "Prometheus metrics listen `addr`ess, \"off\" to disable (listen.metrics)")
	fs.StringVar(&f.Users, "users", "", "users `file` (auth.users_file)")
	fs.StringVar(&f.Cert, "cert", "", "TLS certificate `file`, PEM (tls.cert)")
	fs.StringVar(&f.Key, "key", "", "TLS private key `file`, PEM (tls.key)")
	fs.BoolVar(&f.InsecureAuth, "insecure-auth", false, "allow plaintext authentication without TLS (auth.insecure_auth)")
}

// Resolve loads the file named by -config and applies the flags that were
// set on the command line, then checks the result.
func (f *Flags) Resolve(fs *flag.FlagSet) (Config, error) {
	c, err := Load(f.Config)
	if err != nil {
		return c, err
	}
	f.Apply(fs, &c)
	return c, c.Check()
}

// Apply sets on c the flags of fs that were given on the command line.
func (f *Flags) Apply(fs *flag.FlagSet, c *Config) {
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	addr := func(name, v string, dst *string) {
		if f.set[name] {
			if v == "off" {
				v = ""
			}
			*dst = v
		}
	}
	if f.set["data"] {
		c.DataDir = f.Data
	}
	addr("imap", f.IMAP, &c.Listen.IMAP)
	addr("imaps", f.IMAPS, &c.Listen.IMAPS)
	addr("lmtp", f.LMTP, &c.Listen.LMTP)
	addr("metrics", f.Metrics, &c.Listen.Metrics)
	if f.set["users"] {
		c.Auth.UsersFile = f.Users
	}
	if f.set["cert"] {
		c.TLS.Cert = f.Cert
	}
	if f.set["key"] {
		c.TLS.Key = f.Key
	}
	if f.set["insecure-auth"] {
		c.Auth.InsecureAuth = f.InsecureAuth
	}
}

// Check reports a configuration that cannot work.
func (c *Config) Check() error {
	if c.DataDir == "" {
		return errors.New("config: data_dir is empty")
	}
	if c.Limits.MaxMessageBytes <= 0 || c.Limits.MaxLineBytes <= 0 || c.Limits.MaxLiteralBufferBytes <= 0 {
		return errors.New("config: limits must be positive")
	}
	switch c.Storage.Fsync {
	case "always", "batch", "never":
	default:
		return fmt.Errorf("config: storage.fsync %q: want always, batch or never", c.Storage.Fsync)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("config: log.format %q: want text or json", c.Log.Format)
	}
	return nil
}

// CheckServe adds the checks that matter only to a server.
func (c *Config) CheckServe() error {
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("config: tls.cert and tls.key go together")
	}
	if c.Listen.IMAPS != "" && c.TLS.Cert == "" {
		return errors.New("config: listen.imaps needs tls.cert and tls.key (or -imaps off, listen.imaps = \"\")")
	}
	if c.Listen.IMAP == "" && c.Listen.IMAPS == "" {
		return errors.New("config: no IMAP listener (listen.imap, listen.imaps)")
	}
	return nil
}

// UsersPath is the users file's path on disk.
func (c *Config) UsersPath() string {
	p := c.Auth.UsersFile
	if p == "" {
		p = "users"
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.DataDir, p)
	}
	return p
}

// HostnameOrDefault is Hostname, else the machine's name.
func (c *Config) HostnameOrDefault() string {
	if c.Hostname != "" {
		return c.Hostname
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
