package fuzz

import (
	"fmt"
	"strings"
	"testing"

	sm "github.com/myriad-mail/myriad/statemachine"
)

// Canaries: a checker that cannot fail proves nothing. Each canary turns on
// one of statemachine's planted bugs and runs FuzzSession's world on its
// seeds; the checks must catch it.

type canaryFailure struct{ msg string }

// canaryT records the first failure and stops the world.
type canaryT struct{}

func (canaryT) Fatalf(format string, args ...any) { panic(canaryFailure{fmt.Sprintf(format, args...)}) }
func (canaryT) Fatal(args ...any)                 { panic(canaryFailure{fmt.Sprint(args...)}) }

// runCanary runs every FuzzSession seed script and returns the first
// failure, or "".
func runCanary() (msg string) {
	for _, s := range sessionExtraSeeds {
		msg = func() (msg string) {
			defer func() {
				if r := recover(); r != nil {
					f, ok := r.(canaryFailure)
					if !ok {
						panic(r)
					}
					msg = s.name + ": " + f.msg
				}
			}()
			newSessionWorld(canaryT{}).run([]byte(s.script))
			return ""
		}()
		if msg != "" {
			return msg
		}
	}
	return ""
}

func TestSessionCanaries(t *testing.T) {
	if msg := runCanary(); msg != "" {
		t.Fatalf("without planted bugs: %s", msg)
	}
	for _, c := range []struct {
		name string
		set  *bool
		want string
	}{
		{"ExpungeDuringFetch", &sm.PlantedBugs.ExpungeDuringFetch, "while answering"},
		{"DropFlagUpdates", &sm.PlantedBugs.DropFlagUpdates, "was last told"},
	} {
		*c.set = true
		msg := runCanary()
		*c.set = false
		if !strings.Contains(msg, c.want) {
			t.Errorf("planted bug %s: the checks report %q, want a failure containing %q", c.name, msg, c.want)
		} else {
			t.Logf("planted bug %s caught: %.200s", c.name, msg)
		}
	}
}
