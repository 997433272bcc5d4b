package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"aistat"
	"aistat/handlers"
	"aistat/internal/live"
	"aistat/internal/mail"
	"aistat/internal/postgres"
	// The tests of this package call a running server a site.
	assembly "aistat/internal/site"
	"aistat/sessions"
)

// Config is everything the serve command is configured with: flags, each
// with an environment fallback.
type Config struct {
	Addr        string
	DatabaseURL string
	DataDir     string
	Demo        bool
	// BaseURL is the site's public URL, scheme and host, from which every
	// absolute link is built (handlers.ParseBaseURL); without --base-url it
	// is http:// and Addr.
	BaseURL string
	// SecureCookies defaults to on when BaseURL is https.
	SecureCookies bool
	// RequireSecondFactorForAdmins defaults to on when BaseURL is https.
	RequireSecondFactorForAdmins bool
	SessionLifetime              time.Duration
	SessionMaxAge                time.Duration
	SessionRefresh               time.Duration
	// AdminSessionLifetime and AdminSessionMaxAge are the shorter limits
	// of admins' sessions.
	AdminSessionLifetime time.Duration
	AdminSessionMaxAge   time.Duration
	// ShortSessionLifetime is the idle timeout of a session signed in
	// without "Keep me signed in".
	ShortSessionLifetime time.Duration
	ListenDatabaseURL    string
	TrustedProxies       []netip.Prefix
	MaxStreamsPerUser    int
	MaxStreams           int
	CleanupInterval      time.Duration
	DBMaxConns           int
	// MetricsAddr is where /metrics is served, on a listener of its own;
	// empty serves no metrics.
	MetricsAddr string
	// Pprof serves Go's profiles under /debug/pprof/ on the metrics
	// listener; it needs MetricsAddr.
	Pprof bool
	// DefaultLocale is the language of a reader who chose none and whose
	// browser asks for none the site speaks.
	DefaultLocale aistat.Locale
	// TimeZone is the IANA name of the zone dates are shown in for users
	// who chose none, and for visitors.
	TimeZone string
	// SMTPURL is where mail is sent; empty prints it to the log.
	SMTPURL string
	// MailFrom is the sender of the site's mail.
	MailFrom string
}

// envFlags binds flags to a flag set with defaults taken from the
// environment. An environment value that does not parse is remembered
// rather than reported at once, since a flag given on the command line
// replaces it.
type envFlags struct {
	fs     *flag.FlagSet
	getenv func(string) string
	envs   map[string]string // flag name → its environment variable
	errs   map[string]error  // flag name → why its environment value is bad
}

func (e *envFlags) env(name, env string) (string, bool) {
	if e.envs == nil {
		e.envs, e.errs = map[string]string{}, map[string]error{}
	}
	e.envs[name] = env
	v := e.getenv(env)
	return v, v != ""
}

func (e *envFlags) string(p *string, name, env, def, usage string) {
	if v, ok := e.env(name, env); ok {
		def = v
	}
	e.fs.StringVar(p, name, def, usage+" (env "+env+")")
}

func (e *envFlags) bool(p *bool, name, env string, def bool, usage string) {
	if v, ok := e.env(name, env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.errs[name] = fmt.Errorf("%s=%q: want true or false", env, v)
		}
		def = b
	}
	e.fs.BoolVar(p, name, def, usage+" (env "+env+")")
}

// textBool is a flag that reads as a boolean on the command line (a bare
// --demo means true) but keeps its text, so that "not given" can differ
// from false and a bad value can be reported naming its source.
type textBool struct{ p *string }

func (b textBool) String() string {
	if b.p == nil {
		return ""
	}
	return *b.p
}

func (b textBool) Set(v string) error { *b.p = v; return nil }

// IsBoolFlag lets the flag be given without a value.
func (textBool) IsBoolFlag() bool { return true }

// optionalBool binds a boolean flag whose default depends on other
// settings: p stays "" unless the flag or its environment variable is given.
func (e *envFlags) optionalBool(p *string, name, env, usage string) {
	if v, ok := e.env(name, env); ok {
		*p = v
	}
	e.fs.Var(textBool{p}, name, usage+" (env "+env+")")
}

