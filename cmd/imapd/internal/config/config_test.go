package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadAndFlags(t *testing.T) {
	p := filepath.Join(t.TempDir(), "imapd.toml")
	os.WriteFile(p, []byte(`data_dir = "/srv/mail"
[listen]
imaps = ""
lmtp = "127.0.0.1:2424"
[auth]
failure_delay = "500ms"
[storage]
fsync = "batch"
`), 0o600)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var f Flags
	f.Register(fs)
	if err := fs.Parse([]string{"-config", p, "-imap", "127.0.0.1:1143", "-metrics", "off", "-insecure-auth"}); err != nil {
		t.Fatal(err)
	}
	c, err := f.Resolve(fs)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/srv/mail" || c.Listen.IMAP != "127.0.0.1:1143" || c.Listen.IMAPS != "" ||
		c.Listen.LMTP != "127.0.0.1:2424" || c.Listen.Metrics != "" || !c.Auth.InsecureAuth ||
		c.Auth.FailureDelay.Duration != 500*time.Millisecond || c.Storage.Fsync != "batch" ||
		c.Limits.AutoLogout.Duration != 30*time.Minute {
		t.Fatalf("config %+v", c)
	}
	if c.UsersPath() != "/srv/mail/users" {
		t.Fatalf("users path %q", c.UsersPath())
	}
	if err := c.CheckServe(); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownKeyAndBadValues(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		"[listen]\nimapp = \":143\"\n":       "unknown key",
		"[storage]\nfsync = \"sometimes\"\n": "fsync",
		"[auth]\nfailure_delay = \"soon\"\n": "duration",
	} {
		p := filepath.Join(dir, "c.toml")
		os.WriteFile(p, []byte(body), 0o600)
		c, err := Load(p)
		if err == nil {
			err = c.Check()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one about %q", body, err, want)
		}
	}
	c := Default()
	if err := c.CheckServe(); err == nil {
		t.Error("imaps without a certificate accepted")
	}
}
