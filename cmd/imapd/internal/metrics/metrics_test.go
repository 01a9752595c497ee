package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"

	sm "github.com/myriad-mail/myriad/statemachine"
)

// TestCommand: what statemachine.Config.OnCommand reports lands on the
// labels imapd exports; IDLE and commands without a duration are counted
// but not timed.
func TestCommand(t *testing.T) {
	m := New(Sources{})
	m.Command(sm.CmdFetch, true, sm.ResultOK, 1000)
	m.Command(sm.CmdStore, false, sm.ResultNO, 2000)
	m.Command(sm.CmdStore, false, sm.ResultOK, 3e6)
	m.Command(sm.CmdLogin, false, sm.ResultBAD, -1)
	m.Command(sm.CmdIdle, false, sm.ResultOK, 5e9)
	m.Command(sm.CmdUnknown, false, sm.ResultBAD, 10)
	m.Command(sm.CmdNoop, true, sm.ResultBAD, 10) // "UID NOOP": no UID form
	m.Command(sm.CmdExpunge, true, sm.ResultOK, 10)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`myriad_commands_total{command="UID FETCH",result="ok"} 1`,
		`myriad_commands_total{command="FETCH",result="ok"} 0`,
		`myriad_commands_total{command="STORE",result="no"} 1`,
		`myriad_commands_total{command="STORE",result="ok"} 1`,
		`myriad_commands_total{command="LOGIN",result="bad"} 1`,
		`myriad_commands_total{command="IDLE",result="ok"} 1`,
		`myriad_commands_total{command="other",result="bad"} 2`,
		`myriad_commands_total{command="UID EXPUNGE",result="ok"} 1`,
		`myriad_commands_total{command="NAMESPACE",result="ok"} 0`,
		`myriad_command_duration_seconds_count{command="UID FETCH"} 1`,
		`myriad_command_duration_seconds_count{command="STORE"} 2`,
		`myriad_command_duration_seconds_bucket{command="STORE",le="0.0025"} 1`,
		`myriad_command_duration_seconds_count{command="LOGIN"} 0`,
		`myriad_command_duration_seconds_count{command="IDLE"} 0`,
		`myriad_command_duration_seconds_count{command="other"} 2`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, bad := range []string{`command="UNKNOWN"`, `command="UID NOOP"`} {
		if strings.Contains(body, bad) {
			t.Errorf("metrics have %s", bad)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}

// TestCommandAllocs: counting a command allocates nothing.
func TestCommandAllocs(t *testing.T) {
	m := New(Sources{})
	if n := testing.AllocsPerRun(100, func() { m.Command(sm.CmdFetch, true, sm.ResultOK, 1000) }); n != 0 {
		t.Fatalf("%v allocations per command", n)
	}
}