// optionalValue is the value of the optionalBool name, given as value
// ("" when not given): def when not given.
func (e *envFlags) optionalValue(name, value string, def bool) (bool, error) {
	if value == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(value)
	if err != nil {
		return def, fmt.Errorf("%s=%q: want true or false", e.source(name), value)
	}
	return b, nil
}

func (e *envFlags) int(p *int, name, env string, def int, usage string) {
	if v, ok := e.env(name, env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.errs[name] = fmt.Errorf("%s=%q: want a whole number", env, v)
		}
		def = n
	}
	e.fs.IntVar(p, name, def, usage+" (env "+env+")")
}

func (e *envFlags) duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := e.env(name, env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.errs[name] = fmt.Errorf("%s=%q: want a duration like 336h", env, v)
		}
		def = d
	}
	e.fs.DurationVar(p, name, def, usage+" (env "+env+")")
}

// parse parses args and then reports the first bad environment value, in
// the order the flags were defined, that no flag replaced.
func (e *envFlags) parse(args []string) error {
	if err := e.fs.Parse(args); err != nil {
		return err
	}
	set := e.set()
	var err error
	e.fs.VisitAll(func(f *flag.Flag) {
		if bad := e.errs[f.Name]; err == nil && bad != nil && !set[f.Name] {
			err = bad
		}
	})
	return err
}

