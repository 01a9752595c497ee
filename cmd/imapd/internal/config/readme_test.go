package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestReadmeDocumentsEveryKey: README.md's configuration table has a row
// for every key of Config, with its default as Default() has it.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // key -> default cell
	for _, l := range strings.Split(string(b), "\n") {
		cells := strings.Split(l, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.TrimSpace(cells[2])
	}
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			key := prefix + f.Tag.Get("toml")
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
				walk(key+".", fv)
				continue
			}
			cell, ok := rows[key]
			if !ok {
				t.Errorf("README.md's configuration table has no row for %s", key)
				continue
			}
			if key == "hostname" {
				continue // "the machine's host name"
			}
			var want string
			switch x := fv.Interface().(type) {
			case string:
				want = fmt.Sprintf("`%q`", x)
			case Duration:
				if d, err := time.ParseDuration(strings.Trim(cell, "`\"")); err != nil || d != x.Duration {
					t.Errorf("README.md: %s default %s, Default() has %v", key, cell, x.Duration)
				}
				continue
			default:
				want = fmt.Sprintf("`%v`", x)
			}
			if cell != want {
				t.Errorf("README.md: %s default %s, Default() has %s", key, cell, want)
			}
		}
	}
	walk("", reflect.ValueOf(Default()))
}
