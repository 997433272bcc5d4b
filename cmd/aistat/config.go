package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is everything the serve command is configured with: flags, each
// with an environment fallback.
type Config struct {
	Addr              string
	DatabaseURL       string
	DataDir           string
	Demo              bool
	SecureCookies     bool
	SessionLifetime   time.Duration
	SessionMaxAge     time.Duration
	SessionRefresh    time.Duration
	ListenDatabaseURL string
	TrustedProxies    []netip.Prefix
}

// envFlags binds flags to a flag set with defaults taken from the
// environment, remembering the first environment value that did not parse.
type envFlags struct {
	fs     *flag.FlagSet
	getenv func(string) string
	err    error
}

func (e *envFlags) env(name string) (string, bool) {
	v := e.getenv(name)
	return v, v != ""
}

func (e *envFlags) string(p *string, name, env, def, usage string) {
	if v, ok := e.env(env); ok {
		def = v
	}
	e.fs.StringVar(p, name, def, usage+" (env "+env+")")
}

func (e *envFlags) bool(p *bool, name, env string, def bool, usage string) {
	if v, ok := e.env(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil && e.err == nil {
			e.err = fmt.Errorf("%s=%q: want true or false", env, v)
		}
		def = b
	}
	e.fs.BoolVar(p, name, def, usage+" (env "+env+")")
}

func (e *envFlags) duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := e.env(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil && e.err == nil {
			e.err = fmt.Errorf("%s=%q: want a duration like 336h", env, v)
		}
		def = d
	}
	e.fs.DurationVar(p, name, def, usage+" (env "+env+")")
}

// parseConfig reads the serve command's flags and environment. --demo
// defaults to on for the embedded database and off for DATABASE_URL.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("aistat serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs, getenv: getenv}
	var proxies, demo string
	e.string(&cfg.Addr, "addr", "AISTAT_ADDR", "127.0.0.1:8080", "address to listen on")
	e.string(&cfg.DatabaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL URL; empty runs the embedded default database")
	e.string(&cfg.DataDir, "data-dir", "AISTAT_DATA_DIR", "./.data", "folder of the embedded default database")
	e.string(&demo, "demo", "AISTAT_DEMO", "", "create the demo users when missing (default: on for the embedded database)")
	e.bool(&cfg.SecureCookies, "secure-cookies", "AISTAT_SECURE_COOKIES", false, "Secure, __Host- cookies and HSTS; turn on behind HTTPS")
	e.duration(&cfg.SessionLifetime, "session-lifetime", "AISTAT_SESSION_LIFETIME", 336*time.Hour, "idle timeout of a session")
	e.duration(&cfg.SessionMaxAge, "session-max-age", "AISTAT_SESSION_MAX_AGE", 720*time.Hour, "absolute lifetime of a session")
	e.duration(&cfg.SessionRefresh, "session-refresh", "AISTAT_SESSION_REFRESH", time.Hour, "how often a session's expiry may be written")
	e.string(&cfg.ListenDatabaseURL, "listen-database-url", "AISTAT_LISTEN_DATABASE_URL", "", "PostgreSQL URL for LISTEN (default: the database URL)")
	e.string(&proxies, "trusted-proxies", "AISTAT_TRUSTED_PROXIES", "", "comma-separated CIDRs whose X-Forwarded-For is believed")
	if e.err != nil {
		return cfg, e.err
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.Demo = cfg.DatabaseURL == ""
	if demo != "" {
		b, err := strconv.ParseBool(demo)
		if err != nil {
			return cfg, fmt.Errorf("--demo=%q: want true or false", demo)
		}
		cfg.Demo = b
	}
	for _, p := range strings.Split(proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return cfg, fmt.Errorf("--trusted-proxies: %q is not a CIDR", p)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, prefix)
	}
	switch {
	case cfg.SessionLifetime <= 0 || cfg.SessionMaxAge <= 0 || cfg.SessionRefresh <= 0:
		return cfg, fmt.Errorf("session durations must be positive")
	case cfg.SessionRefresh >= cfg.SessionLifetime:
		return cfg, fmt.Errorf("--session-refresh (%s) must be shorter than --session-lifetime (%s)", cfg.SessionRefresh, cfg.SessionLifetime)
	}
	return cfg, nil
}

// maskURL hides the password of a database URL or key/value string for
// printing.
func maskURL(dsn string) string {
	if dsn == "" {
		return "(embedded default)"
	}
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	fields := strings.Fields(dsn)
	for i, f := range fields {
		if strings.HasPrefix(f, "password=") {
			fields[i] = "password=xxxxx"
		}
	}
	return strings.Join(fields, " ")
}