// set lists the flags given on the command line.
func (e *envFlags) set() map[string]bool {
	set := map[string]bool{}
	e.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// source names where a flag's value came from, for error messages: the
// command line or its environment variable.
func (e *envFlags) source(name string) string {
	if e.set()[name] {
		return "--" + name
	}
	return e.envs[name]
}

// parseConfig reads the serve command's flags and environment. --demo
// defaults to on for the embedded database and off for DATABASE_URL.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("aistat serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs, getenv: getenv}
	var proxies, demo, baseURL, secureCookies, requireFactor, defaultLocale string
	e.string(&cfg.Addr, "addr", "AISTAT_ADDR", "127.0.0.1:8080", "address to listen on")
	e.string(&cfg.DatabaseURL, "database-url", "DATABASE_URL", "", "PostgreSQL URL; empty runs the embedded default database")
	e.string(&cfg.DataDir, "data-dir", "AISTAT_DATA_DIR", "./.data", "folder of the embedded default database")
	e.optionalBool(&demo, "demo", "AISTAT_DEMO", "create the demo users when missing (default: on for the embedded database)")
	e.string(&baseURL, "base-url", "AISTAT_BASE_URL", "", "public URL of the site, e.g. https://ai-stat.ru, from which links such as password reset links are built (default: http:// and --addr)")
	e.optionalBool(&secureCookies, "secure-cookies", "AISTAT_SECURE_COOKIES", "Secure, __Host- cookies and HSTS (default: on when --base-url is https)")
	e.optionalBool(&requireFactor, "require-2fa-for-admins", "AISTAT_REQUIRE_2FA_FOR_ADMINS", "send admins without a second factor to set one up before the admin pages open (default: on when --base-url is https)")
	def := assembly.DefaultConfig()
	e.duration(&cfg.SessionLifetime, "session-lifetime", "AISTAT_SESSION_LIFETIME", def.Sessions.Lifetime, "idle timeout of a session")
	e.duration(&cfg.SessionMaxAge, "session-max-age", "AISTAT_SESSION_MAX_AGE", def.Sessions.MaxAge, "absolute lifetime of a session")
	e.duration(&cfg.SessionRefresh, "session-refresh", "AISTAT_SESSION_REFRESH", def.Sessions.Refresh, "how often a session's expiry may be written")
	e.duration(&cfg.AdminSessionLifetime, "admin-session-lifetime", "AISTAT_ADMIN_SESSION_LIFETIME", def.Sessions.AdminLifetime, "idle timeout of an admin's session")
	e.duration(&cfg.AdminSessionMaxAge, "admin-session-max-age", "AISTAT_ADMIN_SESSION_MAX_AGE", def.Sessions.AdminMaxAge, "absolute lifetime of an admin's session")
	e.duration(&cfg.ShortSessionLifetime, "short-session-lifetime", "AISTAT_SHORT_SESSION_LIFETIME", def.Sessions.ShortLifetime, "idle timeout of a session signed in without \"Keep me signed in\"")
	e.string(&cfg.ListenDatabaseURL, "listen-database-url", "AISTAT_LISTEN_DATABASE_URL", "", "PostgreSQL URL for LISTEN (default: the database URL)")
	e.string(&proxies, "trusted-proxies", "AISTAT_TRUSTED_PROXIES", "", "comma-separated CIDRs whose X-Forwarded-For is believed")
	e.int(&cfg.MaxStreamsPerUser, "max-streams-per-user", "AISTAT_MAX_STREAMS_PER_USER", def.Live.MaxStreamsPerUser, "open live-event streams one user may hold on this instance")
	e.int(&cfg.MaxStreams, "max-streams", "AISTAT_MAX_STREAMS", def.Live.MaxStreams, "open live-event streams on this instance")
	e.int(&cfg.DBMaxConns, "db-max-conns", "AISTAT_DB_MAX_CONNS", def.MaxConns, "connections the pool may open to PostgreSQL (default: four per core)")
	e.duration(&cfg.CleanupInterval, "cleanup-interval", "AISTAT_CLEANUP_INTERVAL", def.CleanupInterval, "how often expired sessions are deleted")
	e.string(&cfg.MetricsAddr, "metrics-addr", "AISTAT_METRICS_ADDR", "", "address to serve Prometheus metrics on at /metrics, e.g. 127.0.0.1:9090 (default: none)")
	e.bool(&cfg.Pprof, "pprof", "AISTAT_PPROF", false, "also serve Go's profiles under /debug/pprof/ on the metrics listener, which asks for no login")
	e.string(&defaultLocale, "default-locale", "AISTAT_DEFAULT_LOCALE", string(def.DefaultLocale), "language of readers who chose none and whose browser asks for none the site speaks: ru or en")
	e.string(&cfg.TimeZone, "time-zone", "AISTAT_TIME_ZONE", def.TimeZone, "IANA time zone dates are shown in for users who chose none")
	e.string(&cfg.SMTPURL, "smtp-url", "AISTAT_SMTP_URL", "", "SMTP server for the site's mail: smtp://user:password@host:587 (STARTTLS) or smtps://…:465 (implicit TLS); pass it in the environment, it holds a password (default: none, mails are printed to the log)")
	e.string(&cfg.MailFrom, "mail-from", "AISTAT_MAIL_FROM", "", "sender address of the site's mail (default: noreply@ and the host of --base-url)")
	if err := e.parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.Demo = cfg.DatabaseURL == ""
	if demo != "" {
		b, err := strconv.ParseBool(demo)
		if err != nil {
			return cfg, fmt.Errorf("%s=%q: want true or false", e.source("demo"), demo)
		}
		cfg.Demo = b
	}
	if baseURL == "" {
		u, err := handlers.ParseBaseURL(addrURL(cfg.Addr))
		if err != nil {
			return cfg, fmt.Errorf("--base-url is needed: %s=%q gives no URL of the site (%v)", e.source("addr"), cfg.Addr, err)
		}
		cfg.BaseURL = u
	} else {
		u, err := handlers.ParseBaseURL(baseURL)
		if err != nil {
			if strings.Contains(baseURL, "@") {
				// It may hold a password: name the flag, not the value.
				return cfg, fmt.Errorf("%s: %v", e.source("base-url"), err)
			}
			return cfg, fmt.Errorf("%s=%q: %v", e.source("base-url"), baseURL, err)
		}
		cfg.BaseURL = u
	}
	// A site whose public address is https is served over HTTPS, whatever
	// terminates it: its cookies must not travel in clear. An explicit
	// false still wins, for a test set-up without TLS.
	https := strings.HasPrefix(cfg.BaseURL, "https://")
	var err error
	if cfg.SecureCookies, err = e.optionalValue("secure-cookies", secureCookies, https); err != nil {
		return cfg, err
	}
	// A site on the internet wants its admins' accounts behind more than
	// a password; make run, on http://, stays a quick try.
	if cfg.RequireSecondFactorForAdmins, err = e.optionalValue("require-2fa-for-admins", requireFactor, https); err != nil {
		return cfg, err
	}
	locale, ok := aistat.ParseLocale(defaultLocale)
	if !ok {
		return cfg, fmt.Errorf("%s=%q: want ru or en", e.source("default-locale"), defaultLocale)
	}
	cfg.DefaultLocale = locale
	if !aistat.ValidTimeZone(cfg.TimeZone) {
		return cfg, fmt.Errorf("%s=%q: want an IANA time zone such as Europe/Moscow", e.source("time-zone"), cfg.TimeZone)
	}
	if cfg.SMTPURL != "" {
		if _, err := mail.ParseSMTPURL(cfg.SMTPURL); err != nil {
			// The URL may hold a password: name the flag, not the value.
			return cfg, fmt.Errorf("%s: %v", e.source("smtp-url"), err)
		}
	}
	if a, err := netmail.ParseAddress(cfg.MailFrom); cfg.MailFrom != "" && (err != nil || a.Name != "") {
		return cfg, fmt.Errorf("%s=%q: want an address such as noreply@ai-stat.ru", e.source("mail-from"), cfg.MailFrom)
	}
	for p := range strings.SplitSeq(proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return cfg, fmt.Errorf("%s: %q is not a CIDR such as 10.0.0.0/8", e.source("trusted-proxies"), p)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, prefix)
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"session-lifetime", cfg.SessionLifetime},
		{"session-max-age", cfg.SessionMaxAge},
		{"session-refresh", cfg.SessionRefresh},
		{"admin-session-lifetime", cfg.AdminSessionLifetime},
		{"admin-session-max-age", cfg.AdminSessionMaxAge},
		{"short-session-lifetime", cfg.ShortSessionLifetime},
		{"cleanup-interval", cfg.CleanupInterval},
	} {
		if d.value <= 0 {
			return cfg, fmt.Errorf("%s=%s: must be positive", e.source(d.name), d.value)
		}
	}
	for _, n := range []struct {
		name  string
		value int
	}{
		{"max-streams-per-user", cfg.MaxStreamsPerUser},
		{"max-streams", cfg.MaxStreams},
		{"db-max-conns", cfg.DBMaxConns},
	} {
		if n.value <= 0 {
			return cfg, fmt.Errorf("%s=%d: must be positive", e.source(n.name), n.value)
		}
	}
	if cfg.Pprof && cfg.MetricsAddr == "" {
		// The profiles are served on the metrics listener only, never on the
		// site's: without one, the flag would silently do nothing.
		return cfg, fmt.Errorf("%s needs --metrics-addr: the profiles are served only on the metrics listener", e.source("pprof"))
	}
	if cfg.SessionRefresh >= cfg.SessionLifetime {
		return cfg, fmt.Errorf("--session-refresh (%s) must be shorter than --session-lifetime (%s)", cfg.SessionRefresh, cfg.SessionLifetime)
	}
	// An admin's session slides only at a refresh: one longer than its
	// idle timeout would end every admin session while in use.
	if cfg.SessionRefresh >= cfg.AdminSessionLifetime {
		return cfg, fmt.Errorf("--session-refresh (%s) must be shorter than --admin-session-lifetime (%s)", cfg.SessionRefresh, cfg.AdminSessionLifetime)
	}
	if cfg.SessionRefresh >= cfg.ShortSessionLifetime {
		return cfg, fmt.Errorf("--session-refresh (%s) must be shorter than --short-session-lifetime (%s)", cfg.SessionRefresh, cfg.ShortSessionLifetime)
	}
	return cfg, nil
}

