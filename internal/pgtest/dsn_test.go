package pgtest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/lib/pq"
)

func TestWithDatabase(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u:p%40ss@db.example:6543/orig?sslmode=disable&application_name=x",
		"postgres://u@db.example/orig?dbname=other&sslmode=disable",
		"host=db.example port=6543 user=u password='p ss' dbname=orig sslmode=disable",
	} {
		got, err := withDatabase(dsn, "t_1_ab_2")
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		cfg, err := pq.NewConfig(got)
		if err != nil {
			t.Fatal(err)
		}
		orig, err := pq.NewConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Database != "t_1_ab_2" || cfg.Host != orig.Host || cfg.Port != orig.Port ||
			cfg.User != orig.User || cfg.Password != orig.Password || cfg.SSLMode != orig.SSLMode {
			t.Errorf("withDatabase(%q) = %q: settings lost", dsn, got)
		}
	}
}

// fatalRecorder stands in for a test so that URL's failure can be observed.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestURLWithoutMain(t *testing.T) {
	saved := current
	current = nil
	t.Cleanup(func() { current = saved })

	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		URL(rec)
	}()
	<-done
	if !strings.Contains(rec.msg, "TestMain") {
		t.Errorf("message %q does not say to add TestMain", rec.msg)
	}
}
