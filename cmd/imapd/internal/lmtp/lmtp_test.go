package lmtp

import (
	"os"
	"path/filepath"
	"testing"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"Subject: x\n\nbody\n":         "Subject: x\r\n\r\nbody\r\n",
		"Subject: x\r\n\r\nbody\r\n":   "Subject: x\r\n\r\nbody\r\n",
		"Subject: x\n\nno final break": "Subject: x\r\n\r\nno final break\r\n",
		"a\r\nb\nc\r\n":                "a\r\nb\r\nc\r\n",
	} {
		if got := string(Normalize([]byte(in), "", false)); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := string(Normalize([]byte("S: x\n\nb\n"), "bob@example.org", true)); got != "Return-Path: <bob@example.org>\r\nS: x\r\n\r\nb\r\n" {
		t.Errorf("with sender: %q", got)
	}
	if got := string(Normalize([]byte("S: x\n\nb\n"), "", true)); got != "Return-Path: <>\r\nS: x\r\n\r\nb\r\n" {
		t.Errorf("null sender: %q", got)
	}
	if got := string(StripMboxFrom([]byte("From bob@example.org Sat Nov 28 10:00:00 2026\nS: x\n"))); got != "S: x\n" {
		t.Errorf("StripMboxFrom: %q", got)
	}
	if got := string(StripMboxFrom([]byte("From: bob\n"))); got != "From: bob\n" {
		t.Errorf("StripMboxFrom took a header: %q", got)
	}
}

func TestResolve(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users")
	os.WriteFile(p, []byte("alice:{PLAIN}x\ncarol@example.org:{PLAIN}y\n"), 0o600)
	d := &Deliverer{UsersPath: p}
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"alice": "alice", "<alice@example.org>": "alice", "alice@anything": "alice",
		"carol@example.org": "carol@example.org", "carol": "", "bob@example.org": "",
	} {
		got, ok := d.Resolve(in)
		if got != want || ok != (want != "") {
			t.Errorf("Resolve(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}