// siteConfig is what the site is built from, on the database at dsn.
func (cfg Config) siteConfig(dsn string, logger *slog.Logger) assembly.Config {
	return assembly.Config{
		DSN:       dsn,
		ListenDSN: cfg.ListenDatabaseURL,
		MaxConns:  cfg.DBMaxConns,
		Sessions: sessions.Config{
			Lifetime:      cfg.SessionLifetime,
			MaxAge:        cfg.SessionMaxAge,
			Refresh:       cfg.SessionRefresh,
			AdminLifetime: cfg.AdminSessionLifetime,
			AdminMaxAge:   cfg.AdminSessionMaxAge,
			ShortLifetime: cfg.ShortSessionLifetime,
		},
		Live: live.Config{
			MaxStreamsPerUser: cfg.MaxStreamsPerUser,
			MaxStreams:        cfg.MaxStreams,
		},
		CleanupInterval: cfg.CleanupInterval,
		// The site serves pages while its LISTEN, which may go to another
		// server, is out of reach.
		NoReadyWait:    true,
		Logger:         logger,
		SecureCookies:  cfg.SecureCookies,
		BaseURL:        cfg.BaseURL,
		TrustedProxies: cfg.TrustedProxies,
		Profiles:       cfg.Pprof,

		RequireSecondFactorForAdmins: cfg.RequireSecondFactorForAdmins,
		DefaultLocale:                cfg.DefaultLocale,
		TimeZone:                     cfg.TimeZone,
		SMTPURL:                      cfg.SMTPURL,
		MailFrom:                     cfg.MailFrom,
	}
}

// addrURL is the site's URL as --addr gives it, the base URL when
// --base-url is not given: http:// and the address, an address with no host
// (":8080") or the loopback 127.0.0.1 (the default) read as localhost,
// the name it has for a browser: passkeys work for a site named by a
// domain, never by an IP address.
func addrURL(addr string) string {
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "" || host == "127.0.0.1") {
		addr = net.JoinHostPort("localhost", port)
	}
	return "http://" + addr
}

// masked replaces a password in printed connection strings.
const masked = "xxxxx"

// maskSMTPURL hides the password of an --smtp-url for printing.
func maskSMTPURL(raw string) string {
	if raw == "" {
		return "(none: mails are printed to the log)"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL hidden)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), masked)
	}
	return u.String()
}

// maskURL hides the password of a database URL or key/value string for
// printing. A string it cannot parse is hidden whole, since it cannot tell
// where a password in it would end.
func maskURL(dsn string) string {
	if dsn == "" {
		return "(embedded default)"
	}
	// lib/pq reads exactly these prefixes as URLs, everything else as
	// key/value pairs.
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// Go's URLs take no list of hosts with an IPv6 address or a
			// socket folder in it: shown as the host parameters it means.
			if hosts, herr := postgres.Hosts(dsn); herr == nil {
				u, err = url.Parse(hosts)
			}
		}
		if err != nil {
			return "(unparsable URL hidden)"
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), masked)
		}
		if q := u.Query(); q.Has("password") {
			q.Set("password", masked)
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	pairs, err := splitKeyValues(dsn)
	if err != nil {
		return "(unparsable connection string hidden)"
	}
	out := make([]string, len(pairs))
	for i, p := range pairs {
		if p.key == "password" {
			p.value = masked
		}
		if p.value == "" || strings.ContainsAny(p.value, " \t\r\n'\\") {
			p.value = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(p.value) + "'"
		}
		out[i] = p.key + "=" + p.value
	}
	return strings.Join(out, " ")
}

// keyValue is one setting of a key/value connection string.
type keyValue struct{ key, value string }

// splitKeyValues parses a key/value connection string the way libpq does:
// spaces around "=" are allowed, a value is either single-quoted or ends at
// white space, and a backslash escapes the next character in both.
func splitKeyValues(s string) ([]keyValue, error) {
	r := []rune(s)
	i := 0
	skipSpace := func() {
		for i < len(r) && unicode.IsSpace(r[i]) {
			i++
		}
	}
	var pairs []keyValue
	for {
		skipSpace()
		if i == len(r) {
			return pairs, nil
		}
		start := i
		for i < len(r) && !unicode.IsSpace(r[i]) && r[i] != '=' {
			i++
		}
		key := string(r[start:i])
		skipSpace()
		if i == len(r) || r[i] != '=' {
			return nil, fmt.Errorf("missing = after %q", key)
		}
		i++
		skipSpace()
		var value strings.Builder
		if i < len(r) && r[i] == '\'' {
			for i++; ; i++ {
				if i == len(r) {
					return nil, errors.New("unterminated quoted value")
				}
				if r[i] == '\\' && i+1 < len(r) {
					i++
				} else if r[i] == '\'' {
					i++
					break
				}
				value.WriteRune(r[i])
			}
		} else {
			for ; i < len(r) && !unicode.IsSpace(r[i]); i++ {
				if r[i] == '\\' && i+1 < len(r) {
					i++
				}
				value.WriteRune(r[i])
			}
		}
		pairs = append(pairs, keyValue{key: key, value: value.String()})
	}
}
